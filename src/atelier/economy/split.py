"""Splitting an amount of minor units by weights, exactly (Hamilton's largest remainder).

Each part first gets the floor of its exact share `total * weight / sum(weights)`; the cents
left over (fewer than the number of parts) go one each to the parts with the largest
remainders. Ties are broken by the larger weight, then by the earlier position: callers
order their parts by a stable key (a worker's id), so anyone holding the same inputs gets
the same cents (docs/transparency/recompute.py does it without importing Atelier). The parts
always sum to `total`, and no part is more than one cent from its exact share.
"""

from __future__ import annotations

from collections.abc import Sequence


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("a split is of a non-negative total by non-negative weights")
    whole = sum(weights)
    if whole == 0:
        raise ValueError("a split needs at least one positive weight")
    parts = [total * w // whole for w in weights]
    remainders = [total * w % whole for w in weights]
    left = total - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], -weights[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts
