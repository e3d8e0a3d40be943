"""Automation queries: rules by owner and by trigger, runs (the execution log)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.automation.models import Rule, Run, RunOutcome, TriggerKind
from atelier.identity.models import User

COUNTED = (RunOutcome.RUNNING, RunOutcome.DONE, RunOutcome.FAILED)


async def add_rule(session: AsyncSession, rule: Rule) -> Rule:
    session.add(rule)
    await session.flush()
    return rule


async def rule(
    session: AsyncSession, rule_id: uuid.UUID, owner_id: uuid.UUID | None = None
) -> Rule | None:
    """A rule; with `owner_id`, only if it is theirs (others' rules do not exist for them)."""
    query = select(Rule).where(Rule.id == rule_id)
    if owner_id is not None:
        query = query.where(Rule.owner_id == owner_id)
    return await session.scalar(query)


async def rules_of(session: AsyncSession, owner_id: uuid.UUID) -> list[Rule]:
    query = select(Rule).where(Rule.owner_id == owner_id).order_by(Rule.created_at.desc())
    return list(await session.scalars(query))


async def delete_rule(session: AsyncSession, found: Rule) -> None:
    await session.delete(found)


async def listening(
    session: AsyncSession,
    topic: str,
    *,
    everyone: bool,
    owners: list[uuid.UUID],
    roles: list[str],
) -> list[tuple[Rule, list[str]]]:
    """Enabled rules on an event topic whose owner may see the event (`everyone`: a public
    event; else owners named by its audience, or holding one of its roles), each with its
    owner's roles (enabled owners only). The audience is applied here, not after loading
    every rule on the topic: a user's event costs the rules of that user."""
    query = (
        select(Rule, User.roles)
        .join(User, User.id == Rule.owner_id)
        .where(
            Rule.trigger == TriggerKind.EVENT,
            Rule.topic == topic,
            Rule.enabled.is_(True),
            User.is_active.is_(True),
        )
    )
    if not everyone:
        query = query.where(or_(Rule.owner_id.in_(owners), User.roles.overlap(roles)))
    rows = await session.execute(query)
    return [(found, list(roles)) for found, roles in rows.tuples()]


async def scheduled(session: AsyncSession) -> list[Rule]:
    return list(
        await session.scalars(
            select(Rule)
            .where(Rule.trigger == TriggerKind.SCHEDULE, Rule.enabled.is_(True))
            .with_for_update(skip_locked=True)
        )
    )


async def runs_since(session: AsyncSession, rule_id: uuid.UUID, since: datetime) -> int:
    """How many times the rule acted (or is acting) since `since`."""
    count = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.rule_id == rule_id, Run.started_at >= since, Run.outcome.in_(COUNTED))
    )
    return int(count or 0)


async def add_run(session: AsyncSession, run: Run) -> bool:
    """Record a run once per (rule, trigger); False when that trigger fired it already."""
    values = {
        "id": run.id,
        "rule_id": run.rule_id,
        "trigger_key": run.trigger_key,
        "inputs": run.inputs,
        "chain": run.chain,
        "outcome": run.outcome,
        "results": run.results or [],
        "error": run.error,
        "finished_at": run.finished_at,
    }
    inserted = await session.scalar(
        insert(Run).values(**values).on_conflict_do_nothing().returning(Run.id)
    )
    return inserted is not None


async def run(session: AsyncSession, run_id: uuid.UUID, *, lock: bool = False) -> Run | None:
    query = select(Run).where(Run.id == run_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def runs_of(session: AsyncSession, rule_id: uuid.UUID, limit: int) -> list[Run]:
    query = select(Run).where(Run.rule_id == rule_id).order_by(Run.started_at.desc()).limit(limit)
    return list(await session.scalars(query))
