"""What moderation tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class ContentModerated(Event):
    """An admin hid (or restored) a piece of content; its owner sees why, live."""

    case_id: uuid.UUID
    target_kind: str
    target_id: str
    owner_id: uuid.UUID | None = None
    hidden: bool
    reason: str

    def audience(self) -> tuple[str, ...]:
        return (f"user:{self.owner_id}",) if self.owner_id else ()
