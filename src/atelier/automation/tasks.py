"""Automation in the task workers: each followable event fires the rules listening to it
(once per event: the run is keyed by rule and event id), and every minute the scheduled
rules whose time has come."""

from __future__ import annotations

from procrastinate import Blueprint
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.automation import flows, service, triggers
from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.events import Event
from atelier.core.runtime import current_runtime
from atelier.core.transactions import unit_of_work

blueprint = Blueprint()


async def fire(session: AsyncSession, event: Event) -> None:
    delivering = events.delivering()
    key = f"event:{delivering.id}" if delivering is not None else f"event:{event.topic}"
    chain = list(delivering.cause or []) if delivering is not None else []
    fired = await service.fire_for_event(
        session, event.topic, event.model_dump(mode="json"), event.audience(), key, chain
    )
    await flows.start(session, fired)


for _topic, _event in triggers.TRIGGERS.items():
    events.subscribe(_event, name=f"automation.on_{_topic.replace('.', '_')}")(fire)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="schedules", queueing_lock="automation_schedules")
async def schedules(timestamp: int | None = None) -> int:
    async with unit_of_work(current_runtime()) as session:
        fired = await service.fire_schedules(session, now_utc())
        await flows.start(session, fired)
    return len(fired)
