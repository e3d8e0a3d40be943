"""Grid housekeeping: the periodic sweep of leases, workers and unservable requests."""

from __future__ import annotations

import procrastinate

from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.core.transactions import unit_of_work
from atelier.grid import service

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * * */5")
@blueprint.task(name="sweep", queueing_lock="grid_sweep")
async def sweep(timestamp: int | None = None) -> None:
    runtime = current_runtime()
    async with unit_of_work(runtime) as session:
        report = await service.sweep(session, runtime.settings)
    if any((report.expired, report.offline, report.impossible)):
        log.info(
            "grid.sweep",
            expired=report.expired,
            faulted=report.faulted,
            offline=report.offline,
            impossible=report.impossible,
        )
