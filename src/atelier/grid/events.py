"""What the grid tells the rest of the platform."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from atelier.core.events import Event

BENCHMARK_SOURCE = "benchmark"  # a job's source when the engine measures a model with it


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
    # who asked: "obsidian"/"soulvan" (a creator's API call), "film", "engine", or
    # "benchmark" (the engine measuring a model, not a creator's work: not put to a vote)
    source: str | None = None


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


class JobEnded(Event):
    """A job reached an end (done, faulted or cancelled); canaries excepted. `experiment_id`
    and `arm` say which A/B test chose its model; `quality` is a no-reference score in [0, 1]
    of a done job's output where the grid measured one (an image's PDQ quality / 100)."""

    request_id: uuid.UUID
    kind: str
    state: str
    source: str
    model: str | None = None
    experiment_id: uuid.UUID | None = None
    arm: str | None = None
    compute_s: float | None = None
    quality: float | None = None
    reason: str | None = None


class JobChanged(Event):
    """A creator's job moved: queued, assigned, processing (with its progress in [0, 1]) or
    an end. Only its owner sees it, live, on the jobs pages (core/realtime.py)."""

    request_id: uuid.UUID
    owner_id: uuid.UUID
    kind: str
    state: str
    progress: float = 0.0

    def audience(self) -> tuple[str, ...]:
        return (f"user:{self.owner_id}",)
