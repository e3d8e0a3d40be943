"""Engine queries: versions, aliases, the audit trail, experiments and their observations."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.engine.models import (
    Alias,
    BenchmarkJob,
    Experiment,
    ExperimentState,
    Look,
    ModelEvent,
    ModelVersion,
    Observation,
)

# pg_try_advisory_xact_lock's key for "an update check is running" (any constant, unique
# among the platform's advisory locks: ASCII "ENGUPDT")
UPDATE_CHECK_LOCK = 0x454E47555044_54


async def try_update_lock(session: AsyncSession) -> bool:
    """Take the update check's lock for this transaction; False while another holds it."""
    found = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": UPDATE_CHECK_LOCK}
    )
    return bool(found)


async def version(
    session: AsyncSession, model_id: str, *, for_update: bool = False
) -> ModelVersion | None:
    statement = select(ModelVersion).where(ModelVersion.model_id == model_id)
    if for_update:
        statement = statement.with_for_update()
    return await session.scalar(statement)


async def versions(session: AsyncSession) -> list[ModelVersion]:
    statement = select(ModelVersion).order_by(ModelVersion.capability, ModelVersion.created_at)
    return list((await session.scalars(statement)).all())


async def known_model_ids(session: AsyncSession) -> set[str]:
    return set((await session.scalars(select(ModelVersion.model_id))).all())


async def aliases(session: AsyncSession) -> list[Alias]:
    return list((await session.scalars(select(Alias))).all())


async def alias(session: AsyncSession, capability: str, name: str) -> str | None:
    found = await session.get(Alias, (capability, name))
    return None if found is None else found.model_id


async def set_alias(session: AsyncSession, capability: str, name: str, model_id: str) -> None:
    statement = insert(Alias).values(capability=capability, alias=name, model_id=model_id)
    statement = statement.on_conflict_do_update(
        index_elements=[Alias.capability, Alias.alias],
        set_={"model_id": statement.excluded.model_id, "updated_at": func.now()},
    )
    await session.execute(statement)


async def drop_alias(session: AsyncSession, capability: str, name: str) -> None:
    found = await session.get(Alias, (capability, name))
    if found is not None:
        await session.delete(found)
        await session.flush()


async def last_champion_change(session: AsyncSession, capability: str) -> ModelEvent | None:
    statement = (
        select(ModelEvent)
        .where(ModelEvent.capability == capability, ModelEvent.action.in_(("champion", "rollback")))
        .order_by(ModelEvent.id.desc())
        .limit(1)
    )
    return await session.scalar(statement)


async def recent_events(session: AsyncSession, limit: int) -> list[ModelEvent]:
    statement = select(ModelEvent).order_by(ModelEvent.id.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def last_event_at(session: AsyncSession, action: str) -> datetime | None:
    return await session.scalar(select(func.max(ModelEvent.at)).where(ModelEvent.action == action))


async def experiment(
    session: AsyncSession, experiment_id: uuid.UUID, *, for_update: bool = False
) -> Experiment | None:
    return await session.get(Experiment, experiment_id, with_for_update=for_update)


async def running_experiment(session: AsyncSession, capability: str) -> Experiment | None:
    statement = select(Experiment).where(
        Experiment.capability == capability, Experiment.state == ExperimentState.RUNNING
    )
    return await session.scalar(statement)


async def experiments(session: AsyncSession, limit: int) -> list[Experiment]:
    statement = select(Experiment).order_by(Experiment.started_at.desc()).limit(limit)
    return list((await session.scalars(statement)).all())


async def expired_experiments(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    statement = select(Experiment.id).where(
        Experiment.state == ExperimentState.RUNNING, Experiment.ends_at <= now
    )
    return list((await session.scalars(statement)).all())


async def add_observation(
    session: AsyncSession,
    experiment_id: uuid.UUID,
    request_id: uuid.UUID,
    arm: str,
    reward: float,
    failed: bool,
    compute_s: float | None,
) -> bool:
    """Record a job's outcome once: False when it was already recorded."""
    statement = (
        insert(Observation)
        .values(
            experiment_id=experiment_id,
            request_id=request_id,
            arm=arm,
            reward=reward,
            failed=failed,
            compute_s=compute_s,
        )
        .on_conflict_do_nothing(index_elements=[Observation.request_id])
        .returning(Observation.id)
    )
    return (await session.scalar(statement)) is not None


async def arm_totals(
    session: AsyncSession, experiment_id: uuid.UUID
) -> dict[str, tuple[int, float, int, float | None]]:
    """Per arm: (jobs, sum of rewards, failures, mean compute seconds)."""
    statement = (
        select(
            Observation.arm,
            func.count(),
            func.coalesce(func.sum(Observation.reward), 0.0),
            func.count().filter(Observation.failed),
            func.avg(Observation.compute_s),
        )
        .where(Observation.experiment_id == experiment_id)
        .group_by(Observation.arm)
    )
    rows = (await session.execute(statement)).tuples().all()
    return {
        arm: (int(n), float(s), int(f), None if c is None else float(c)) for arm, n, s, f, c in rows
    }


async def looks(session: AsyncSession, experiment_ids: list[uuid.UUID]) -> list[Look]:
    statement = (
        select(Look)
        .where(Look.experiment_id.in_(experiment_ids))
        .order_by(Look.experiment_id, Look.id)
    )
    return list((await session.scalars(statement)).all())


async def benchmark_jobs(session: AsyncSession, run_key: str) -> list[BenchmarkJob]:
    statement = (
        select(BenchmarkJob)
        .where(BenchmarkJob.run_key == run_key)
        .order_by(BenchmarkJob.model_id, BenchmarkJob.case_index)
    )
    return list((await session.scalars(statement)).all())


async def benchmark_run_of(session: AsyncSession, request_id: uuid.UUID) -> str | None:
    """The benchmark (its candidate's model id) a grid job belongs to."""
    statement = select(BenchmarkJob.run_key).where(BenchmarkJob.request_id == request_id)
    return await session.scalar(statement.limit(1))
