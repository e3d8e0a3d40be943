"""Analytics in the task workers: product facts from the events that carry them, and the
daily rollups every five minutes (today and yesterday, so a late fact still counts)."""

from __future__ import annotations

from datetime import timedelta

from procrastinate import Blueprint
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.analytics import service
from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.runtime import current_runtime
from atelier.core.transactions import unit_of_work
from atelier.films.events import FilmViewed
from atelier.grid.events import JobChanged
from atelier.identity.events import UserRegistered

blueprint = Blueprint()


@events.subscribe(UserRegistered, name="analytics.count_signup")
async def count_signup(session: AsyncSession, event: UserRegistered) -> None:
    settings = current_runtime().settings
    await service.record(session, settings, "signups", str(event.user_id), event.user_id)


@events.subscribe(JobChanged, name="analytics.count_job")
async def count_job(session: AsyncSession, event: JobChanged) -> None:
    """A job counts once, when first queued, under its kind."""
    if event.state == "queued":
        settings = current_runtime().settings
        ref = f"{event.kind}:{event.request_id}"
        await service.record(session, settings, "jobs", ref, event.owner_id)


@events.subscribe(FilmViewed, name="analytics.count_film_view")
async def count_film_view(session: AsyncSession, event: FilmViewed) -> None:
    """One view per viewer, film and day."""
    settings = current_runtime().settings
    viewer = service.pseudonym(settings, event.viewer_id)
    ref = f"{event.movie_id}:{viewer}:{event.at.date()}"
    await service.record(session, settings, "film_views", ref, event.viewer_id, event.at)


@blueprint.periodic(cron="*/5 * * * *")
@blueprint.task(name="roll_up", queueing_lock="analytics_roll_up")
async def roll_up(timestamp: int | None = None) -> None:
    today = now_utc().date()
    async with unit_of_work(current_runtime()) as session:
        for day in (today - timedelta(days=1), today):
            await service.roll_up(session, day)
