"""Fixed-window rate limits counted in PostgreSQL, so every API process shares them.

The table is UNLOGGED: counters are worth less than the WAL they would cost, and losing them
in a crash only forgives a few requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class RateLimitWindow(Base):
    __tablename__ = "rate_limit_windows"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    window_end: Mapped[datetime] = mapped_column(index=True)
    hits: Mapped[int] = mapped_column(Integer)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    remaining: int
    retry_after_s: int


_HIT = text(
    """
    WITH w AS (
        SELECT to_timestamp(floor(extract(epoch FROM now()) / :period) * :period) AS start
    )
    INSERT INTO rate_limit_windows AS r (key, window_start, window_end, hits)
    SELECT :key, w.start, w.start + make_interval(secs => :period), 1 FROM w
    ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1
    RETURNING hits, extract(epoch FROM (window_end - now()))
    """
)


async def hit(
    sessions: async_sessionmaker[AsyncSession], key: str, limit: int, period_s: int
) -> Decision:
    """Count one request against `key`; its own short transaction, committed either way."""
    async with sessions() as session, session.begin():
        row = (await session.execute(_HIT, {"key": key, "period": period_s})).one()
    hits, seconds_left = int(row[0]), float(row[1])
    if hits > limit:
        return Decision(False, 0, math.ceil(seconds_left))
    return Decision(True, limit - hits, 0)
