"""The A/B split: which arm of an experiment a job falls in, from its id alone.

The same job always lands in the same arm (a retry runs the same model), every process
computes the same answer without asking anyone, and jobs spread over the arms as evenly as
SHA-256's output does. Different experiments split the same jobs independently.
"""

from __future__ import annotations

import hashlib
import uuid

CHAMPION = "champion"
CHALLENGER = "challenger"


def arm_for(request_id: uuid.UUID, experiment_id: uuid.UUID, challenger_share: float) -> str:
    digest = hashlib.sha256(experiment_id.bytes + request_id.bytes).digest()
    position = int.from_bytes(digest[:8], "big") / 2.0**64
    return CHALLENGER if position < challenger_share else CHAMPION
