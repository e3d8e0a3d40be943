"""Music reacts to the community approving a job's upgrade (the seed's personalization)."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.errors import AppError
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.governance.events import UpgradeApplied
from atelier.music import service

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(UpgradeApplied)
async def personalize(session: AsyncSession, event: UpgradeApplied) -> None:
    if event.job_id is None:
        return
    job_id = str(event.job_id)
    try:
        track = await service.personalize(session, current_runtime().settings, event.job_id)
    except AppError as exc:  # e.g. the creator's daily quota is spent: nothing to retry
        log.warning("music.personalize_skipped", job_id=job_id, reason=exc.detail)
        return
    log.info("music.personalized", job_id=job_id, track=str(track.id) if track else None)
