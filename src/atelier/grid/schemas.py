"""Request and response bodies of the grid API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from atelier.core.schemas import Body
from atelier.grid.states import RequestState, WorkerState

if TYPE_CHECKING:  # the worker's client imports this module: no database, no provenance
    from atelier.grid.models import Artifact, GenerationRequest, Worker
    from atelier.provenance.service import Delivery

Kind = Literal["image", "music", "speech", "video", "render", "3d"]


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


@dataclass(frozen=True)
class Status:
    """A request as its creator sees it. `state` is the request's, except that a result still
    being signed is `signing`: a job is `done` for its creator when the file to download (the
    signed copy, or the original if signing failed) exists."""

    request: GenerationRequest
    state: str
    queue_position: int | None
    eta_s: float | None
    artifact: Artifact | None
    is_possible: bool
    provenance: dict[str, Any] | None
    delivery: Delivery | None
    moderation: dict[str, Any] | None = None


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
    moderation: dict[str, Any] | None = Field(
        default=None, description="Set when moderators hid the result: why, and any appeal"
    )

    @classmethod
    def of(cls, view: Status, base: str) -> StatusOut:
        """`base`: the route family the job was submitted under (its URLs are built on it)."""
        request = view.request
        result = None
        done = view.state == RequestState.DONE
        if view.artifact is not None:
            artifact, delivered = view.artifact, view.delivery
            assert delivered is not None
            signed = delivered.state == "signed"
            result = {
                "artifact_id": str(artifact.id),
                # the file you download: the signed copy (the accepted original if signing failed)
                "sha256": delivered.sha256 if signed else (artifact.sha256 if done else None),
                "cid": delivered.cid if signed else None,
                "size_bytes": delivered.size_bytes if signed else artifact.size_bytes,
                "mime": artifact.mime,
                "width": artifact.width,
                "height": artifact.height,
                "duration_s": artifact.duration_s,
                "model": artifact.model,
                "signing": delivered.state,
                "manifest_url": f"{base}/{request.id}/manifest" if delivered.sidecar_key else None,
                "provenance": view.provenance,
            }
        reason = request.fault_reason
        if request.state == RequestState.QUEUED and not view.is_possible:
            reason = request.impossible_reason or "no live worker can run this job right now"
        if view.delivery is not None and view.delivery.state == "failed":
            reason = f"the result could not be signed ({view.delivery.error}); it is unsigned"
        return cls(
            id=request.id,
            job_id=request.id,
            kind=request.kind,
            state=view.state,
            status=view.state,
            queue_position=view.queue_position,
            eta_s=round(view.eta_s, 1) if view.eta_s is not None else None,
            progress=round(request.progress, 1),
            attempts=request.attempts,
            is_possible=view.is_possible,
            reason=reason,
            result_url=f"{base}/{request.id}/result" if done else None,
            created_at=request.created_at,
            updated_at=request.updated_at,
            finished_at=request.finished_at,
            moderation=view.moderation,
            params=request.params,
            result=result,
        )


class BackendCaps(Body):
    """One backend of a worker: what it runs (`/api/capabilities` lists them)."""

    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9._:@-]+$")
    kinds: list[Kind] = Field(min_length=1)
    models: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=50
    )


class Capabilities(Body):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")
    kinds: list[Kind] = Field(min_length=1)
    models: list[str] = Field(default_factory=list, max_length=50)
    max_pixels: int = Field(default=4096 * 4096, ge=0)
    max_duration_s: float = Field(default=600.0, ge=0)
    version: str | None = Field(default=None, max_length=50)
    backends: list[BackendCaps] = Field(default_factory=list, max_length=20)


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
    canaries_passed: int = Field(
        default=0, description="canary jobs whose output matched the platform's"
    )
    canaries_failed: int = 0
    canary_failure: str | None = Field(default=None, description="why the last canary failed")

    @classmethod
    def of(cls, worker: Worker) -> WorkerOut:
        return cls.model_validate(worker)


@dataclass(frozen=True)
class Cluster:
    """The grid now: its workers, its open requests by state, and its throughput."""

    workers: list[Worker]
    open_by_state: dict[str, int]
    done_last_hour: int


class ClusterOut(BaseModel):
    workers: list[WorkerOut]
    active: int
    queued: int
    in_progress: int
    done_last_hour: int = Field(default=0, description="jobs finished in the last hour")

    @classmethod
    def of(cls, cluster: Cluster) -> ClusterOut:
        counts = cluster.open_by_state
        return cls(
            workers=[WorkerOut.of(w) for w in cluster.workers],
            active=sum(1 for w in cluster.workers if w.state == WorkerState.ACTIVE),
            queued=counts.get(RequestState.QUEUED, 0),
            in_progress=counts.get(RequestState.ASSIGNED, 0)
            + counts.get(RequestState.PROCESSING, 0),
            done_last_hour=cluster.done_last_hour,
        )


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
