"""Grid queries. The dispatch path (pop) is one statement; request reads are owner-scoped."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import Row, any_, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.db import HotConnection
from atelier.grid.models import (
    Artifact,
    Attempt,
    GenerationRequest,
    ModelRoute,
    Worker,
)
from atelier.grid.states import ACTIVE_STATES, AttemptState, RequestState, WorkerState

_POP = """
    WITH w AS (
        UPDATE grid_workers
        SET last_seen_at = now(),
            state = CASE WHEN state = 'maintenance' THEN 'maintenance' ELSE 'active' END,
            kinds = CAST(%(kinds)s AS varchar[]), models = CAST(%(models)s AS varchar[]),
            max_pixels = %(max_pixels)s, max_duration_s = %(max_duration_s)s, version = %(version)s,
            backends = %(backends)s
        WHERE owner_id = %(owner_id)s AND name = %(name)s
        RETURNING id, state, maintenance_reason
    ), candidate AS (
        SELECT r.id FROM grid_requests r, w
        WHERE w.state <> 'maintenance'
          AND r.state = 'queued'
          AND r.kind = ANY(CAST(%(kinds)s AS varchar[]))
          AND (r.model IS NULL OR r.model = ANY(CAST(%(models)s AS varchar[])))
          AND r.pixels <= %(max_pixels)s
          AND r.duration_s <= %(max_duration_s)s
          AND (r.only_worker IS NULL OR r.only_worker = w.id)
          AND (NOT (w.id = ANY(r.excluded_workers))
               OR r.updated_at < now() - interval '30 seconds')
        ORDER BY r.queue_key DESC
        LIMIT 1
        FOR UPDATE OF r SKIP LOCKED
    ), claimed AS (
        UPDATE grid_requests r
        SET state = 'assigned', attempts = r.attempts + 1, current_attempt_id = %(attempt_id)s,
            progress = 0, updated_at = now()
        FROM candidate WHERE r.id = candidate.id
        RETURNING r.id, r.kind, r.params, r.model, r.estimate_s, r.user_id, r.canary
    ), announced AS (
        -- grid.events.JobChanged, for the owner's live pages (core/realtime.py)
        INSERT INTO outbox_events (topic, payload, audience)
        SELECT 'grid.job_changed',
               jsonb_build_object('request_id', claimed.id, 'owner_id', claimed.user_id,
                                  'kind', claimed.kind, 'state', 'assigned', 'progress', 0.0),
               ARRAY['user:' || claimed.user_id::text]::varchar[]
        FROM claimed WHERE NOT claimed.canary
    ), lease AS (
        INSERT INTO grid_attempts (id, request_id, worker_id, state, leased_at, expires_at)
        SELECT %(attempt_id)s, claimed.id, w.id, 'active', now(),
               now() + make_interval(secs => greatest(%(min_ttl)s, claimed.estimate_s * %(factor)s))
        FROM claimed, w
        RETURNING expires_at
    )
    SELECT w.id, w.state, w.maintenance_reason,
           claimed.kind, claimed.params, claimed.model, lease.expires_at
    FROM w LEFT JOIN claimed ON true LEFT JOIN lease ON true
    """


async def pop(
    conn: HotConnection,
    owner_id: uuid.UUID,
    attempt_id: uuid.UUID,
    caps: dict[str, Any],
    *,
    min_ttl_s: float,
    lease_factor: float,
) -> tuple[Any, ...] | None:
    """Heartbeat, capability refresh and claim in one statement (one round trip).

    Returns (worker id, worker state, maintenance reason, kind, params, model, expires_at),
    the last four None when nothing was claimed; None if the worker is not registered yet.
    A worker in maintenance claims nothing.
    """
    values = {
        "owner_id": owner_id,
        "attempt_id": attempt_id,
        "min_ttl": min_ttl_s,
        "factor": lease_factor,
        **caps,
        "backends": Jsonb(caps.get("backends") or []),
    }
    cursor = await conn.execute(_POP, values)
    return await cursor.fetchone()


# One advisory lock per owner (key: a hash of the owner id, in our own key space) serialises
# that owner's worker registrations, so a count-then-insert cannot overshoot the cap.
_REGISTRATION_LOCK_SPACE = 7301
_LOCK_OWNER = (
    "SELECT pg_advisory_xact_lock(hashtextextended(%(owner_id)s::text, "
    f"{_REGISTRATION_LOCK_SPACE}))"
)
_LIVE_WORKERS = """
    SELECT count(*) FROM grid_workers
    WHERE owner_id = %(owner_id)s AND state <> 'retired' AND name <> %(name)s
"""


async def register_worker(
    conn: HotConnection, owner_id: uuid.UUID, caps: dict[str, Any], max_workers: int
) -> bool:
    """First contact of a worker that has not called /register: create it (once), unless its
    owner already runs `max_workers` others. False when refused for that reason. The owner's
    registrations are serialised by an advisory lock, so concurrent ones cannot overshoot."""
    values = {"owner_id": owner_id, **caps}
    async with conn.transaction():
        await conn.execute(_LOCK_OWNER, values)
        cursor = await conn.execute(_LIVE_WORKERS, values)
        row = await cursor.fetchone()
        if row is not None and int(row[0]) >= max_workers:
            return False
        await conn.execute(
            """
            INSERT INTO grid_workers (id, owner_id, name, kinds, models, max_pixels,
                                      max_duration_s, version)
            VALUES (gen_random_uuid(), %(owner_id)s, %(name)s, %(kinds)s, %(models)s,
                    %(max_pixels)s, %(max_duration_s)s, %(version)s)
            ON CONFLICT ON CONSTRAINT uq_grid_workers_owner_name DO NOTHING
            """,
            values,
        )
    return True


async def live_workers_besides(session: AsyncSession, owner_id: uuid.UUID, name: str) -> int:
    """How many workers the owner runs (not retired) other than `name`, counted under the
    owner's registration lock (taken here, held to the end of the transaction)."""
    key = func.hashtextextended(str(owner_id), _REGISTRATION_LOCK_SPACE)
    await session.execute(select(func.pg_advisory_xact_lock(key)))
    count = await session.scalar(
        select(func.count())
        .select_from(Worker)
        .where(
            Worker.owner_id == owner_id, Worker.state != WorkerState.RETIRED, Worker.name != name
        )
    )
    return int(count or 0)


async def upsert_worker(
    session: AsyncSession, owner_id: uuid.UUID, caps: dict[str, Any]
) -> Row[uuid.UUID, str, str | None]:
    """Register or refresh a worker by (owner, name); also its heartbeat. A retired or
    offline worker that calls again is active again; maintenance stays until lifted."""
    values = {"owner_id": owner_id, **caps}
    base = insert(Worker).values(**values)
    statement = base.on_conflict_do_update(
        constraint="uq_grid_workers_owner_name",
        set_={
            **{k: base.excluded[k] for k in caps if k != "name"},
            "last_seen_at": func.now(),
            "state": text(
                "CASE WHEN grid_workers.state = 'maintenance' THEN 'maintenance' ELSE 'active' END"
            ),
        },
    ).returning(Worker.id, Worker.state, Worker.maintenance_reason)
    return (await session.execute(statement)).one()


async def request_of(
    session: AsyncSession, owner_id: uuid.UUID | None, request_id: uuid.UUID, *, lock: bool = False
) -> GenerationRequest | None:
    """A request, scoped to its owner unless `owner_id` is None (server-side callers)."""
    statement = select(GenerationRequest).where(GenerationRequest.id == request_id)
    if owner_id is not None:
        statement = statement.where(GenerationRequest.user_id == owner_id)
    if lock:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def attempt_with_worker(
    session: AsyncSession, attempt_id: uuid.UUID, *, lock: bool = False
) -> Row[Attempt, Worker] | None:
    statement = (
        select(Attempt, Worker)
        .join(Worker, Worker.id == Attempt.worker_id)
        .where(Attempt.id == attempt_id)
    )
    if lock:
        statement = statement.with_for_update(of=Attempt)
    return (await session.execute(statement)).first()


async def queue_ahead(session: AsyncSession, request: GenerationRequest) -> tuple[int, float]:
    """How many queued requests of the same kind go first, and their estimated seconds."""
    row = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(GenerationRequest.estimate_s), 0.0)).where(
                GenerationRequest.state == RequestState.QUEUED,
                GenerationRequest.kind == request.kind,
                GenerationRequest.queue_key > request.queue_key,
            )
        )
    ).one()
    return int(row[0]), float(row[1])


async def queued_seconds_by_kind(session: AsyncSession) -> dict[str, float]:
    """The estimated seconds of the queued requests, per kind (canaries count: they run)."""
    rows = await session.execute(
        select(GenerationRequest.kind, func.sum(GenerationRequest.estimate_s))
        .where(GenerationRequest.state == RequestState.QUEUED)
        .group_by(GenerationRequest.kind)
    )
    return {kind: float(seconds or 0) for kind, seconds in rows.tuples()}


async def outcomes(
    session: AsyncSession, request_ids: list[uuid.UUID]
) -> list[tuple[uuid.UUID, str, str | None, str | None, str | None, float | None]]:
    """State, fault reason, accepted bytes (blob key, sha256) and the compute seconds
    credited for them, of each request."""
    statement = (
        select(
            GenerationRequest.id,
            GenerationRequest.state,
            GenerationRequest.fault_reason.label("reason"),
            Artifact.storage_key,
            Artifact.sha256,
            Artifact.compute_seconds,
        )
        .outerjoin(Artifact, Artifact.id == GenerationRequest.artifact_id)
        .where(GenerationRequest.id.in_(request_ids))
    )
    return list((await session.execute(statement)).tuples().all())


async def count_live_capable_workers(
    session: AsyncSession,
    spec_kind: str,
    model: str | None,
    pixels: int,
    duration_s: float,
    offline_s: int,
) -> int:
    """Active, recently seen workers able to run such a request."""
    statement = (
        select(func.count())
        .select_from(Worker)
        .where(
            Worker.state == WorkerState.ACTIVE,
            Worker.last_seen_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
            literal(spec_kind) == any_(Worker.kinds),
            Worker.max_pixels >= pixels,
            Worker.max_duration_s >= duration_s,
        )
    )
    if model is not None:
        statement = statement.where(literal(model) == any_(Worker.models))
    return int(await session.scalar(statement) or 0)


async def request(session: AsyncSession, request_id: uuid.UUID) -> GenerationRequest | None:
    return await session.get(GenerationRequest, request_id)


async def artifact(session: AsyncSession, artifact_id: uuid.UUID) -> Artifact | None:
    return await session.get(Artifact, artifact_id)


async def artifact_with_request(
    session: AsyncSession, artifact_id: uuid.UUID
) -> tuple[Artifact, GenerationRequest] | None:
    row = (
        await session.execute(
            select(Artifact, GenerationRequest)
            .join(GenerationRequest, GenerationRequest.id == Artifact.request_id)
            .where(Artifact.id == artifact_id)
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def artifacts_of_users(
    session: AsyncSession, user_ids: list[uuid.UUID], limit: int, hidden: Collection[uuid.UUID]
) -> list[tuple[Artifact, GenerationRequest]]:
    statement = (
        select(Artifact, GenerationRequest)
        .join(GenerationRequest, GenerationRequest.id == Artifact.request_id)
        .where(GenerationRequest.user_id.in_(user_ids), GenerationRequest.source != "film-assembly")
        .order_by(Artifact.created_at.desc())
        .limit(limit)
    )
    if hidden:
        statement = statement.where(Artifact.id.not_in(hidden))
    rows = await session.execute(statement)
    return [(a, r) for a, r in rows.tuples().all()]


async def requests_of_artifacts(
    session: AsyncSession, artifact_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    if not artifact_ids:
        return set()
    query = select(Artifact.request_id).where(Artifact.id.in_(artifact_ids))
    return set(await session.scalars(query))


async def worker(
    session: AsyncSession, worker_id: uuid.UUID, *, for_update: bool = False, fresh: bool = False
) -> Worker | None:
    """A worker by id; `fresh` reloads a row a statement just changed behind the ORM."""
    return await session.get(
        Worker, worker_id, with_for_update=for_update, populate_existing=fresh or for_update
    )


async def expired_attempts(session: AsyncSession, limit: int = 500) -> list[Row[Attempt, Worker]]:
    result = await session.execute(
        select(Attempt, Worker)
        .join(Worker, Worker.id == Attempt.worker_id)
        .where(Attempt.state == AttemptState.ACTIVE, Attempt.expires_at < func.now())
        .limit(limit)
        .with_for_update(of=Attempt, skip_locked=True)
    )
    return list(result.all())


async def mark_silent_workers_offline(session: AsyncSession, offline_s: int) -> int:
    result = await session.execute(
        update(Worker)
        .where(
            Worker.state == WorkerState.ACTIVE,
            Worker.last_seen_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
        )
        .values(state=WorkerState.OFFLINE)
        .returning(Worker.id)
    )
    return len(result.all())


async def long_impossible_requests(
    session: AsyncSession, timeout_s: int
) -> list[GenerationRequest]:
    rows = await session.scalars(
        select(GenerationRequest)
        .where(
            GenerationRequest.state == RequestState.QUEUED,
            GenerationRequest.created_at
            < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, timeout_s),
        )
        .with_for_update(skip_locked=True)
        .limit(500)
    )
    return list(rows)


async def counts_by_state(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(GenerationRequest.state, func.count())
        .where(
            GenerationRequest.state.in_(
                (RequestState.QUEUED, RequestState.ASSIGNED, RequestState.PROCESSING)
            )
        )
        .group_by(GenerationRequest.state)
    )
    return {state: int(count) for state, count in rows.all()}


async def done_since(session: AsyncSession, since: datetime) -> int:
    """Requests finished (done) since `since`: the grid's throughput."""
    count = await session.scalar(
        select(func.count())
        .select_from(GenerationRequest)
        .where(GenerationRequest.state == RequestState.DONE, GenerationRequest.finished_at >= since)
    )
    return int(count or 0)


async def worker_named(session: AsyncSession, owner_id: uuid.UUID, name: str) -> Worker | None:
    return await session.scalar(
        select(Worker).where(Worker.owner_id == owner_id, Worker.name == name)
    )


async def listed_workers(session: AsyncSession) -> list[Worker]:
    """Every worker but the retired ones, oldest first (the public cluster view)."""
    rows = await session.scalars(
        select(Worker).where(Worker.state != WorkerState.RETIRED).order_by(Worker.created_at)
    )
    return list(rows)


async def active_attempts_of(session: AsyncSession, worker_id: uuid.UUID) -> list[Attempt]:
    rows = await session.scalars(
        select(Attempt).where(Attempt.worker_id == worker_id, Attempt.state == AttemptState.ACTIVE)
    )
    return list(rows)


async def end_attempt(
    session: AsyncSession, attempt_id: uuid.UUID, state: str, reason: str | None
) -> bool:
    """Close an active attempt; False if it was not active any more (the CAS lost)."""
    result = await session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.state == AttemptState.ACTIVE)
        .values(state=state, reason=reason, finished_at=func.now())
        .returning(Attempt.id)
    )
    return result.first() is not None


async def requests_of(
    session: AsyncSession, user_id: uuid.UUID, limit: int, before: datetime | None
) -> list[GenerationRequest]:
    """A user's requests, newest first, created before `before` (a page's cursor)."""
    statement = select(GenerationRequest).where(GenerationRequest.user_id == user_id)
    if before is not None:
        statement = statement.where(GenerationRequest.created_at < before)
    rows = await session.scalars(
        statement.order_by(GenerationRequest.created_at.desc()).limit(limit)
    )
    return list(rows)


async def newest_done(
    session: AsyncSession, user_id: uuid.UUID, kind: str, **params: str
) -> GenerationRequest | None:
    """A user's most recently finished request of `kind` whose parameters include `params`."""
    statement = select(GenerationRequest).where(
        GenerationRequest.user_id == user_id,
        GenerationRequest.kind == kind,
        GenerationRequest.state == RequestState.DONE,
    )
    for key, value in params.items():
        statement = statement.where(GenerationRequest.params[key].astext == value)
    return await session.scalar(statement.order_by(GenerationRequest.finished_at.desc()).limit(1))


async def canary_due_workers(
    session: AsyncSession, model: str, first: int, offline_s: int
) -> list[Worker]:
    """Live, active workers offering `model` for images that are due a canary (fewer than
    `first` so far, or their jobs have reached `canary_due_at`) and have none open."""
    open_canary = (
        select(GenerationRequest.id)
        .where(
            GenerationRequest.only_worker == Worker.id,
            GenerationRequest.canary.is_(True),
            GenerationRequest.state.in_([RequestState.QUEUED, *ACTIVE_STATES]),
        )
        .exists()
    )
    statement = select(Worker).where(
        Worker.state == WorkerState.ACTIVE,
        Worker.last_seen_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
        literal("image") == any_(Worker.kinds),
        literal(model) == any_(Worker.models),
        (Worker.canaries_passed + Worker.canaries_failed < first)
        | (Worker.jobs_done >= Worker.canary_due_at),
        ~open_canary,
    )
    return list(await session.scalars(statement.limit(100)))


async def route(session: AsyncSession, kind: str) -> ModelRoute | None:
    return await session.get(ModelRoute, kind)


async def upsert_route(
    session: AsyncSession,
    kind: str,
    champion: str,
    challenger: str | None,
    experiment_id: uuid.UUID | None,
    challenger_share: float,
) -> None:
    values = {
        "kind": kind,
        "champion": champion,
        "challenger": challenger,
        "experiment_id": experiment_id,
        "challenger_share": challenger_share,
    }
    statement = insert(ModelRoute).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=[ModelRoute.kind],
        set_={
            **{k: statement.excluded[k] for k in values if k != "kind"},
            "updated_at": func.now(),
        },
    )
    await session.execute(statement)


async def live_workers(session: AsyncSession, offline_s: int) -> list[Worker]:
    statement = (
        select(Worker)
        .where(
            Worker.state == WorkerState.ACTIVE,
            Worker.last_seen_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
        )
        .order_by(Worker.name)
    )
    return list((await session.scalars(statement)).all())
