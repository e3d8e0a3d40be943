"""Product analytics: facts recorded as they happen under a pseudonym, rolled up per UTC
day with the counts other domains keep themselves (votes, sales).

The pseudonym is HMAC-SHA256 of the account id under a key kept in
`$ATELIER_HOME/secrets/analytics.key` (never logged, never in the database): stable for one
person, so a day's distinct users can be counted, and naming no one without that key. No
address, email, IP or user agent is recorded.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.analytics import repository as repo
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.secrets import load_or_create_secret
from atelier.governance import service as governance
from atelier.market import studios as market

METRICS = ("signups", "jobs", "votes", "sales", "film_views")
WINDOW_DAYS = 30


def pseudonym(settings: Settings, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    key = load_or_create_secret(settings.secrets_dir, "analytics.key", 32)
    return hmac.new(key, user_id.bytes, hashlib.sha256).hexdigest()[:32]


async def record(
    session: AsyncSession,
    settings: Settings,
    metric: str,
    ref: str,
    user_id: uuid.UUID | None,
    at: datetime | None = None,
) -> bool:
    """Count a fact once (`ref` names it: a repeat is ignored)."""
    when = at or now_utc()
    return await repo.record(session, metric, ref[:80], pseudonym(settings, user_id), when.date())


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


async def counted(session: AsyncSession, day: date) -> dict[str, tuple[int, int]]:
    """One day's (count, distinct people) per metric, counted now from the facts (nothing
    is written: the admin page shows today live this way)."""
    found = {
        metric: (count, uniques) for metric, count, uniques in await repo.counts_on(session, day)
    }
    start, end = _bounds(day)
    found["votes"] = await governance.votes_between(session, start, end)
    found["sales"] = await market.sales_between(session, start, end)
    return found


async def roll_up(session: AsyncSession, day: date) -> dict[str, tuple[int, int]]:
    """Recount one day and keep it (idempotent: today's count is rewritten until the day is
    over)."""
    found = await counted(session, day)
    for metric in METRICS:
        count, uniques = found.get(metric, (0, 0))
        await repo.keep_daily(session, day, metric, count, uniques)
    return found


@dataclass(frozen=True)
class Series:
    metric: str
    days: list[date]
    counts: list[int]
    uniques: list[int]

    @property
    def today(self) -> int:
        return self.counts[-1] if self.counts else 0

    @property
    def total(self) -> int:
        return sum(self.counts)


async def series(
    session: AsyncSession,
    today: date,
    days: int = WINDOW_DAYS,
    live: dict[str, tuple[int, int]] | None = None,
) -> list[Series]:
    """Each metric over the last `days` days (missing days are zeros), oldest first; today
    as `live` counts it when given (the rollup may be minutes old)."""
    since = today - timedelta(days=days - 1)
    by = {(r.metric, r.day): (r.count, r.uniques) for r in await repo.daily(session, since)}
    by |= {(metric, today): pair for metric, pair in (live or {}).items()}
    span = [since + timedelta(days=n) for n in range(days)]
    out = []
    for metric in METRICS:
        counts = [by.get((metric, d), (0, 0))[0] for d in span]
        uniques = [by.get((metric, d), (0, 0))[1] for d in span]
        out.append(Series(metric, span, counts, uniques))
    return out


async def on(session: AsyncSession, day: date) -> dict[str, tuple[int, int]]:
    """Each metric's rolled-up (count, distinct people) on `day`."""
    return {r.metric: (r.count, r.uniques) for r in await repo.daily(session, day) if r.day == day}
