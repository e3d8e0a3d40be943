"""What provenance tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class ArtifactSigned(Event):
    """The signing pipeline is through with an accepted artifact: its signed copy exists
    (`signed`), or signing failed for good. The job's creator sees it live: the job page
    shows the final result from then on."""

    artifact_id: uuid.UUID
    request_id: uuid.UUID
    creator_id: uuid.UUID | None = None
    signed: bool = True

    def audience(self) -> tuple[str, ...]:
        return (f"user:{self.creator_id}",) if self.creator_id else ()
