"""Provenance reacts to the grid accepting an artifact: it signs it (flows.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.grid.events import ArtifactAccepted
from atelier.provenance import flows


@events.subscribe(ArtifactAccepted)
async def process_artifact(session: AsyncSession, event: ArtifactAccepted) -> None:
    await flows.start_for(session, event)
