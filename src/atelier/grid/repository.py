"""Grid queries. The dispatch path (pop) is one statement; request reads are owner-scoped."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.grid.models import Attempt, GenerationRequest, Worker

# priority + one point per `aging` seconds waited: old low-priority work is never starved.
_EFFECTIVE_PRIORITY = "priority + extract(epoch FROM now() - created_at) / :aging"

_CLAIM = text(
    f"""
    WITH candidate AS (
        SELECT id FROM grid_requests
        WHERE state = 'queued'
          AND kind = ANY(:kinds)
          AND (model IS NULL OR model = ANY(:models))
          AND pixels <= :max_pixels
          AND duration_s <= :max_duration
          AND (NOT (CAST(:worker_id AS uuid) = ANY(excluded_workers))
               OR updated_at < now() - interval '30 seconds')
        ORDER BY {_EFFECTIVE_PRIORITY} DESC, created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE grid_requests r
        SET state = 'assigned', attempts = r.attempts + 1, current_attempt_id = :attempt_id,
            progress = 0, updated_at = now()
        FROM candidate WHERE r.id = candidate.id
        RETURNING r.id, r.kind, r.params, r.model, r.estimate_s
    ), lease AS (
        INSERT INTO grid_attempts (id, request_id, worker_id, state, leased_at, expires_at)
        SELECT :attempt_id, claimed.id, :worker_id, 'active', now(),
               now() + make_interval(secs => greatest(:min_ttl, claimed.estimate_s * :factor))
        FROM claimed
        RETURNING expires_at
    )
    SELECT claimed.kind, claimed.params, claimed.model, lease.expires_at
    FROM claimed, lease
    """,  # noqa: S608 - inlines only the constant _EFFECTIVE_PRIORITY
)


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


async def claim(
    session: AsyncSession,
    worker_id: uuid.UUID,
    attempt_id: uuid.UUID,
    caps: dict[str, Any],
    *,
    aging_s: int,
    min_ttl_s: int,
    lease_factor: float,
) -> Row[str, dict[str, Any], str | None, datetime] | None:
    result = await session.execute(
        _CLAIM,
        {
            "kinds": caps["kinds"],
            "models": caps["models"],
            "max_pixels": caps["max_pixels"],
            "max_duration": caps["max_duration_s"],
            "worker_id": worker_id,
            "attempt_id": attempt_id,
            "aging": aging_s,
            "min_ttl": min_ttl_s,
            "factor": lease_factor,
        },
    )
    return result.first()


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


async def queue_ahead(
    session: AsyncSession, request: GenerationRequest, aging_s: int
) -> tuple[int, float]:
    """How many queued requests of the same kind go first, and their estimated seconds."""
    mine = (
        f"{request.priority} + extract(epoch FROM now() - CAST(:created AS timestamptz)) / :aging"
    )
    row = (
        await session.execute(
            text(
                f"""
                SELECT count(*), coalesce(sum(estimate_s), 0) FROM grid_requests
                WHERE state = 'queued' AND kind = :kind AND id <> :id
                  AND ({_EFFECTIVE_PRIORITY} > {mine}
                       OR ({_EFFECTIVE_PRIORITY} = {mine} AND created_at < :created))
                """,  # noqa: S608 - inlines constant SQL; values are bound
            ),
            {
                "kind": request.kind,
                "id": request.id,
                "created": request.created_at,
                "aging": aging_s,
            },
        )
    ).one()
    return int(row[0]), float(row[1])


def live_capable_workers(spec_kind: str, model: str | None, pixels: int, duration_s: float,
                         offline_s: int) -> Any:  # fmt: skip
    """SELECT of active, recently seen workers able to run such a request."""
    statement = (
        select(func.count())
        .select_from(Worker)
        .where(
            Worker.state == "active",
            Worker.last_seen_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
            Worker.kinds.any(spec_kind),  # type: ignore[arg-type]
            Worker.max_pixels >= pixels,
            Worker.max_duration_s >= duration_s,
        )
    )
    if model is not None:
        statement = statement.where(Worker.models.any(model))  # type: ignore[arg-type]
    return statement


async def expired_attempts(session: AsyncSession, limit: int = 500) -> list[Row[Attempt, Worker]]:
    result = await session.execute(
        select(Attempt, Worker)
        .join(Worker, Worker.id == Attempt.worker_id)
        .where(Attempt.state == "active", Attempt.expires_at < func.now())
        .limit(limit)
        .with_for_update(of=Attempt, skip_locked=True)
    )
    return list(result.all())


async def mark_silent_workers_offline(session: AsyncSession, offline_s: int) -> int:
    result = await session.execute(
        update(Worker)
        .where(
            Worker.state == "active",
            Worker.last_seen_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, offline_s),
        )
        .values(state="offline")
        .returning(Worker.id)
    )
    return len(result.all())


async def long_impossible_requests(
    session: AsyncSession, timeout_s: int
) -> list[GenerationRequest]:
    rows = await session.scalars(
        select(GenerationRequest)
        .where(
            GenerationRequest.state == "queued",
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
        .where(GenerationRequest.state.in_(("queued", "assigned", "processing")))
        .group_by(GenerationRequest.state)
    )
    return {state: int(count) for state, count in rows.all()}
