"""What the studio tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class AgentProgressed(Event):
    """An agent run finished a step (or the whole run ended): its owner's page refreshes."""

    run_id: uuid.UUID
    owner_id: uuid.UUID
    step: str
    status: str

    def audience(self) -> tuple[str, ...]:
        return (f"user:{self.owner_id}",)
