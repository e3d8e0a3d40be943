"""What governance tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class UpgradeApplied(Event):
    """The chain applied a proposal's upgrade (SoulvanUpgradeVoting's `UpgradeApplied`):
    the community approved it, with these weights, in this transaction."""

    proposal_id: uuid.UUID
    job_id: uuid.UUID | None = None
    approve: str  # token base units, as decimal text (they exceed 64 bits)
    reject: str
    tx_hash: str
