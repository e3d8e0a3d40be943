"""Workers' contributions, as the grid reports accepted work (decision 0017), and what the
economy knows of each worker's standing (first seen, canaries, a flag that holds its share)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import NotFound
from atelier.economy import months
from atelier.economy import repository as repo
from atelier.economy.models import WorkerStanding


@dataclass(frozen=True)
class Accepted:
    """One accepted job: who ran it and how big it was (work units, > 0)."""

    artifact_id: uuid.UUID
    worker_id: uuid.UUID
    worker_name: str
    owner_id: uuid.UUID | None
    kind: str
    units: int
    accepted_at: datetime


async def record(session: AsyncSession, accepted: Accepted) -> bool:
    """Count an accepted job once (False: already counted), in the month it was accepted in,
    or in the first open month when that one has closed meanwhile (a late event)."""
    await repo.lock_months(session, shared=True)
    closed = await repo.last_closed_month(session)
    month = months.of(accepted.accepted_at)
    if closed is not None and month <= closed:
        month = months.following(closed)
    await repo.note_worker(
        session, accepted.worker_id, accepted.worker_name, accepted.owner_id, accepted.accepted_at
    )
    return await repo.add_contribution(
        session,
        {
            "artifact_id": accepted.artifact_id,
            "worker_id": accepted.worker_id,
            "kind": accepted.kind,
            "units": accepted.units,
            "month": month,
            "accepted_at": accepted.accepted_at,
        },
    )


def hold_reason(settings: Settings, worker: WorkerStanding, at: datetime) -> str | None:
    """Why the worker's share goes to escrow rather than to its owner at `at`, or None.
    Escrow lasts until a new worker has passed N canary jobs and contributed for T days; a
    worker whose canary output did not match is held until an operator clears it."""
    if worker.flagged_reason:
        return f"held: {worker.flagged_reason}"
    needed = settings.economy_escrow_canaries
    if worker.canaries_passed < needed:
        return f"escrow: {worker.canaries_passed} of {needed} canary jobs passed"
    days = settings.economy_escrow_days
    if worker.first_seen_at + timedelta(days=days) > at:
        return f"escrow: contributing since {worker.first_seen_at.date()}, {days} days needed"
    return None


async def record_canary(
    session: AsyncSession,
    worker_id: uuid.UUID,
    worker_name: str,
    owner_id: uuid.UUID | None,
    passed: bool,
    reason: str,
    at: datetime,
) -> None:
    """A worker's canary verdict: a pass counts towards leaving escrow; a failure holds
    the worker's share until an operator clears it (`atelier economy workers clear`)."""
    await repo.note_worker(session, worker_id, worker_name, owner_id, at)
    await repo.count_canary(session, worker_id, passed, None if passed else reason)


async def clear_hold(session: AsyncSession, worker_id: uuid.UUID) -> WorkerStanding:
    """An operator looked into a flagged worker and clears the hold on its share."""
    worker = await repo.standing(session, worker_id)
    if worker is None:
        raise NotFound("the economy knows no such worker", slug="worker-not-found")
    worker.flagged_reason = None
    return worker


@dataclass(frozen=True)
class WorkerStats:
    worker: WorkerStanding
    units: int  # this open period's work units
    hold: str | None  # why its share would be held if the month closed now


async def stats(session: AsyncSession, settings: Settings) -> list[WorkerStats]:
    """Every worker the economy knows, with its open period's work and its standing."""
    now = now_utc()
    units = dict(
        await repo.units_by_worker(session, await repo.last_closed_month(session), months.of(now))
    )
    return [
        WorkerStats(w, units.get(w.worker_id, 0), hold_reason(settings, w, now))
        for w in await repo.standings(session)
    ]
