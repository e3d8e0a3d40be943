"""Analytics queries: recording facts once, counting them per day, keeping the rollups."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.analytics.models import DailyCount, ProductEvent


async def record(
    session: AsyncSession, metric: str, ref: str, subject: str | None, day: date
) -> bool:
    inserted = await session.scalar(
        insert(ProductEvent)
        .values(metric=metric, ref=ref, subject=subject, day=day)
        .on_conflict_do_nothing()
        .returning(ProductEvent.id)
    )
    return inserted is not None


async def counts_on(session: AsyncSession, day: date) -> list[tuple[str, int, int]]:
    """(metric, facts, distinct pseudonyms) recorded on `day`."""
    rows = await session.execute(
        select(
            ProductEvent.metric,
            func.count(),
            func.count(func.distinct(ProductEvent.subject)),
        )
        .where(ProductEvent.day == day)
        .group_by(ProductEvent.metric)
    )
    return [(metric, int(count), int(uniques)) for metric, count, uniques in rows.tuples()]


async def keep_daily(
    session: AsyncSession, day: date, metric: str, count: int, uniques: int
) -> None:
    statement = insert(DailyCount).values(day=day, metric=metric, count=count, uniques=uniques)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[DailyCount.day, DailyCount.metric],
            set_={"count": statement.excluded.count, "uniques": statement.excluded.uniques},
        )
    )


async def daily(session: AsyncSession, since: date) -> list[DailyCount]:
    query = select(DailyCount).where(DailyCount.day >= since).order_by(DailyCount.day)
    return list(await session.scalars(query))
