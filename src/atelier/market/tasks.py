"""The market's background work: settling auctions and refunding expired offers."""

from __future__ import annotations

import procrastinate

from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.market import scheduled

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@blueprint.periodic(cron="* * * * * */5")
@blueprint.task(name="tick", queueing_lock="market_tick", lock="market_tick")
async def market_tick(timestamp: int | None = None) -> None:
    report = await scheduled.tick(current_runtime())
    if any(report.__dict__.values()):
        log.info("market.tick", **report.__dict__)
