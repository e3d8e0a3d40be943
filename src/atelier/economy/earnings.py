"""A contributor's own earnings: per month and currency, what the workers they own earned,
what is held in escrow and why, and what was paid (private: only the owner sees it)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.economy import contributions, distribution, months
from atelier.economy import repository as repo


@dataclass
class MonthEarnings:
    month: date
    currency: str
    shares: int = 0  # what the owner's workers' shares came to
    escrowed: int = 0  # of which went to escrow
    payouts: dict[str, int] = field(default_factory=dict)  # payout state → amount


@dataclass
class Earnings:
    months: list[MonthEarnings]
    held: dict[str, int]  # currency → escrow held now
    holds: dict[str, str]  # worker name → why its share is held (now)
    projected: dict[str, int]  # currency → this month's projected shares


async def of_owner(session: AsyncSession, settings: Settings, owner_id: uuid.UUID) -> Earnings:
    workers = [w for w in await repo.standings(session) if w.owner_id == owner_id]
    ids = {w.worker_id for w in workers}
    rows: dict[tuple[date, str], MonthEarnings] = {}
    for share in await repo.shares_of(session, list(ids)):
        row = rows.setdefault(
            (share.month, share.currency), MonthEarnings(share.month, share.currency)
        )
        row.shares += share.amount
        row.escrowed += share.amount if share.escrowed else 0
    for payout in await repo.payouts(session, owner_id=owner_id):
        row = rows.setdefault(
            (payout.month, payout.currency), MonthEarnings(payout.month, payout.currency)
        )
        row.payouts[payout.state] = row.payouts.get(payout.state, 0) + payout.amount
    held: dict[str, int] = defaultdict(int)
    escrow = await repo.sums_by_account(session, distribution.WORKERS_ESCROW)
    for (account, currency), balance in escrow.items():
        if uuid.UUID(hex=account.removeprefix(distribution.WORKERS_ESCROW)) in ids:
            held[currency] -= balance
    now = now_utc()
    holds = {
        w.name: reason
        for w in workers
        if (reason := contributions.hold_reason(settings, w, now)) is not None
    }
    projected: dict[str, int] = defaultdict(int)
    if ids:
        plan = await distribution.plan(session, settings, months.of(now))
        for c in plan.currencies:
            projected[c.currency] += sum(line.amount for line in c.lines if line.worker_id in ids)
    return Earnings(
        months=sorted(rows.values(), key=lambda r: (r.month, r.currency), reverse=True),
        held=dict(held),
        holds=holds,
        projected=dict(projected),
    )
