"""The outbox: events commit with their transaction, handlers run once, failures retry."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.events import OutboxDelivery, OutboxEvent
from atelier.core.runtime import Runtime
from atelier.core.tasks import prune_outbox
from tests.helpers import drain_tasks

SEEN: list[int] = []
FAILURES = {"left": 0}


class Ping(events.Event, topic="tests.ping"):
    n: int


@events.subscribe(Ping, name="tests.record_ping")
async def record_ping(session: AsyncSession, event: Ping) -> None:
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("transient failure")
    SEEN.append(event.n)


async def test_rolled_back_events_are_never_seen(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        await session.begin()
        await events.emit(session, Ping(n=-1))
        await session.rollback()
    await drain_tasks(runtime)
    assert -1 not in SEEN


async def test_each_handler_runs_once_even_when_redelivered(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        event = await events.emit(session, Ping(n=1))
    await drain_tasks(runtime)
    assert SEEN.count(1) == 1
    # Redeliver by hand, as a crashed dispatcher would.
    await runtime.tasks.configure_task("core:handle_event").defer_async(
        event_id=event.id, handler="tests.record_ping"
    )
    await drain_tasks(runtime)
    assert SEEN.count(1) == 1
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.event_id == event.id)
        )
    assert count == 1


async def test_failed_handler_rolls_back_and_is_retried(runtime: Runtime) -> None:
    FAILURES["left"] = 1
    async with runtime.sessions() as session, session.begin():
        event = await events.emit(session, Ping(n=2))
    await drain_tasks(runtime)
    async with runtime.sessions() as session:
        assert await session.get(OutboxDelivery, (event.id, "tests.record_ping")) is None
    for _ in range(20):  # procrastinate schedules the retry a moment later
        await asyncio.sleep(0.5)
        await drain_tasks(runtime)
        if 2 in SEEN:
            break
    assert SEEN.count(2) == 1
    assert FAILURES["left"] == 0


async def test_old_dispatched_events_are_pruned_and_nothing_else(runtime: Runtime) -> None:
    """Past the keep window a dispatched event goes with its deliveries; one not dispatched
    yet stays whatever its age, and so do recent ones."""
    async with runtime.sessions() as session, session.begin():
        old = await events.emit(session, Ping(n=1001))
        stuck = await events.emit(session, Ping(n=1002))
        recent = await events.emit(session, Ping(n=1003))
    await drain_tasks(runtime)  # dispatched and delivered
    async with runtime.sessions() as session, session.begin():
        aged = func.now() - timedelta(days=30)
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id <= stuck.id)  # everything up to them: ids follow time
            .values(created_at=aged)
        )
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == stuck.id).values(dispatched_at=None)
        )
    assert await prune_outbox() >= 1
    async with runtime.sessions() as session:
        left = set(
            await session.scalars(
                select(OutboxEvent.id).where(OutboxEvent.id.in_([old.id, stuck.id, recent.id]))
            )
        )
        deliveries = await session.scalar(
            select(func.count())
            .select_from(OutboxDelivery)
            .where(OutboxDelivery.event_id == old.id)
        )
    assert left == {stuck.id, recent.id} and deliveries == 0
    async with runtime.sessions() as session, session.begin():  # not to be dispatched later
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.id == stuck.id).values(dispatched_at=func.now())
        )
