"""procrastinate: the PostgreSQL task queue behind every background job.

Each domain exposes a `Blueprint` in its `tasks.py`; the composition root adds them to one
`App` per process (`build_task_app`). This module also holds the core tasks: the outbox
dispatcher and event handler runner, the flow runner and its sweep, and housekeeping.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import procrastinate

from atelier.core import events, flows, idempotency, ratelimit
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.core.transactions import kick_flow, unit_of_work

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()

HANDLE_TASK = "core:handle_event"

_task_app: Any = None
_added: set[str] = set()


def build_task_app(conninfo: str, blueprints: Mapping[str, Any]) -> Any:
    """The process's procrastinate App, pointed at `conninfo`, running `blueprints`' tasks.

    procrastinate moves a blueprint's tasks into the first App they are added to, so there is
    one App per process: a later runtime (tests open one per module) swaps its connector and
    adds the blueprints it has not seen. Deferring needs no blueprint (tasks go by name).
    """
    global _task_app
    connector = procrastinate.PsycopgConnector(conninfo=conninfo, min_size=1, max_size=4)
    if _task_app is None:
        _task_app = procrastinate.App(connector=connector)
    else:
        _task_app.connector = connector
        _task_app.job_manager.connector = connector
    for namespace, bp in blueprints.items():
        if namespace not in _added:
            _task_app.add_tasks_from(bp, namespace=namespace)
            _added.add(namespace)
    return _task_app


@blueprint.periodic(cron="* * * * * */5")
@blueprint.task(name="dispatch_outbox", queueing_lock="dispatch_outbox", pass_context=True)
async def dispatch_outbox(context: Any, timestamp: int | None = None) -> int:
    runtime = current_runtime()
    dispatched = 0
    while True:
        async with unit_of_work(runtime) as session:
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
    async with unit_of_work(current_runtime()) as session:
        if not await events.record_delivery(session, event_id, handler):
            return
        row = await events.stored(session, event_id)
        if row is None:
            return
        with events.delivery(row):
            await sub.handler(session, events.parse(sub, row))


# A failing step is retried by procrastinate (the flow counts its attempts and gives up
# at its own `max_attempts`, which this strategy must outlast).
@blueprint.task(
    name="run_flow",
    retry=procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2),
)
async def run_flow(run_id: str) -> str:
    return await flows.run(current_runtime(), uuid.UUID(run_id))


# Runs whose wake-up was lost (a crash between a commit and its deferral) or whose runner
# died are queued again; a run still queued or running is left alone (its queueing lock).
FLOW_QUIET_S = 60.0


@blueprint.periodic(cron="* * * * * */30")
@blueprint.task(name="resume_flows", queueing_lock="resume_flows", pass_context=True)
async def resume_flows(context: Any, timestamp: int | None = None) -> int:
    async with unit_of_work(current_runtime()) as session:
        stalled = await flows.stalled(session, FLOW_QUIET_S)
    for run_id in stalled:
        await kick_flow(context.app, str(run_id))
    return len(stalled)


# A task worker killed mid-job (SIGKILL, a crash, a lost machine) leaves its jobs "doing"
# forever: procrastinate notices the dead worker by its missing heartbeat but does not retry
# its jobs. Every handler is idempotent (outbox deliveries are recorded in the handler's own
# transaction, flow steps in the step's), so they are simply run again.
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
    async with unit_of_work(current_runtime()) as session:
        await ratelimit.prune(session)
        await idempotency.prune(session)  # keys past the 24 hours they are kept


@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(name="prune_outbox", queueing_lock="prune_outbox")
async def prune_outbox(timestamp: int | None = None) -> int:
    """Dispatched events past `outbox_keep_days` go, a batch per run (a backlog of them is
    worked through over the following runs)."""
    runtime = current_runtime()
    keep = timedelta(days=runtime.settings.outbox_keep_days)
    async with unit_of_work(runtime) as session:
        return await events.prune(session, keep)
