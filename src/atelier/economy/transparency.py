"""What the public sees of the money (OBSIDIAN's transparency dashboard): each month's
donations by source, its pool and split, and every worker's share by the worker's public
name; the current month as it stands; totals since the start; and a closed month's public
postings, whose sha256 is the digest the month was published with (anyone can check a
downloaded file against the page, and docs/transparency/recompute.py recomputes the split
from the public files without Atelier).

Computing the current month reads every open contribution, so public answers are kept for a
short while per process (`SNAPSHOT_S`), keyed by the last close: a crowd on the page costs
one computation per interval, not one per visitor, and a close shows at once.
"""

from __future__ import annotations

import csv
import io
import time
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import NotFound
from atelier.core.runtime import Runtime
from atelier.economy import distribution, money, months
from atelier.economy import repository as repo
from atelier.economy.distribution import Plan

T = TypeVar("T")
SNAPSHOT_S = 30.0
KEPT = 256  # answers kept per process
CHART_MONTHS = 12


async def last_close(session: AsyncSession) -> date | None:
    """The last month closed: a close changes every public figure."""
    return await repo.last_closed_month(session)


def source_of(account: str) -> str:
    """The donation source an income account names: `Income:Donations:Stripe` → Stripe."""
    rest = account.removeprefix(distribution.DONATIONS + ":")
    return rest if rest != account else "Other"


@dataclass
class MonthReport:
    plan: Plan
    # currency → source → donations less refunds dated in the month, in minor units
    donations: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.plan.closed_at is not None


@dataclass
class Stats:
    donated: dict[str, int]
    by_source: dict[str, dict[str, int]]
    distributed: dict[str, dict[str, int]]  # currency → part (Workers…) → minor units
    escrowed: dict[str, int]
    paid: dict[str, dict[str, int]]  # payout state → currency → minor units
    months_closed: int
    workers: int


@dataclass
class MonthRow:
    month: date
    donations: dict[str, dict[str, int]]  # currency → source → minor units
    pools: list[distribution.CurrencyPlan]
    closed: bool


class Snapshots:
    """Recent answers by key, each for `ttl` seconds; at most KEPT of them."""

    def __init__(self) -> None:
        self._kept: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    async def get(self, key: Any, ttl: float, compute: Callable[[], Awaitable[T]]) -> T:
        found = self._kept.get(key)
        if found is not None and found[0] > time.monotonic():
            value: T = found[1]
            return value
        value = await compute()
        self._kept[key] = (time.monotonic() + ttl, value)
        self._kept.move_to_end(key)
        while len(self._kept) > KEPT:
            self._kept.popitem(last=False)
        return value


def snapshots(runtime: Runtime) -> Snapshots:
    kept: Snapshots = runtime.adapters.setdefault("economy.transparency", Snapshots())
    return kept


def _by_currency_and_source(
    rows: dict[tuple[str, str], int], sign: int = -1
) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for (account, currency), amount in sorted(rows.items()):
        source = source_of(account)
        found[currency][source] = found[currency].get(source, 0) + sign * amount
    return dict(found)


async def month_report(session: AsyncSession, settings: Settings, month: date) -> MonthReport:
    """A closed month as published, or an open one as it stands now (its split projected
    from the work and donations so far). 404 for a month an earlier close covered, or one
    that has not begun."""
    plan = await distribution.read_close(session, month)
    if plan is None:
        current = months.of(now_utc())
        last = await repo.last_closed_month(session)
        if month > current:
            raise NotFound(f"{months.label(month)} has not begun", slug="month-not-found")
        if last is not None and month < last:
            raise NotFound(
                f"{months.label(month)} was not closed on its own: the close of "
                f"{months.label(last)} covered it",
                slug="month-not-found",
            )
        plan = await distribution.plan(session, settings, month)
    donated = await repo.sums_by_account(
        session,
        distribution.DONATIONS,
        since=months.start(month),
        before=months.start(months.following(month)),
    )
    return MonthReport(plan, _by_currency_and_source(donated))


async def current(session: AsyncSession, settings: Settings) -> MonthReport:
    return await month_report(session, settings, months.of(now_utc()))


async def closed_months(session: AsyncSession) -> list[Plan]:
    found = []
    for close in await repo.months(session):
        plan = await distribution.read_close(session, close.month, with_shares=False)
        if plan is not None:
            found.append(plan)
    return found


async def chart_months(session: AsyncSession) -> list[MonthRow]:
    """The last CHART_MONTHS months (oldest first): donations by source, and the split of
    those closed on their own."""
    first = months.of(now_utc())
    for _ in range(CHART_MONTHS - 1):
        first = months.previous(first)
    rows: dict[date, MonthRow] = {}
    month = first
    for _ in range(CHART_MONTHS):
        rows[month] = MonthRow(month, {}, [], False)
        month = months.following(month)
    for at, account, currency, amount in await repo.donations_by_month(
        session, months.start(first)
    ):
        by_source = rows[at].donations.setdefault(currency, {})
        by_source[source_of(account)] = by_source.get(source_of(account), 0) + amount
    for plan in await closed_months(session):
        if plan.month in rows:
            rows[plan.month].pools = plan.currencies
            rows[plan.month].closed = True
    return list(rows.values())


async def stats(session: AsyncSession) -> Stats:
    donated_rows = await repo.sums_by_account(session, distribution.DONATIONS)
    by_source = _by_currency_and_source(donated_rows)
    shares = await repo.sums_by_account(session, distribution.SHARES)
    distributed: dict[str, dict[str, int]] = defaultdict(dict)
    for (account, currency), amount in shares.items():
        distributed[currency][account.removeprefix(distribution.SHARES)] = amount
    escrowed: dict[str, int] = defaultdict(int)
    for (_, currency), amount in (
        await repo.sums_by_account(session, distribution.WORKERS_ESCROW)
    ).items():
        escrowed[currency] -= amount
    paid: dict[str, dict[str, int]] = defaultdict(dict)
    for (state, currency), amount in (await repo.payout_totals(session)).items():
        paid[state][currency] = amount
    return Stats(
        donated={c: sum(s.values()) for c, s in by_source.items()},
        by_source=by_source,
        distributed=dict(distributed),
        escrowed=dict(escrowed),
        paid=dict(paid),
        months_closed=len(await repo.months(session)),
        workers=await repo.worker_count(session),
    )


async def postings_csv(session: AsyncSession, month: date) -> str:
    if month > months.of(now_utc()):
        raise NotFound(f"{months.label(month)} has not begun", slug="month-not-found")
    return await money.month_postings_csv(session, month)


SHARES_COLUMNS = ["month", "currency", "worker_id", "worker_name", "units", "amount_minor", "state"]
MONTHS_COLUMNS = [
    "month",
    "currency",
    "pool",
    "workers",
    "infrastructure",
    "development",
    "escrowed",
    "digest",
]
STATS_COLUMNS = ["figure", "currency", "part", "amount_minor"]


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def shares_csv(report: MonthReport) -> str:
    """Every worker's share of the month (projected while it is open): the recompute
    script's input, with the month's postings."""
    label = report.plan.label
    return _csv(
        SHARES_COLUMNS,
        [
            [
                label,
                c.currency,
                line.worker_id,
                line.name,
                line.units,
                line.amount,
                "escrow" if line.escrowed else "payable",
            ]
            for c in report.plan.currencies
            for line in c.lines
        ],
    )


def months_csv(closed: list[Plan]) -> str:
    return _csv(
        MONTHS_COLUMNS,
        [
            [
                plan.label,
                c.currency,
                c.pool,
                c.workers,
                c.infrastructure,
                c.development,
                c.escrowed,
                plan.digest,
            ]
            for plan in closed
            for c in plan.currencies
        ],
    )


def stats_csv(figures: Stats) -> str:
    rows: list[list[Any]] = []
    for currency, by_source in sorted(figures.by_source.items()):
        rows += [["donated", currency, source, n] for source, n in sorted(by_source.items())]
    for currency, parts in sorted(figures.distributed.items()):
        rows += [["distributed", currency, part, n] for part, n in sorted(parts.items())]
    rows += [["escrowed", c, "Workers", n] for c, n in sorted(figures.escrowed.items())]
    for state, by_currency in sorted(figures.paid.items()):
        rows += [[f"payouts {state}", c, "Workers", n] for c, n in sorted(by_currency.items())]
    return _csv(STATS_COLUMNS, rows)
