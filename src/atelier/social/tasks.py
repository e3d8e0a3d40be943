"""Social background work: follow the Farcaster hub every few seconds."""

from __future__ import annotations

from procrastinate import Blueprint

from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.social import scheduled

log = get_logger(__name__)
blueprint = Blueprint()


@blueprint.periodic(cron="* * * * * */5")
@blueprint.task(name="tick", queueing_lock="social_tick", lock="social_tick")
async def social_tick(timestamp: int | None = None) -> None:
    report = await scheduled.follow_hub(current_runtime())
    if report.events or report.backfilled or report.gap:
        log.info(
            "social.tick",
            events=report.events,
            backfilled=report.backfilled,
            gap=report.gap,
            **report.outcomes,
        )
