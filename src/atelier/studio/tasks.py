"""Studio reactions: a job of a running agent that ends, or whose result is signed, wakes
the agent (its `collect` step looks again); so does a signed result of the film a
short-film agent waits on (its shots as they come, then the film)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core import flows as core_flows
from atelier.grid import service as grid
from atelier.grid.events import JobEnded
from atelier.provenance.events import ArtifactSigned
from atelier.studio import flows
from atelier.studio import repository as repo


async def _wake(session: AsyncSession, request_id: uuid.UUID) -> None:
    for run_id in await repo.runs_waiting_on(session, request_id):
        await core_flows.wake_run(session, flows.AGENT, str(run_id))


@events.subscribe(JobEnded, name="studio.job_ended")
async def job_ended(session: AsyncSession, event: JobEnded) -> None:
    if event.source == flows.SOURCE:
        await _wake(session, event.request_id)


@events.subscribe(ArtifactSigned, name="studio.artifact_signed")
async def artifact_signed(session: AsyncSession, event: ArtifactSigned) -> None:
    await _wake(session, event.request_id)
    film_id = await grid.film_of(session, event.request_id)
    if film_id is not None:
        for run_id in await repo.runs_filming(session, film_id):
            await core_flows.wake_run(session, flows.AGENT, str(run_id))
