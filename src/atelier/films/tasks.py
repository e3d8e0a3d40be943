"""Films react to the grid: a job of a film was accepted, so the film's render step looks
again (a job that failed is found by the stalled-run sweep, which wakes waiting films); the
film itself signed, so its viewers are told (the signed copy is what they watch)."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.films import flows, movies
from atelier.grid import service as grid
from atelier.grid.events import ArtifactAccepted
from atelier.provenance.events import ArtifactSigned

blueprint = procrastinate.Blueprint()


@events.subscribe(ArtifactAccepted)
async def film_job_accepted(session: AsyncSession, event: ArtifactAccepted) -> None:
    job = await grid.job_of(session, event.request_id)
    if job is None or job.film_id is None or job.source == grid.PLATFORM_ASSEMBLY:
        return  # not a film's job, or the film itself
    await flows.wake(session, job.film_id)


@events.subscribe(ArtifactSigned, name="films.film_signed")
async def film_signed(session: AsyncSession, event: ArtifactSigned) -> None:
    job = await grid.job_of(session, event.request_id)
    if job is None or job.film_id is None or job.source != grid.PLATFORM_ASSEMBLY:
        return  # not a film
    await movies.announce_signed(session, job.film_id)
