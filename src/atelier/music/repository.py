"""Music queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
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
