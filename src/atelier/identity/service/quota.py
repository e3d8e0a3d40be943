"""Daily generation quotas as reservations: reserve at submit, commit on success, release on
failure or cancel. Days are UTC; the limit is the most generous of the user's roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.config import Settings
from atelier.core.errors import InvalidInput, NotFound, TooManyRequests
from atelier.identity import repository as repo
from atelier.identity.models import QuotaReservation


@dataclass(frozen=True)
class Usage:
    day: date
    limit: int
    used: int
    reserved: int
    resets_at: datetime

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used - self.reserved)


def utc_day(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def next_reset(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


async def usage(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, roles: list[str]
) -> Usage:
    day = utc_day()
    row = await repo.quota_usage(session, user_id, day)
    return Usage(
        day=day,
        limit=await limit_for(session, settings, user_id, roles),
        used=row.used if row else 0,
        reserved=row.reserved if row else 0,
        resets_at=next_reset(day),
    )


async def limit_for(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, roles: list[str]
) -> int:
    """Generations a day: an admin's override for this account, else its roles' quota."""
    override = await repo.daily_quota_of(session, user_id)
    return override if override is not None else settings.quota_for_roles(roles)


async def reserve(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    roles: list[str],
    *,
    amount: int = 1,
    reference: str | None = None,
) -> QuotaReservation:
    """Hold `amount` generations of today's quota, or raise 429 with the reset time."""
    if amount < 1:
        raise InvalidInput("a reservation must be for at least one generation")
    day = utc_day()
    limit = await limit_for(session, settings, user_id, roles)
    if await repo.reserve_quota(session, user_id, day, amount, limit) is None:
        resets_at = next_reset(day)
        raise TooManyRequests(
            f"daily quota of {limit} generations is used up; it resets at {resets_at.isoformat()}",
            slug="quota-exceeded",
            retry_after_s=int((resets_at - datetime.now(UTC)).total_seconds()) + 1,
            extra={"limit": limit, "resets_at": resets_at.isoformat()},
        )
    reservation = QuotaReservation(user_id=user_id, day=day, amount=amount, reference=reference)
    return await rows.add(session, reservation)


async def commit(session: AsyncSession, reservation_id: uuid.UUID) -> bool:
    """Count a reservation as used. Idempotent: False when it was already settled."""
    return await _settle(session, reservation_id, committed=True)


async def release(session: AsyncSession, reservation_id: uuid.UUID) -> bool:
    """Give a reservation back. Idempotent: False when it was already settled."""
    return await _settle(session, reservation_id, committed=False)


async def _settle(session: AsyncSession, reservation_id: uuid.UUID, *, committed: bool) -> bool:
    reservation = await repo.settle_reservation(
        session, reservation_id, "committed" if committed else "released"
    )
    if reservation is None:
        if await rows.get(session, QuotaReservation, reservation_id) is None:
            raise NotFound("no such quota reservation", slug="reservation-not-found")
        return False
    await repo.apply_settlement(session, reservation, committed)
    return True
