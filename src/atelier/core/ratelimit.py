"""Sliding-window rate limits counted in PostgreSQL, so every API process shares them.

Hits are counted per fixed window; a request is weighed against the current window's hits
plus the previous window's, scaled by how much of that window still overlaps the last
`period` seconds (the estimate Cloudflare and NGINX-style limiters use). A plain fixed window
would forgive everything at each boundary: `limit` requests just before it and `limit` just
after.

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
    ), current AS (
        INSERT INTO rate_limit_windows AS r (key, window_start, window_end, hits)
        SELECT :key, w.start, w.start + make_interval(secs => :period), 1 FROM w
        ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1
        RETURNING hits, window_start, window_end
    )
    SELECT current.hits,
           coalesce((SELECT p.hits FROM rate_limit_windows p
                     WHERE p.key = :key AND p.window_end = current.window_start), 0),
           extract(epoch FROM (current.window_end - now()))
    FROM current
    """
)


async def hit(
    sessions: async_sessionmaker[AsyncSession], key: str, limit: int, period_s: int
) -> Decision:
    """Count one request against `key`; its own short transaction, committed either way."""
    async with sessions() as session, session.begin():
        row = (await session.execute(_HIT, {"key": key, "period": period_s})).one()
    return decide(int(row[0]), int(row[1]), float(row[2]), limit, period_s)


def decide(hits: int, previous: int, seconds_left: float, limit: int, period_s: int) -> Decision:
    """`hits` in the current window (this request included), `previous` in the one before,
    `seconds_left` until the current window ends."""
    overlap = seconds_left / period_s  # share of the previous window still within `period`
    used = hits + previous * overlap
    if used <= limit:
        return Decision(True, math.floor(limit - used), 0)
    if hits > limit:  # only the next window helps
        return Decision(False, 0, max(1, math.ceil(seconds_left)))
    # the previous window's weight must fall until hits + previous * overlap <= limit
    wait = seconds_left - (limit - hits) * period_s / previous
    return Decision(False, 0, max(1, math.ceil(wait)))


async def prune(session: AsyncSession) -> None:
    """Forget windows that ended over an hour ago (no limit looks further back)."""
    await session.execute(
        text("DELETE FROM rate_limit_windows WHERE window_end < now() - interval '1 hour'")
    )
