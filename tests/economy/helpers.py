"""A ledger on a fresh database of its own (months close in order and never reopen), with
the economy's own entry points: donations and refunds as movements, work as contributions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.config import Settings
from atelier.core.db import create_engine, session_factory
from atelier.economy import contributions, distribution, money
from atelier.economy.contributions import Accepted
from atelier.economy.money import Leg, Movement

T = TypeVar("T")
SEPT, OCT, NOV = date(2026, 9, 1), date(2026, 10, 1), date(2026, 11, 1)


class Ledger:
    """A fresh database per test: months close in order and never reopen."""

    def __init__(self, url: str, settings: Settings) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=2)
        self.sessions = session_factory(self.engine)
        self.settings = settings
        self.home = settings.home

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.sessions() as session, session.begin():
            return await work(session)

    async def donate(self, cents: int, on: datetime, currency: str = "USD") -> None:
        movement = Movement(
            "test donation",
            [
                Leg("Assets:Clearing:Stripe", cents, currency),
                Leg("Income:Donations:Stripe", -cents, currency),
            ],
            occurred_at=on,
            source=f"stripe:pi_{uuid.uuid4().hex}",
        )
        await self.run(lambda s: money.record(s, movement))

    async def refund(self, cents: int, on: datetime) -> None:
        movement = Movement(
            "test refund",
            [
                Leg("Income:Donations:Stripe", cents, "USD"),
                Leg("Assets:Clearing:Stripe", -cents, "USD"),
            ],
            occurred_at=on,
            source=f"stripe:refund:re_{uuid.uuid4().hex}",
        )
        await self.run(lambda s: money.record(s, movement))

    async def work(self, worker: uuid.UUID, units: int, on: datetime, name: str = "rig") -> None:
        accepted = Accepted(uuid.uuid4(), worker, name, None, "image", units, on)
        await self.run(lambda s: contributions.record(s, accepted))

    async def distribute(self, month: date, dry_run: bool = False) -> distribution.Plan:
        return await self.run(
            lambda s: distribution.distribute(s, self.settings, month, dry_run=dry_run)
        )

    async def count(self, model: Any) -> int:
        return int(await self.run(lambda s: s.scalar(select(func.count()).select_from(model))))


def at(month: date, day: int) -> datetime:
    return datetime(month.year, month.month, day, 12, tzinfo=UTC)
