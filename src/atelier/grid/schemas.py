"""Request and response bodies of the grid API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from atelier.core.schemas import Body

Kind = Literal["image", "music", "speech", "video", "render"]


class GenerateIn(Body):
    """OBSIDIAN's generate request, widened to every kind (default: music)."""

    kind: Kind = "music"
    prompt: str = Field(min_length=1, max_length=2000)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    model: str | None = Field(default=None, max_length=100)
    format: str | None = Field(default=None, max_length=10)
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    bpm: int | None = Field(default=None, ge=1, le=100_000)  # range checked with the rest
    duration_s: float | None = Field(default=None, gt=0, le=100_000)
    genre: str | None = Field(default=None, max_length=40, pattern=r"^[a-z][a-z -]*$")
    voice: str | None = Field(default=None, max_length=40)
    text: str | None = Field(default=None, max_length=5000)
    fps: int | None = Field(default=None, ge=1, le=60)
    priority: int = Field(default=0, ge=0, le=100, description="honoured for admins only")
    wallet: str | None = Field(
        default=None,
        max_length=64,
        description="a wallet linked to your account, to sign the result",
    )


class RenderJobIn(Body):
    """Soulvan's render job: a scene and camera rendered to an image."""

    scene: str = Field(min_length=1, max_length=500)
    camera: str = Field(default="MainCamera", min_length=1, max_length=100)
    format: str = Field(default="PNG", max_length=10)
    wallet: str | None = Field(default=None, max_length=64)
    sign: bool = True
    clip_embed: bool = True
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


class StatusOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID = Field(description="The same id, under the Soulvan seed's name")
    kind: str
    state: str
    status: str = Field(description="Alias of state")
    queue_position: int | None
    eta_s: float | None
    progress: float
    attempts: int
    is_possible: bool
    reason: str | None = Field(description="Why the job faulted or cannot run")
    result_url: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    params: dict[str, Any]
    result: dict[str, Any] | None = None


class Capabilities(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    kinds: list[Kind] = Field(min_length=1)
    models: list[str] = Field(default_factory=list, max_length=50)
    max_pixels: int = Field(default=4096 * 4096, ge=0)
    max_duration_s: float = Field(default=600.0, ge=0)
    version: str | None = Field(default=None, max_length=50)


class HeartbeatIn(Body):
    name: str = Field(min_length=1, max_length=100)


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    kinds: list[str]
    models: list[str]
    max_pixels: int
    max_duration_s: float
    state: str
    maintenance_reason: str | None
    last_seen_at: datetime
    jobs_done: int
    jobs_failed: int
    jobs_dropped: int
    compute_seconds: float
    bytes_delivered: int


class ClusterOut(BaseModel):
    workers: list[WorkerOut]
    active: int
    queued: int
    in_progress: int


class JobPayload(BaseModel):
    """What a worker gets: a lease on one attempt at a job; no user, no wallet, no request
    id. The URLs act on the lease."""

    model_config = ConfigDict(populate_by_name=True)

    lease_id: uuid.UUID = Field(
        # an older server sends the lease's id as `job_id` only
        validation_alias=AliasChoices("lease_id", "job_id"),
        description="This lease (one attempt at a job)",
    )
    job_id: uuid.UUID | None = Field(
        default=None,
        deprecated="the lease's old name, sent until 2027-06-01: read lease_id",
        description="Deprecated: the same value as lease_id",
    )
    kind: str
    model: str | None
    params: dict[str, Any]
    expires_at: datetime
    ttl_s: float
    submit_url: str
    progress_url: str
    release_url: str


class PopOut(BaseModel):
    job: JobPayload | None
    worker_id: uuid.UUID
    retry_after_s: float = 2.0


class ProgressIn(Body):
    progress: float = Field(ge=0, le=100)


class ReleaseIn(Body):
    reason: str = Field(default="worker shutting down", max_length=500)
    failed: bool = Field(
        default=False, description="the worker could not do it (retried elsewhere, counted)"
    )
    cause: Literal["worker", "job"] = Field(
        default="worker",
        description="with failed: `job` when the job's parameters are unusable (not counted "
        "against the worker; the job still retries elsewhere, then faults)",
    )


class SubmitOut(BaseModel):
    accepted: bool
    artifact_id: uuid.UUID
    sha256: str
    size_bytes: int
    mime: str
