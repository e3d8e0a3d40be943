"""Provenance reacts to `artifact.accepted` from the grid."""

from __future__ import annotations

import procrastinate
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.events import OutboxEvent
from atelier.core.logging import get_logger
from atelier.core.runtime import current_runtime
from atelier.provenance import service

log = get_logger(__name__)

blueprint = procrastinate.Blueprint()


@events.subscribe(events.ARTIFACT_ACCEPTED, "provenance.process_artifact")
async def process_artifact(session: AsyncSession, event: OutboxEvent) -> None:
    record = await service.process_artifact(session, current_runtime().settings, event.payload)
    log.info("provenance.processed", artifact_id=str(record.artifact_id),
             state=record.manifest_state, cid=record.cid_v1)  # fmt: skip
