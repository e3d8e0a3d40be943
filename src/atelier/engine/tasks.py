"""The engine reacts to the grid and keeps time: each ended job is an observation of its A/B
test or wakes its benchmark; a periodic tick ends expired tests and runs the update check
when one is due (every `engine_update_every_h`)."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.errors import Conflict
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.core.transactions import unit_of_work
from atelier.engine import flows, service
from atelier.engine import repository as repo
from atelier.grid.events import BENCHMARK_SOURCE, JobEnded

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(JobEnded)
async def job_ended(session: AsyncSession, event: JobEnded) -> None:
    if event.experiment_id is not None:
        await service.observe(session, event)
    elif event.source == BENCHMARK_SOURCE:
        run = await repo.benchmark_run_of(session, event.request_id)
        if run is not None:
            await flows.wake(session, run)


@blueprint.periodic(cron="* * * * * */30")
@blueprint.task(name="engine_tick", queueing_lock="engine_tick", lock="engine_tick")
async def tick(timestamp: int | None = None) -> None:
    runtime = current_runtime()
    async with unit_of_work(runtime) as session:
        expired = await service.expire_experiments(session)
    if expired:
        log.info("engine.experiments_expired", count=expired)
    async with unit_of_work(runtime) as session:
        due = await service.update_due(session, runtime.settings)
    if not due:
        return
    await flows.fetch_from_provider(runtime.settings)
    async with unit_of_work(runtime) as session:
        try:
            report = await flows.check_updates(session, runtime.settings, service.ENGINE)
        except Conflict:
            return  # one is running (started through the API)
    log.info("engine.update_check", found=len(report.found), rejected=len(report.rejected))
