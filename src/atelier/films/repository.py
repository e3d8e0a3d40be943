"""Screenplay queries."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.films.models import Script


async def add(session: AsyncSession, script: Script) -> Script:
    session.add(script)
    await session.flush()
    await session.refresh(script)
    return script


async def first_with_hash(session: AsyncSession, content_hash: str) -> Script | None:
    return await session.scalar(
        select(Script)
        .where(Script.content_hash == content_hash)
        .order_by(Script.created_at, Script.id)
        .limit(1)
    )


async def signatures(session: AsyncSession) -> list[tuple[uuid.UUID, list[int]]]:
    """Every original script's signature (duplicates of another are left out)."""
    rows = await session.execute(
        select(Script.id, Script.signature).where(Script.duplicate_of.is_(None))
    )
    return [(script_id, list(signature)) for script_id, signature in rows.tuples().all()]


async def script(session: AsyncSession, script_id: uuid.UUID) -> Script | None:
    return await session.get(Script, script_id)


async def page(
    session: AsyncSession, *, limit: int, before: datetime | None, status: str | None
) -> list[Script]:
    statement = select(Script).order_by(Script.created_at.desc(), Script.id).limit(limit)
    if before is not None:
        statement = statement.where(Script.created_at < before)
    if status is not None:
        statement = statement.where(Script.status == status)
    return list(await session.scalars(statement))
