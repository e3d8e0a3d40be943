"""Music queries."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.music.models import MusicStyle


async def newest_style(session: AsyncSession, user_id: uuid.UUID) -> MusicStyle | None:
    """The style the user set most recently, on any of their wallets."""
    result = await session.scalars(
        select(MusicStyle)
        .where(MusicStyle.user_id == user_id)
        .order_by(MusicStyle.updated_at.desc())
        .limit(1)
    )
    return result.first()


async def style_of(session: AsyncSession, wallet: str) -> MusicStyle | None:
    return await session.get(MusicStyle, wallet)


async def upsert_style(session: AsyncSession, values: dict[str, Any]) -> MusicStyle:
    """Store a wallet's style, replacing the one it had (one style per wallet)."""
    statement = insert(MusicStyle).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[MusicStyle.wallet],
            set_={k: statement.excluded[k] for k in values if k != "wallet"},
        )
    )
    stored = await session.get(MusicStyle, values["wallet"], populate_existing=True)
    assert stored is not None
    return stored
