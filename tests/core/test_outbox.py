"""The outbox: events commit with their transaction, handlers run once, failures retry."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.events import OutboxDelivery
from atelier.core.runtime import Runtime
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
