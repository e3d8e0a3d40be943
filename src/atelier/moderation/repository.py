"""Moderation queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.moderation.models import Case


async def case_for(
    session: AsyncSession, kind: str, target_id: str, *, lock: bool = False
) -> Case | None:
    query = select(Case).where(Case.target_kind == kind, Case.target_id == target_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def case(session: AsyncSession, case_id: uuid.UUID, *, lock: bool = False) -> Case | None:
    query = select(Case).where(Case.id == case_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def add(session: AsyncSession, found: Case) -> Case:
    session.add(found)
    await session.flush()
    return found


async def hidden_ids(session: AsyncSession, kind: str, target_ids: list[str]) -> set[str]:
    if not target_ids:
        return set()
    rows = await session.scalars(
        select(Case.target_id).where(
            Case.target_kind == kind, Case.target_id.in_(target_ids), Case.hidden.is_(True)
        )
    )
    return set(rows)


async def all_hidden(session: AsyncSession, kind: str) -> set[str]:
    query = select(Case.target_id).where(Case.target_kind == kind, Case.hidden.is_(True))
    return set(await session.scalars(query))


async def cases_of(session: AsyncSession, owner_id: uuid.UUID) -> list[Case]:
    query = select(Case).where(Case.owner_id == owner_id).order_by(Case.created_at.desc())
    return list(await session.scalars(query))


async def queue(session: AsyncSession, limit: int = 100) -> list[Case]:
    """Cases for admins: open appeals first, then the newest."""
    query = (
        select(Case)
        .order_by(
            (Case.appealed_at.is_not(None) & Case.resolved_at.is_(None)).desc(),
            Case.updated_at.desc(),
        )
        .limit(limit)
    )
    return list(await session.scalars(query))
