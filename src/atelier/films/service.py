"""Screenplays: submitted (flagged when they repeat or nearly repeat another), listed, read."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.errors import NotFound
from atelier.films import repository as repo
from atelier.films import similarity
from atelier.films.models import Script
from atelier.films.scripts import Prepared


async def submit(session: AsyncSession, author_id: uuid.UUID, prepared: Prepared) -> Script:
    """Store a prepared screenplay, status pending validation; the same text as an earlier
    script is flagged `duplicate_of` it, a near copy `similar_to` it with its similarity."""
    duplicate = await repo.first_with_hash(session, prepared.content_hash)
    similar_to, similarity_score = None, None
    if duplicate is None:
        known = await repo.signatures(session)
        if known:
            scores = similarity.similarities(prepared.signature, [s for _, s in known])
            best = int(scores.argmax())
            if scores[best] >= similarity.NEAR_DUPLICATE:
                similar_to, similarity_score = known[best][0], float(scores[best])
    play = prepared.play
    return await repo.add(
        session,
        Script(
            author_id=author_id,
            title=prepared.title,
            source_format=prepared.source_format,
            text=prepared.text,
            structure=prepared.structure(),
            content_hash=prepared.content_hash,
            signature=prepared.signature,
            scenes=play.count("scene_heading"),
            speeches=play.count("dialogue"),
            words=prepared.words,
            duplicate_of=duplicate.id if duplicate else None,
            similar_to=similar_to,
            similarity=similarity_score,
        ),
    )


async def get(session: AsyncSession, script_id: uuid.UUID) -> Script:
    found = await repo.script(session, script_id)
    if found is None:
        raise NotFound("no such script", slug="script-not-found")
    return found


async def page(
    session: AsyncSession, limit: int, before: datetime | None, status: str | None
) -> list[Script]:
    return await repo.page(session, limit=limit, before=before, status=status)
