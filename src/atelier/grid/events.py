"""What the grid tells the rest of the platform."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from atelier.core.events import Event


class ImagePdq(BaseModel):
    """The PDQ perceptual hash of an accepted image (hex, 256 bits), computed while the
    grid's validation had it decoded: its quality (0-100) and its 8 dihedral variants."""

    hash: str
    quality: int
    variants: list[str]


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
    worker_name: str | None = None
    worker_owner_id: uuid.UUID | None = None
    # the job's size in thousandths of a standard second (the grid's estimate from its
    # kind, pixels and length, the same whoever ran it): what the economy pays for
    work_units: int = 0
    accepted_at: datetime | None = None
    creator_id: uuid.UUID | None = None
    wallet: str | None = None
    pdq: ImagePdq | None = None  # PNG and JPEG results


class CanaryChecked(Event):
    """A worker's canary job (a job the platform can render itself) came back: its output
    matched the platform's own rendering (`passed`), or not, and why. The economy pays a new
    worker only after it has passed some, and holds a worker's share when one fails."""

    worker_id: uuid.UUID
    worker_name: str
    worker_owner_id: uuid.UUID | None = None
    passed: bool
    reason: str
    checked_at: datetime | None = None
