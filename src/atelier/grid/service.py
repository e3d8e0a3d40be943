"""The generation grid: requests, workers, leases, acceptance, sweeps.

State machine of a request:
    queued → assigned (leased to a worker) → processing (worker reported progress)
           → done (result accepted) | faulted (gave up, with the reason) | cancelled
An attempt is one lease. Its expiry, a rejected result or a release puts the request back in
the queue until `max_attempts` is reached. Every transition is a compare-and-set inside the
caller's transaction, so duplicate, late or concurrent callbacks get a clear 409 and nothing
is counted twice. Quota reservations are taken at submit, committed on done and released on
fault or cancel.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events, repository
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.db import HotConnection
from atelier.core.errors import Conflict, Forbidden, NotFound
from atelier.grid import canaries, routing
from atelier.grid import repository as repo
from atelier.grid.events import ArtifactAccepted, CanaryChecked, ImagePdq, JobChanged, JobEnded
from atelier.grid.models import (
    Artifact,
    Attempt,
    GenerationRequest,
    Worker,
)
from atelier.grid.schemas import Cluster, Status
from atelier.grid.specs import JobSpec, build_spec
from atelier.grid.states import (
    ACTIVE_STATES,
    TERMINAL_STATES,
    AttemptState,
    RequestState,
    WorkerState,
)
from atelier.grid.validation import Expectation, MediaInfo, duration_tolerance
from atelier.identity.principal import Principal
from atelier.identity.service import accounts, api_keys, quota, wallets
from atelier.moderation import service as moderation
from atelier.provenance import service as provenance
from atelier.provenance.signing import SIDECAR_MIME
from atelier.storage.media import MediaLimits, MediaRefused

_RANDOM = random.SystemRandom()

# -- submitting and following requests -------------------------------------------------------


async def submit(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    kind: str,
    fields: dict[str, Any],
    *,
    source: str,
    wallet: str | None = None,
    options: dict[str, Any] | None = None,
    priority: int = 0,
    charge_quota: bool = True,
    film_id: uuid.UUID | None = None,
) -> GenerationRequest:
    """Queue a request. `charge_quota` is False for work the platform does for the creator
    (a personalization the community approved, a film's shots), which their daily quota
    does not pay for. `film_id` ties the job to the film it is part of."""
    spec = build_spec(kind, fields)
    if wallet is not None:
        wallet = await wallets.callers_wallet(session, principal.user_id, wallet)
    request_id = uuid.uuid4()
    reservation_id = None
    if charge_quota:
        reservation = await quota.reserve(
            session, settings, principal.user_id, list(principal.roles), reference=str(request_id)
        )
        reservation_id = reservation.id
    spec, experiment_id, arm = await _routed(session, settings, spec, request_id)
    capable = await _capable_workers(
        session, settings, spec.kind, spec.model, spec.pixels, spec.duration_s
    )
    effective_priority = priority if principal.has_role("admin") else 0
    request = _request_of(
        settings,
        spec,
        id=request_id,
        user_id=principal.user_id,
        source=source,
        wallet=wallet,
        options=options or {},
        priority=effective_priority,
        quota_reservation_id=reservation_id,
        is_possible=bool(capable),
        impossible_reason=None if capable else _impossible_reason(spec),
        film_id=film_id,
        experiment_id=experiment_id,
        arm=arm,
    )
    request = await repository.add(session, request, refresh=True)
    await _announce(session, request)
    return request


async def _announce(session: AsyncSession, request: GenerationRequest) -> None:
    """Tell the job's owner, live, where it is now (canaries have no owner to tell)."""
    if not request.canary:
        changed = JobChanged(
            request_id=request.id,
            owner_id=request.user_id,
            kind=request.kind,
            state=request.state,
            progress=request.progress,
        )
        await events.emit(session, changed)


async def _routed(
    session: AsyncSession, settings: Settings, spec: JobSpec, request_id: uuid.UUID
) -> tuple[JobSpec, uuid.UUID | None, str | None]:
    """The model a job that names none runs: its kind's route (the champion, or an A/B
    test's arm for this job), when a live worker offers that model; else any model, as
    before routes existed, so that a route never strands a job."""
    if spec.model is not None:
        return spec, None, None
    route = await repo.route(session, spec.kind)
    if route is None:
        return spec, None, None
    arm, model = routing.CHAMPION, route.champion
    if route.challenger is not None and route.experiment_id is not None:
        arm = routing.arm_for(request_id, route.experiment_id, route.challenger_share)
        model = route.challenger if arm == routing.CHALLENGER else route.champion
    chosen = replace(spec, model=model)
    if not await _capable_workers(
        session, settings, spec.kind, model, spec.pixels, spec.duration_s
    ):
        return spec, None, None
    in_test = route.experiment_id if route.challenger is not None else None
    return chosen, in_test, arm if in_test is not None else None


async def set_route(
    session: AsyncSession,
    kind: str,
    champion: str,
    *,
    challenger: str | None = None,
    experiment_id: uuid.UUID | None = None,
    challenger_share: float = 0.5,
) -> None:
    """Route `kind`'s jobs that name no model to `champion`, or split them with
    `challenger` for `experiment_id` (the engine's registry calls this)."""
    await repo.upsert_route(session, kind, champion, challenger, experiment_id, challenger_share)


async def live_workers(session: AsyncSession, settings: Settings) -> list[Worker]:
    """Active workers seen recently: what the grid can do right now."""
    return await repo.live_workers(session, settings.grid_worker_offline_s)


def _request_of(settings: Settings, spec: JobSpec, **fields: Any) -> GenerationRequest:
    """A queued request for `spec` (its place in the queue from its priority and now)."""
    priority = int(fields.pop("priority", 0))
    return GenerationRequest(
        kind=spec.kind,
        params=spec.params,
        model=spec.model,
        pixels=spec.pixels,
        duration_s=spec.duration_s,
        estimate_s=spec.estimate_s(),
        priority=priority,
        queue_key=priority * settings.grid_aging_s - now_utc().timestamp(),
        max_attempts=settings.grid_max_attempts,
        **fields,
    )


async def schedule_canaries(session: AsyncSession, settings: Settings) -> int:
    """A canary job for each live worker that is due one (new workers' first few, then at
    random intervals) and has none open; only that worker may claim it."""
    due = await repo.canary_due_workers(
        session, canaries.CANARY_MODEL, settings.grid_canaries_first, settings.grid_worker_offline_s
    )
    if not due:
        return 0
    account = await accounts.system_account(session, CANARY_EMAIL, ["creator"])
    made = 0
    for worker in due:
        fields = canaries.job_fields(_RANDOM, worker.max_pixels)
        if fields is None:
            continue
        spec = build_spec(str(fields.pop("kind")), fields)
        request = _request_of(
            settings, spec, user_id=account.id, source="canary", canary=True, only_worker=worker.id
        )
        await repository.add(session, request)
        made += 1
    return made


async def _capable_workers(
    session: AsyncSession,
    settings: Settings,
    kind: str,
    model: str | None,
    pixels: int,
    duration_s: float,
) -> int:
    """Live (recently seen, active) workers whose capabilities cover such a request."""
    return await repo.count_live_capable_workers(
        session, kind, model, pixels, duration_s, settings.grid_worker_offline_s
    )


async def _capable_workers_for(
    session: AsyncSession, settings: Settings, request: GenerationRequest
) -> int:
    return await _capable_workers(
        session, settings, request.kind, request.model, request.pixels, request.duration_s
    )


def _impossible_reason(spec: JobSpec) -> str:
    wants = f"{spec.kind}"
    if spec.model:
        wants += f" with model {spec.model}"
    if spec.pixels:
        wants += f" at {spec.params['width']}x{spec.params['height']}"
    if spec.duration_s:
        wants += f" of {spec.duration_s:g} s"
    return f"no live worker can run {wants} right now; it waits until one can, or faults"


async def status(
    session: AsyncSession, settings: Settings, principal: Principal, request_id: uuid.UUID
) -> Status:
    request = await _owned(session, principal, request_id)
    position: int | None = None
    eta: float | None = None
    possible = request.state != RequestState.FAULTED
    if request.state == RequestState.QUEUED:
        ahead, ahead_s = await repo.queue_ahead(session, request)
        workers = await _capable_workers_for(session, settings, request)
        position = ahead + 1
        possible = bool(workers)
        eta = (ahead_s / max(1, workers or 0)) + request.estimate_s if workers else None
    elif request.state in ACTIVE_STATES:
        position = 0
        eta = max(0.0, request.estimate_s * (1 - request.progress / 100))
    artifact = await repo.artifact(session, request.artifact_id) if request.artifact_id else None
    trail = None
    delivered = None
    state = request.state
    if artifact is not None:
        found = await provenance.trail_of(session, artifact.id)
        trail, delivered = found.summary, found.delivery
        if delivered.state == "signing":
            state = "signing"
    case = await moderation.case_for(session, "artifact", str(artifact.id)) if artifact else None
    moderated = None
    if case is not None and case.hidden:
        moderated = {
            "case_id": str(case.id),
            "reason": case.reason,
            "appeal": case.appeal,
            "resolution": case.resolution,
        }
    return Status(request, state, position, eta, artifact, possible, trail, delivered, moderated)


async def _owned(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, lock: bool = False
) -> GenerationRequest:
    owner = None if principal.has_role("admin") else principal.user_id
    request = await repo.request_of(session, owner, request_id, lock=lock)
    if request is None:
        raise NotFound("no such job", slug="job-not-found")
    return request


@dataclass(frozen=True)
class Download:
    storage_key: str
    mime: str
    format: str
    sha256: str
    manifest: str  # "embedded" | "sidecar" | "failed": how the file's provenance travels


async def result_of(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID, *, sidecar: bool = False
) -> Download:
    """The file to hand out: the C2PA-signed copy (or, with `sidecar`, its .c2pa manifest);
    the accepted original, marked as such, only if signing failed."""
    request = await _owned(session, principal, request_id)
    if request.state != RequestState.DONE or request.artifact_id is None:
        raise Conflict(f"the job is {request.state}; there is no result yet", slug="no-result")
    return await artifact_download(session, request.artifact_id, sidecar=sidecar)


async def artifact_download(
    session: AsyncSession, artifact_id: uuid.UUID, *, sidecar: bool = False
) -> Download:
    """An accepted artifact's file as it is handed out (the signed copy), whoever asks: the
    caller has decided they may have it (its job's owner; anyone, once it is a minted NFT)."""
    artifact = await repo.artifact(session, artifact_id)
    if artifact is None:
        raise NotFound("no such artifact", slug="artifact-not-found")
    delivered = (await provenance.trail_of(session, artifact.id)).delivery
    if delivered.state == "signing":
        raise Conflict(
            "the result is being signed; it is ready in a moment",
            slug="result-signing",
            headers={"Retry-After": "1"},
        )
    if sidecar:
        if delivered.sidecar_key is None:
            raise NotFound(
                f"a {artifact.format.upper()} result carries its manifest inside; "
                "there is no sidecar",
                slug="no-sidecar",
            )
        return Download(delivered.sidecar_key, SIDECAR_MIME, "c2pa", "", "sidecar")
    if delivered.storage_key is None or delivered.sha256 is None:
        return Download(
            artifact.storage_key, artifact.mime, artifact.format, artifact.sha256, "failed"
        )
    kind = "sidecar" if delivered.sidecar_key else "embedded"
    return Download(delivered.storage_key, artifact.mime, artifact.format, delivered.sha256, kind)


@dataclass(frozen=True)
class Made:
    """An accepted artifact with the job that made it: who, what kind, from what prompt."""

    artifact: Artifact
    request_id: uuid.UUID
    user_id: uuid.UUID
    kind: str
    prompt: str


def _made(artifact: Artifact, request: GenerationRequest) -> Made:
    prompt = request.params.get("prompt") or request.params.get("text") or ""
    return Made(artifact, request.id, request.user_id, request.kind, str(prompt)[:500])


async def made(session: AsyncSession, artifact_id: uuid.UUID) -> Made | None:
    found = await repo.artifact_with_request(session, artifact_id)
    return None if found is None else _made(*found)


async def made_by(session: AsyncSession, user_ids: list[uuid.UUID], limit: int = 200) -> list[Made]:
    """The newest accepted artifacts of these users' own jobs (a studio's assets), but
    those the moderators hid."""
    hidden = await _hidden_artifacts(session)
    found = await repo.artifacts_of_users(session, user_ids, limit, hidden)
    return [_made(a, r) for a, r in found]


async def _hidden_artifacts(session: AsyncSession) -> set[uuid.UUID]:
    return {uuid.UUID(a) for a in await moderation.all_hidden(session, "artifact")}


async def jobs_with_hidden_results(session: AsyncSession) -> set[uuid.UUID]:
    """Jobs whose result the moderators hid (their proposals leave the listings)."""
    return await repo.requests_of_artifacts(session, await _hidden_artifacts(session))


async def film_of(session: AsyncSession, job_id: uuid.UUID) -> uuid.UUID | None:
    """The film a job is part of (a shot, a line, the joined film), if any."""
    request = await repo.request(session, job_id)
    return request.film_id if request is not None else None


async def result_hidden(session: AsyncSession, job_id: uuid.UUID) -> bool:
    request = await repo.request(session, job_id)
    if request is None or request.artifact_id is None:
        return False
    return bool(await moderation.hidden(session, "artifact", [str(request.artifact_id)]))


async def cancel(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> GenerationRequest:
    request = await _owned(session, principal, request_id, lock=True)
    if request.state == RequestState.CANCELLED:
        return request
    if request.state in TERMINAL_STATES:
        raise Conflict(f"the job is already {request.state}", slug="job-finished")
    if request.current_attempt_id is not None:
        await repo.end_attempt(
            session, request.current_attempt_id, AttemptState.CANCELLED, "cancelled by its owner"
        )
    await _finish(session, request, RequestState.CANCELLED, "cancelled by its owner")
    return request


async def _finish(
    session: AsyncSession,
    request: GenerationRequest,
    state: str,
    reason: str | None,
    *,
    model: str | None = None,
    compute_s: float | None = None,
    quality: float | None = None,
) -> None:
    """End a request (`model`, `compute_s`, `quality`: what made a done job's accepted
    result, what it cost and scored), settle its quota, and say so with `JobEnded`
    (canaries excepted)."""
    request.state = state
    request.fault_reason = reason if state == RequestState.FAULTED else request.fault_reason
    request.finished_at = now_utc()
    request.updated_at = now_utc()
    request.current_attempt_id = None
    if request.quota_reservation_id is not None:
        if state == RequestState.DONE:
            await quota.commit(session, request.quota_reservation_id)
        else:
            await quota.release(session, request.quota_reservation_id)
    await _announce(session, request)
    if not request.canary:
        ended = JobEnded(
            request_id=request.id,
            kind=request.kind,
            state=state,
            source=request.source,
            model=model or request.model,
            experiment_id=request.experiment_id,
            arm=request.arm,
            compute_s=compute_s,
            quality=quality,
            reason=reason or (request.fault_reason if state != RequestState.DONE else None),
        )
        await events.emit(session, ended)


PLATFORM_ASSEMBLY = "film-assembly"  # the source of a film the platform joined itself


@dataclass(frozen=True)
class Outcome:
    """Where a job is, for the domain that asked for it: its state, and once done the
    accepted bytes (their blob key and sha256)."""

    state: str
    storage_key: str | None
    sha256: str | None
    reason: str | None
    compute_s: float | None = None

    @property
    def done(self) -> bool:
        return self.state == RequestState.DONE

    @property
    def ended(self) -> bool:
        """Done or not, it will not change any more."""
        return self.done or self.ended_without_result

    @property
    def ended_without_result(self) -> bool:
        return self.state in (RequestState.FAULTED, RequestState.CANCELLED)


async def outcomes(session: AsyncSession, request_ids: list[uuid.UUID]) -> dict[uuid.UUID, Outcome]:
    rows = await repo.outcomes(session, request_ids)
    return {
        request_id: Outcome(state, storage_key, sha256, reason, compute_s)
        for request_id, state, reason, storage_key, sha256, compute_s in rows
    }


@dataclass(frozen=True)
class Work:
    """Work of one kind to be queued: its estimated seconds and its largest job."""

    seconds: float
    pixels: int
    duration_s: float


async def eta_for(session: AsyncSession, settings: Settings, work: dict[str, Work]) -> float | None:
    """When work queued now would be done: per kind, the seconds already queued plus its
    own, shared among the live workers able to run its largest job; the slowest kind. None
    when no live worker can run some kind."""
    queued = await repo.queued_seconds_by_kind(session)
    slowest = 0.0
    for kind, wanted in work.items():
        workers = await _capable_workers(
            session, settings, kind, None, wanted.pixels, wanted.duration_s
        )
        if not workers:
            return None
        slowest = max(slowest, (queued.get(kind, 0.0) + wanted.seconds) / workers)
    return round(slowest, 1)


async def accept_platform_work(
    session: AsyncSession,
    media: MediaInfo,
    *,
    creator_id: uuid.UUID,
    film_id: uuid.UUID,
    prompt: str,
    model: str,
    sha256: str,
    storage_key: str,
) -> Artifact:
    """Accept a video the platform made itself from accepted artifacts (a film joined from
    its shots; `media` is the grid's validation of it): a done request and its artifact,
    with no worker and no lease, announced as `ArtifactAccepted` so that it is signed,
    fingerprinted and put to a vote like any result. It pays no worker (no work units)."""
    params: dict[str, Any] = {"format": media.format, "prompt": prompt, "width": media.width}
    params |= {"height": media.height, "duration_s": media.duration_s}
    request = GenerationRequest(
        kind="video",
        params=params,
        model=model,
        pixels=(media.width or 0) * (media.height or 0),
        duration_s=media.duration_s or 0.0,
        estimate_s=0.0,
        queue_key=0.0,  # never queued
        max_attempts=0,
        user_id=creator_id,
        source=PLATFORM_ASSEMBLY,
        film_id=film_id,
        state=RequestState.DONE,
        progress=100,
        finished_at=now_utc(),
    )
    await repository.add(session, request)
    artifact = _artifact_of(request, media, sha256, storage_key, model)
    await repository.add(session, artifact)
    request.artifact_id = artifact.id
    await events.emit(session, _accepted(request, artifact, media, accepted_at=now_utc()))
    return artifact


def _artifact_of(
    request: GenerationRequest,
    media: MediaInfo,
    sha256: str,
    storage_key: str,
    model: str,
    **lease: Any,
) -> Artifact:
    """The artifact of `request`'s accepted `media` (`lease`: the attempt and worker that
    made it, and the compute they are credited; none for platform work)."""
    return Artifact(
        request_id=request.id,
        sha256=sha256,
        storage_key=storage_key,
        mime=media.mime,
        format=media.format,
        size_bytes=media.size_bytes,
        width=media.width,
        height=media.height,
        duration_s=media.duration_s,
        model=model,
        **lease,
    )


def _accepted(
    request: GenerationRequest, artifact: Artifact, media: MediaInfo, **worker: Any
) -> ArtifactAccepted:
    """What the rest of the platform is told of an accepted artifact (`worker`: who made
    it, the work units and when; none for platform work)."""
    return ArtifactAccepted(
        artifact_id=artifact.id,
        request_id=request.id,
        kind=request.kind,
        sha256=artifact.sha256,
        mime=artifact.mime,
        format=artifact.format,
        storage_key=artifact.storage_key,
        model=artifact.model,
        creator_id=request.user_id,
        wallet=request.wallet,
        pdq=_pdq_out(media),
        source=request.source,
        **worker,
    )


async def history(
    session: AsyncSession, principal: Principal, limit: int, before: datetime | None = None
) -> list[GenerationRequest]:
    """The caller's jobs, newest first (`before`: the previous page's last `created_at`)."""
    return await repo.requests_of(session, principal.user_id, limit, before)


async def job_of(session: AsyncSession, job_id: uuid.UUID) -> GenerationRequest | None:
    """A job for another domain's reaction to its events (no caller to scope by)."""
    return await repo.request(session, job_id)


async def newest_track(
    session: AsyncSession, user_id: uuid.UUID, genre: str
) -> GenerationRequest | None:
    """The user's newest finished music job in `genre` (the music library's suggestion)."""
    return await repo.newest_done(session, user_id, "music", genre=genre)


# -- workers --------------------------------------------------------------------------------


def _caps(capabilities: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": capabilities["name"],
        "kinds": sorted(set(capabilities["kinds"])),
        "models": sorted(set(capabilities.get("models") or [])),
        "max_pixels": int(capabilities.get("max_pixels", 0)),
        "max_duration_s": float(capabilities.get("max_duration_s", 0)),
        "version": capabilities.get("version"),
        "backends": [
            {
                "name": b["name"],
                "kinds": sorted(set(b["kinds"])),
                "models": sorted(set(b["models"])),
            }
            for b in capabilities.get("backends") or []
        ],
    }


def _too_many_workers(settings: Settings) -> Conflict:
    return Conflict(
        f"an account runs at most {settings.grid_max_workers_per_account} workers; retire one "
        "(DELETE /api/v1/workers/{id}) or reuse a name",
        slug="too-many-workers",
    )


async def register_worker(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    capabilities: dict[str, Any],
) -> Worker:
    caps = _caps(capabilities)
    existing = await repo.worker_named(session, principal.user_id, caps["name"])
    if existing is None or existing.state == WorkerState.RETIRED:
        others = await repo.live_workers_besides(session, principal.user_id, caps["name"])
        if others >= settings.grid_max_workers_per_account:
            raise _too_many_workers(settings)
    row = await repo.upsert_worker(session, principal.user_id, caps)
    worker = await repo.worker(session, row[0], fresh=True)
    assert worker is not None
    return worker


async def heartbeat(session: AsyncSession, principal: Principal, name: str) -> Worker:
    worker = await _named_worker(session, principal, name)
    worker.last_seen_at = now_utc()
    if worker.state in (WorkerState.OFFLINE, WorkerState.RETIRED):
        worker.state = WorkerState.ACTIVE
    return worker


async def _named_worker(session: AsyncSession, principal: Principal, name: str) -> Worker:
    worker = await repo.worker_named(session, principal.user_id, name)
    if worker is None:
        raise NotFound(
            f"no worker named {name!r} on your account; register it first", slug="worker-not-found"
        )
    return worker


@dataclass(frozen=True)
class Lease:
    worker_id: uuid.UUID
    attempt_id: uuid.UUID | None
    kind: str | None = None
    params: dict[str, Any] | None = None
    model: str | None = None
    expires_at: datetime | None = None


async def pop(
    conn: HotConnection, settings: Settings, principal: Principal, capabilities: dict[str, Any]
) -> Lease:
    """Heartbeat + claim the best matching queued request.

    The hot path of the grid: one self-contained statement on an autocommit connection (a
    single statement is its own transaction), so a pop costs one round trip.
    """
    caps = _caps(capabilities)
    attempt_id = uuid.uuid4()
    ttl = {
        "min_ttl_s": float(settings.grid_lease_min_s),
        "lease_factor": settings.grid_lease_factor,
    }
    row = await repo.pop(conn, principal.user_id, attempt_id, caps, **ttl)
    if row is None:  # first contact: register, then ask again
        if not await repo.register_worker(
            conn, principal.user_id, caps, settings.grid_max_workers_per_account
        ):
            raise _too_many_workers(settings)
        row = await repo.pop(conn, principal.user_id, attempt_id, caps, **ttl)
        assert row is not None
    worker_id, state, reason, kind, params, model, expires_at = row
    if state == WorkerState.MAINTENANCE:
        raise Forbidden(
            f"this worker is in maintenance: {reason}; fix it, then POST "
            f"/api/v1/workers/{worker_id}/resume",
            slug="worker-in-maintenance",
        )
    if kind is None:
        return Lease(worker_id, None)
    return Lease(worker_id, attempt_id, kind, params, model, expires_at)


async def _workers_attempt(
    session: AsyncSession, principal: Principal, attempt_id: uuid.UUID
) -> tuple[Attempt, Worker, GenerationRequest]:
    row = await repo.attempt_with_worker(session, attempt_id, lock=True)
    if row is None or row[1].owner_id != principal.user_id:
        raise NotFound("no such job on your workers", slug="job-not-found")
    attempt, worker = row
    request = await repo.request_of(session, None, attempt.request_id, lock=True)
    assert request is not None
    return attempt, worker, request


def _require_active(attempt: Attempt, request: GenerationRequest) -> None:
    if attempt.state == AttemptState.ACTIVE and attempt.expires_at <= now_utc():
        raise Conflict(
            "the lease on this job expired; it has gone back to the queue", slug="lease-expired"
        )
    if attempt.state != AttemptState.ACTIVE:
        why = {
            AttemptState.ACCEPTED: "a result for this job was already accepted",
            AttemptState.REJECTED: "a result for this job was already rejected",
            AttemptState.EXPIRED: "the lease on this job expired; it has gone back to the queue",
            AttemptState.RELEASED: "this job was released",
            AttemptState.CANCELLED: "the job was cancelled by its owner",
        }[AttemptState(attempt.state)]
        raise Conflict(why, slug=f"job-{attempt.state}")
    if request.current_attempt_id != attempt.id or request.state not in ACTIVE_STATES:
        raise Conflict(f"the job is {request.state}", slug="job-not-active")


async def check_active(session: AsyncSession, principal: Principal, attempt_id: uuid.UUID) -> None:
    """Cheap pre-check before accepting an upload (the real check is the CAS at accept)."""
    attempt, _, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)


async def report_progress(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    attempt_id: uuid.UUID,
    progress: float,
) -> GenerationRequest:
    attempt, worker, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)
    moved = request.state != RequestState.PROCESSING or progress > request.progress
    request.state = RequestState.PROCESSING
    request.progress = max(request.progress, progress)
    request.updated_at = now_utc()
    worker.last_seen_at = now_utc()
    if moved:
        await _announce(session, request)
    return request


async def release(
    session: AsyncSession, principal: Principal, attempt_id: uuid.UUID, reason: str
) -> GenerationRequest:
    """A worker gives a job back (shutting down): back to the queue, no penalty."""
    attempt, _, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)
    await repo.end_attempt(session, attempt.id, AttemptState.RELEASED, reason)
    request.state = RequestState.QUEUED
    request.attempts = max(0, request.attempts - 1)
    request.current_attempt_id = None
    request.progress = 0
    request.updated_at = now_utc()
    await _announce(session, request)
    return request


async def reject(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    attempt_id: uuid.UUID,
    reason: str,
    *,
    worker_at_fault: bool = True,
) -> GenerationRequest:
    """The attempt failed: a result failed validation, or the worker could not do the job.
    The request retries elsewhere or faults. A failure the job itself caused (parameters no
    backend can use) does not count against the worker: no one's job can put it in
    maintenance. Nor does a failure of an A/B test's challenger: that is the model's, and
    the test counts it."""
    attempt, worker, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)
    await repo.end_attempt(session, attempt.id, AttemptState.REJECTED, reason)
    if worker_at_fault:
        worker.jobs_failed += 1
        if request.arm != routing.CHALLENGER:
            _count_failure(worker, settings, f"results rejected: {reason}")
    await _retry_or_fault(session, request, worker.id, f"result rejected: {reason}")
    return request


def _count_failure(worker: Worker, settings: Settings, what: str) -> None:
    worker.consecutive_failures += 1
    if (
        worker.consecutive_failures >= settings.grid_maintenance_after
        and worker.state != WorkerState.RETIRED
    ):
        worker.state = WorkerState.MAINTENANCE
        worker.maintenance_reason = (
            f"{worker.consecutive_failures} jobs in a row failed or were dropped (last: {what})"
        )


async def _retry_or_fault(
    session: AsyncSession, request: GenerationRequest, worker_id: uuid.UUID, reason: str
) -> None:
    request.excluded_workers = [*request.excluded_workers, worker_id]
    request.current_attempt_id = None
    request.progress = 0
    if request.attempts >= request.max_attempts:
        await _finish(
            session,
            request,
            RequestState.FAULTED,
            f"gave up after {request.attempts} attempts; last: {reason}",
        )
    else:
        request.state = RequestState.QUEUED
        request.fault_reason = reason  # the latest problem stays visible while it retries
        request.updated_at = now_utc()
        await _announce(session, request)


async def accept(
    session: AsyncSession,
    principal: Principal,
    attempt_id: uuid.UUID,
    media: MediaInfo,
    *,
    sha256: str,
    storage_key: str,
    compute_seconds: float,
    model: str,
    verdict: canaries.Verdict | None = None,
    canary_rate: float = 0.0,
) -> Artifact:
    """The compare-and-set that makes one result the result. Emits `ArtifactAccepted`; for
    a canary, `CanaryChecked` with the `verdict` instead (a canary is not published).

    MediaRefused when the model the worker reports is not one the job allows."""
    attempt, worker, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)
    model = _checked_model(request, worker, model)
    if not await repo.end_attempt(session, attempt.id, AttemptState.ACCEPTED, None):
        raise Conflict("a result for this job was already accepted", slug="job-accepted")
    wall_s = (now_utc() - attempt.leased_at).total_seconds()
    credited_s = max(0.0, min(compute_seconds, wall_s))  # a worker cannot claim more than it held
    artifact = _artifact_of(
        request,
        media,
        sha256,
        storage_key,
        model,
        attempt_id=attempt.id,
        worker_id=worker.id,
        compute_seconds=credited_s,
    )
    await repository.add(session, artifact)
    request.artifact_id = artifact.id
    request.progress = 100
    pdq = _pdq_out(media)
    quality = None if pdq is None else pdq.quality / 100
    await _finish(
        session,
        request,
        RequestState.DONE,
        None,
        model=model,
        compute_s=credited_s,
        quality=quality,
    )
    worker.jobs_done += 1
    worker.compute_seconds += credited_s
    worker.bytes_delivered += media.size_bytes
    worker.consecutive_failures = 0
    worker.last_seen_at = now_utc()
    if request.canary:
        await _judged(
            session, worker, verdict or canaries.Verdict(False, "not judged"), canary_rate
        )
        return artifact
    accepted = _accepted(
        request,
        artifact,
        media,
        worker_id=worker.id,
        worker_name=worker.name,
        worker_owner_id=worker.owner_id,
        work_units=round(request.estimate_s * 1000),
        accepted_at=worker.last_seen_at,
    )
    await events.emit(session, accepted)
    return artifact


async def _judged(
    session: AsyncSession, worker: Worker, verdict: canaries.Verdict, rate: float
) -> None:
    """A canary's verdict: counted on the worker; a failed one puts it in maintenance (its
    owner looks at the machine, then resumes it) and is told to the economy, which holds
    the worker's share."""
    worker.jobs_done -= 1  # a canary is not work done for anyone
    worker.canary_due_at = canaries.next_due(worker.jobs_done, rate, _RANDOM)
    if verdict.passed is None:
        return
    if verdict.passed:
        worker.canaries_passed += 1
    else:
        worker.canaries_failed += 1
        worker.canary_failure = verdict.reason
        worker.state = WorkerState.MAINTENANCE
        worker.maintenance_reason = verdict.reason
    await events.emit(
        session,
        CanaryChecked(
            worker_id=worker.id,
            worker_name=worker.name,
            worker_owner_id=worker.owner_id,
            passed=verdict.passed,
            reason=verdict.reason,
            checked_at=now_utc(),
        ),
    )


def _checked_model(request: GenerationRequest, worker: Worker, reported: str) -> str:
    """The model the worker says it ran: the one the job asked for, and one it offers."""
    if request.model is not None and reported != request.model:
        raise MediaRefused(f"the job asked for model {request.model}, the worker ran {reported}")
    if reported not in worker.models:
        raise MediaRefused(f"the worker ran {reported}, a model it does not offer")
    return reported


def expectation_for(settings: Settings, request: GenerationRequest) -> Expectation:
    """What a result must be for `request`: its format and size, within the platform's
    limits; music and video within `duration_tolerance` of their length."""
    platform = MediaLimits.of(settings)
    params = request.params
    target = request.duration_s if request.kind in ("music", "video") else None
    if target:
        longest = target + duration_tolerance(target) + 1
    elif request.kind == "speech":
        longest = request.duration_s + 5  # what the text can take, spoken slowly
    else:
        longest = platform.max_duration_s
    sized = request.kind in ("image", "render", "video")
    return Expectation(
        format=str(params["format"]),
        max_bytes=settings.grid_max_result_bytes,
        limits=replace(platform, max_duration_s=min(platform.max_duration_s, longest)),
        width=int(params["width"]) if sized else None,
        height=int(params["height"]) if sized else None,
        duration_s=target,
    )


def _pdq_out(media: MediaInfo) -> ImagePdq | None:
    if media.pdq is None:
        return None
    variants = [v.hex() for v in media.pdq.variants]
    return ImagePdq(hash=media.pdq.hex, quality=media.pdq.quality, variants=variants)


async def upload_context(
    session: AsyncSession, settings: Settings, principal: Principal, attempt_id: uuid.UUID
) -> tuple[Expectation, dict[str, Any] | None]:
    """What an upload for this active job must be, and the job's parameters if it is a
    canary (its result is then compared with the platform's own rendering)."""
    attempt, _, request = await _workers_attempt(session, principal, attempt_id)
    _require_active(attempt, request)
    return expectation_for(settings, request), (request.params if request.canary else None)


# -- cluster view and worker administration -------------------------------------------------


async def cluster(session: AsyncSession) -> Cluster:
    return Cluster(
        await repo.listed_workers(session),
        await repo.counts_by_state(session),
        await repo.done_since(session, now_utc() - timedelta(hours=1)),
    )


async def _worker_for_admin(
    session: AsyncSession, principal: Principal, worker_id: uuid.UUID
) -> Worker:
    worker = await repo.worker(session, worker_id, for_update=True)
    if worker is None or (worker.owner_id != principal.user_id and not principal.has_role("admin")):
        raise NotFound("no such worker on your account", slug="worker-not-found")
    return worker


async def retire_worker(session: AsyncSession, principal: Principal, worker_id: uuid.UUID) -> None:
    """Unregister: no more jobs; its leases go back to the queue. Stats are kept for payouts."""
    worker = await _worker_for_admin(session, principal, worker_id)
    worker.state = WorkerState.RETIRED
    for attempt in await repo.active_attempts_of(session, worker.id):
        request = await repo.request_of(session, None, attempt.request_id, lock=True)
        await repo.end_attempt(session, attempt.id, AttemptState.RELEASED, "worker unregistered")
        if request is not None and request.current_attempt_id == attempt.id:
            request.state = RequestState.QUEUED
            request.attempts = max(0, request.attempts - 1)
            request.current_attempt_id = None
            request.progress = 0


async def resume_worker(
    session: AsyncSession, principal: Principal, worker_id: uuid.UUID
) -> Worker:
    worker = await _worker_for_admin(session, principal, worker_id)
    if worker.state == WorkerState.MAINTENANCE:
        worker.state = WorkerState.ACTIVE
        worker.maintenance_reason = None
        worker.consecutive_failures = 0
        worker.canary_due_at = worker.jobs_done  # checked again at once
    return worker


# -- the local worker that `atelier up` runs ----------------------------------------------------

LOCAL_WORKER_EMAIL = "local-worker@atelier.localhost"
CANARY_EMAIL = "canaries@atelier.localhost"  # the platform's account that owns canary jobs


async def provision_local_worker(session: AsyncSession) -> str:
    """A fresh API key for the built-in worker's system account (kept in memory only).

    Earlier keys of that account are revoked, so a key from a previous run is worthless.
    """
    account = await accounts.system_account(session, LOCAL_WORKER_EMAIL, ["worker"])
    await api_keys.revoke_all_api_keys(session, account.id)
    _, raw = await api_keys.create_api_key(
        session, account.id, "atelier up local worker", scope="worker"
    )
    return raw


# -- the sweep --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepReport:
    expired: int
    faulted: int
    offline: int
    impossible: int


async def sweep(session: AsyncSession, settings: Settings) -> SweepReport:
    """Expire overdue leases, mark silent workers offline, fault requests no one can run."""
    expired = faulted = 0
    for attempt, worker in await repo.expired_attempts(session):
        request = await repo.request_of(session, None, attempt.request_id, lock=True)
        await repo.end_attempt(session, attempt.id, AttemptState.EXPIRED, "lease expired")
        worker.jobs_dropped += 1
        _count_failure(worker, settings, "a lease expired")
        expired += 1
        if request is not None and request.current_attempt_id == attempt.id:
            await _retry_or_fault(
                session,
                request,
                worker.id,
                f"worker {worker.name} did not deliver within the lease",
            )
            faulted += request.state == RequestState.FAULTED
    offline = await repo.mark_silent_workers_offline(session, settings.grid_worker_offline_s)
    await schedule_canaries(session, settings)
    impossible = 0
    for request in await repo.long_impossible_requests(session, settings.grid_impossible_timeout_s):
        capable = await _capable_workers_for(session, settings, request)
        if not capable:
            await _finish(
                session,
                request,
                RequestState.FAULTED,
                f"no live worker could run it within {settings.grid_impossible_timeout_s} s",
            )
            impossible += 1
    return SweepReport(expired, faulted, offline, impossible)
