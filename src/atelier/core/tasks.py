"""procrastinate: the PostgreSQL task queue behind every background job.

Each domain exposes a `Blueprint` in its `tasks.py`; the composition root adds them to one
`App` per process (`build_task_app`). This module also holds the core tasks: the outbox
dispatcher and event handler runner, and housekeeping.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import procrastinate
from procrastinate import exceptions as procrastinate_exceptions
from sqlalchemy import text

from atelier.core import events, idempotency
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()

DISPATCH_TASK = "core:dispatch_outbox"
HANDLE_TASK = "core:handle_event"


_task_app: Any = None


def build_task_app(conninfo: str, blueprints: Mapping[str, Any]) -> Any:
    """The process's procrastinate App, pointed at `conninfo`.

    procrastinate moves a blueprint's tasks into the first App they are added to, so there is
    one App per process; a later runtime (tests open one per module) swaps its connector.
    """
    global _task_app
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    if _task_app is None:
        _task_app = procrastinate.App(connector=connector)
        for namespace, bp in blueprints.items():
            _task_app.add_tasks_from(bp, namespace=namespace)
    else:
        _task_app.connector = connector
        _task_app.job_manager.connector = connector
    return _task_app


async def kick_dispatcher(task_app: Any) -> None:
    """Ask for a dispatch now instead of at the next periodic tick (best effort)."""
    with contextlib.suppress(procrastinate_exceptions.AlreadyEnqueued):
        await task_app.configure_task(DISPATCH_TASK, queueing_lock="dispatch_outbox").defer_async()


@blueprint.periodic(cron="* * * * * */5")
@blueprint.task(name="dispatch_outbox", queueing_lock="dispatch_outbox", pass_context=True)
async def dispatch_outbox(context: Any, timestamp: int | None = None) -> int:
    runtime = current_runtime()
    dispatched = 0
    while True:
        async with runtime.sessions() as session, session.begin():
            batch = await events.claim_undispatched(session)
            if not batch:
                return dispatched
            for event in batch:
                for sub in events.handlers_for(event.topic):
                    await context.app.configure_task(
                        HANDLE_TASK, lock=f"event:{event.id}:{sub.name}"
                    ).defer_async(event_id=event.id, handler=sub.name)
            await events.mark_dispatched(session, batch)
            dispatched += len(batch)


@blueprint.task(
    name="handle_event",
    retry=procrastinate.RetryStrategy(max_attempts=8, exponential_wait=2),
)
async def handle_event(event_id: int, handler: str) -> None:
    sub = events.subscription(handler)
    if sub is None:
        log.warning("outbox.unknown_handler", handler=handler, event_id=event_id)
        return
    runtime = current_runtime()
    async with runtime.sessions() as session, session.begin():
        if not await events.record_delivery(session, event_id, handler):
            return
        event = await session.get(events.OutboxEvent, event_id)
        if event is None:
            return
        await sub.handler(session, event)


# A task worker killed mid-job (SIGKILL, a crash, a lost machine) leaves its jobs "doing"
# forever: procrastinate notices the dead worker by its missing heartbeat but does not retry
# its jobs. Every handler is idempotent (outbox deliveries are recorded in the handler's own
# transaction), so they are simply run again.
STALLED_AFTER_S = 30.0


@blueprint.periodic(cron="* * * * * */15")
@blueprint.task(name="retry_stalled", queueing_lock="retry_stalled", pass_context=True)
async def retry_stalled(context: Any, timestamp: int | None = None) -> int:
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_S)
    for job in stalled:
        await manager.retry_job(job)
        log.warning("tasks.retried_stalled", job_id=job.id, task=job.task_name)
    return len(stalled)


@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(name="prune_rate_limits", queueing_lock="prune_rate_limits")
async def prune_rate_limits(timestamp: int | None = None) -> None:
    runtime = current_runtime()
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            text("DELETE FROM rate_limit_windows WHERE window_end < now() - interval '1 hour'")
        )
        await idempotency.prune(session)  # keys past the 24 hours they are kept
