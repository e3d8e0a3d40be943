"""What the grid tells the rest of the platform."""

from __future__ import annotations

import uuid

from atelier.core.events import Event


class ArtifactAccepted(Event):
    """A worker's result passed every check and became its job's result: the accepted bytes
    are in the blob store under `storage_key` (provenance signs them; governance puts the
    job to a vote)."""

    artifact_id: uuid.UUID
    request_id: uuid.UUID
    kind: str
    sha256: str
    mime: str
    format: str
    storage_key: str
    model: str | None = None
    worker_id: uuid.UUID | None = None
    creator_id: uuid.UUID | None = None
    wallet: str | None = None
