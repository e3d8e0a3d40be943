"""Where the lamports of a sale go: a pure function, exact to the lamport.

price → platform fee (`market_fee_bps` of the price, to the reserve) → sponsor's share (its
agreement's basis points, when one applies) → royalties (the collection's seller fee basis
points, shared among its creators by their shares) → the seller, who gets what is left.
On a primary sale (the NFT's first), Metaplex's convention: the creators share everything
after the fee and the sponsor, as royalties do later.

Every division rounds down and the lamports it leaves are handed out by largest remainder
(ties to the earlier creator), so the parts always sum to the price exactly.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from atelier.chain.solana.programs import MAX_LAMPORTS

BPS = 10_000


class SplitError(ValueError):
    pass


@dataclass(frozen=True)
class Payout:
    address: str
    lamports: int
    role: str  # "fee" | "sponsor" | "royalty" | "seller"
    ref: str | None = None  # the sponsorship a sponsor's payout comes from


@dataclass(frozen=True)
class Split:
    price: int
    fee: int
    sponsor: int
    royalties: int
    seller_proceeds: int
    payouts: list[Payout]

    @classmethod
    def of_payouts(cls, payouts: list[dict[str, object]]) -> Split:
        """The split a built transaction carried, from its stored payouts."""
        parts = [
            Payout(
                str(p["address"]),
                int(str(p["lamports"])),
                str(p["role"]),
                None if p.get("ref") is None else str(p["ref"]),
            )
            for p in payouts
        ]

        def total(role: str) -> int:
            return sum(p.lamports for p in parts if p.role == role)

        price = sum(p.lamports for p in parts)
        return cls(price, total("fee"), total("sponsor"), total("royalty"), total("seller"), parts)

    def stored(self) -> list[dict[str, object]]:
        return [
            {"address": p.address, "lamports": p.lamports, "role": p.role}
            | ({"ref": p.ref} if p.ref else {})
            for p in self.payouts
        ]

    @property
    def sponsorship(self) -> str | None:
        return next((p.ref for p in self.payouts if p.role == "sponsor"), None)

    def transfers(self) -> list[tuple[str, int]]:
        """One transfer per address (a creator who sells is paid once), amounts above 0, in
        the order each address first appears."""
        merged: dict[str, int] = defaultdict(int)
        for payout in self.payouts:
            merged[payout.address] += payout.lamports
        return [(address, amount) for address, amount in merged.items() if amount > 0]


def shares_of(total: int, weights: list[int]) -> list[int]:
    """`total` split by `weights`, rounded down, the leftover lamports by largest remainder."""
    whole = sum(weights)
    if whole <= 0:
        raise SplitError("the weights sum to nothing")
    parts = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for index in remainders[: total - sum(parts)]:
        parts[index] += 1
    return parts


def split_sale(
    price: int,
    *,
    seller: str,
    reserve: str,
    fee_bps: int,
    royalty_bps: int,
    creators: list[tuple[str, int]],
    primary: bool,
    sponsor: tuple[str, int, str] | None = None,
) -> Split:
    """`sponsor`: (address, basis points, the agreement's id) when one applies."""
    if not 0 < price <= MAX_LAMPORTS:
        raise SplitError(f"a price is between 1 and {MAX_LAMPORTS} lamports")
    if creators and sum(share for _, share in creators) != 100:
        raise SplitError("creator shares sum to 100")
    sponsor_bps = sponsor[1] if sponsor else 0
    for name, bps in (("fee", fee_bps), ("royalty", royalty_bps), ("sponsor", sponsor_bps)):
        if not 0 <= bps <= BPS:
            raise SplitError(f"the {name} is between 0 and 10000 basis points")
    if fee_bps + sponsor_bps + (0 if primary else royalty_bps) > BPS:
        raise SplitError("fee, sponsor share and royalties come to more than the price")
    fee = price * fee_bps // BPS
    sponsored = price * sponsor_bps // BPS
    after = price - fee - sponsored
    royalty_pool = after if primary and creators else price * royalty_bps // BPS
    if not creators:
        royalty_pool = 0
    payouts = [Payout(reserve, fee, "fee")]
    if sponsor is not None:
        payouts.append(Payout(sponsor[0], sponsored, "sponsor", sponsor[2]))
    royalties = shares_of(royalty_pool, [share for _, share in creators]) if creators else []
    payouts += [
        Payout(address, amount, "royalty")
        for (address, _), amount in zip(creators, royalties, strict=True)
    ]
    proceeds = after - royalty_pool
    payouts.append(Payout(seller, proceeds, "seller"))
    assert sum(p.lamports for p in payouts) == price
    return Split(price, fee, sponsored, royalty_pool, proceeds, payouts)
