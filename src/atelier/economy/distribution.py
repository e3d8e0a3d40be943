"""The monthly distribution (OBSIDIAN's revenue sharing, exact to the cent).

A month's pool, per currency, is every donation dated up to the month's end less everything
already distributed: a refund after a month was distributed lowers the next pool (a deficit
carries forward; no payout is ever negative), and a month nobody contributed in closes
without posting, so its pool waits for the next. The pool is split by the configured basis
points (75% workers / 15% infrastructure / 10% development by default) and the workers'
part by work units, both by largest remainder (`split.py`): the parts sum to the pool.

Closing a month is one transaction under an exclusive lock: the distribution's postings
(dated at the month's last instant), escrow releases, the close, its pools, shares and
payouts. A crash anywhere rolls all of it back and a rerun does it once; a rerun after the
close reads the close back and posts nothing. The close covers everything not covered by an
earlier one, so months close in order and a month before the last close is part of it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, InvalidInput
from atelier.economy import contributions, money, months
from atelier.economy import repository as repo
from atelier.economy.models import MonthClose, WorkerStanding
from atelier.economy.money import Leg, Movement
from atelier.economy.split import largest_remainder

DONATIONS = "Income:Donations"  # and its sub-accounts, one per source
SHARES = "Expenses:Shares:"
PARTS = ("Workers", "Infrastructure", "Development")
PAYABLE = "Liabilities:Payable:"
WORKERS_PAYABLE = "Liabilities:Payable:Workers:W"
WORKERS_ESCROW = "Liabilities:Escrow:Workers:W"


def payable_account(worker_id: uuid.UUID) -> str:
    return f"{WORKERS_PAYABLE}{worker_id.hex}"


def escrow_account(worker_id: uuid.UUID) -> str:
    return f"{WORKERS_ESCROW}{worker_id.hex}"


@dataclass(frozen=True)
class WorkerLine:
    worker_id: uuid.UUID
    name: str
    owner_id: uuid.UUID | None
    units: int
    amount: int
    hold: str | None = None  # why the share goes to escrow, if it does

    @property
    def escrowed(self) -> bool:
        return self.hold is not None


@dataclass
class CurrencyPlan:
    currency: str
    pool: int  # negative: refunds beyond donations, carried forward
    workers: int = 0
    infrastructure: int = 0
    development: int = 0
    lines: list[WorkerLine] = field(default_factory=list)
    releases: dict[uuid.UUID, int] = field(default_factory=dict)  # escrow paid out now
    held: int | None = None  # the escrowed total as a close recorded it (lines not read)

    @property
    def escrowed(self) -> int:
        if self.held is not None:
            return self.held
        return sum(line.amount for line in self.lines if line.escrowed)


@dataclass
class Plan:
    month: date
    contributors: int
    units: int
    split_bp: tuple[int, int, int]
    currencies: list[CurrencyPlan]
    note: str
    closed_at: datetime | None = None  # set once the month is closed
    digest: str | None = None

    @property
    def label(self) -> str:
        return months.label(self.month)


def _check_month(month: date, today: date, *, early: bool) -> None:
    this_month = date(today.year, today.month, 1)
    if month > this_month or (month == this_month and not early):
        raise InvalidInput(
            f"{months.label(month)} is not over yet; a month is distributed once it has ended"
            + ("" if month > this_month else " (or closed early on purpose: --early)"),
            slug="month-not-over",
        )


async def plan(session: AsyncSession, settings: Settings, month: date) -> Plan:
    """What closing `month` would post, computed from the ledger and the contributions
    (read only; the dry run and the transparency page's current month show it)."""
    last = await repo.last_closed_month(session)
    units = dict(await repo.units_by_worker(session, last, month))
    standing = {w.worker_id: w for w in await repo.standings(session)}
    end = months.end(month)
    donated = await repo.sums_by_account(
        session, DONATIONS, before=months.start(months.following(month))
    )
    distributed = await repo.sums_by_account(session, SHARES)
    pools: dict[str, int] = defaultdict(int)
    for (_, currency), amount in donated.items():
        pools[currency] -= amount
    for (_, currency), amount in distributed.items():
        pools[currency] -= amount
    workers = sorted(units, key=lambda w: w.hex)
    result = Plan(
        month=month,
        contributors=len(workers),
        units=sum(units.values()),
        split_bp=settings.economy_split_bp,
        currencies=[],
        note="",
    )
    if not workers:
        result.note = "no accepted work in this month: the pool waits for the next"
        result.currencies = [CurrencyPlan(c, p) for c, p in sorted(pools.items()) if p]
        return result
    escrow = await repo.sums_by_account(session, WORKERS_ESCROW)
    for currency, pool in sorted(pools.items()):
        if pool == 0:
            continue
        current = CurrencyPlan(currency, pool)
        result.currencies.append(current)
        current.releases = _releases(settings, escrow, currency, standing, end)
        if pool < 0:
            continue
        current.workers, current.infrastructure, current.development = largest_remainder(
            pool, settings.economy_split_bp
        )
        amounts = largest_remainder(current.workers, [units[w] for w in workers])
        current.lines = [
            _line(settings, w, standing.get(w), units[w], amount, end)
            for w, amount in zip(workers, amounts, strict=True)
        ]
    deficits = [c for c in result.currencies if c.pool < 0]
    result.note = "; ".join(
        f"refunds exceeded donations by {-c.pool} {c.currency} minor units: the deficit "
        "carries into the next month"
        for c in deficits
    )
    return result


def _line(
    settings: Settings,
    worker_id: uuid.UUID,
    worker: WorkerStanding | None,
    units: int,
    amount: int,
    at: datetime,
) -> WorkerLine:
    if worker is None:  # its contributions were counted before standings existed
        return WorkerLine(worker_id, worker_id.hex[:8], None, units, amount, "held: unknown worker")
    return WorkerLine(
        worker_id,
        worker.name,
        worker.owner_id,
        units,
        amount,
        contributions.hold_reason(settings, worker, at),
    )


def _releases(
    settings: Settings,
    escrow: dict[tuple[str, str], int],
    currency: str,
    standing: dict[uuid.UUID, WorkerStanding],
    at: datetime,
) -> dict[uuid.UUID, int]:
    """Escrow balances of workers that now qualify (escrow accounts hold negative balances:
    they are liabilities)."""
    released = {}
    for (account, held_currency), balance in escrow.items():
        if held_currency != currency or balance >= 0:
            continue
        worker_id = uuid.UUID(hex=account.removeprefix(WORKERS_ESCROW))
        worker = standing.get(worker_id)
        if worker is not None and contributions.hold_reason(settings, worker, at) is None:
            released[worker_id] = -balance
    return released


async def distribute(
    session: AsyncSession,
    settings: Settings,
    month: date,
    *,
    dry_run: bool = False,
    early: bool = False,
) -> Plan:
    """Close `month` (see the module's docstring); with `dry_run`, only say what it would
    post. A month already closed is read back, unchanged. `early` closes the current month
    before it ends (an operator's choice: what arrives later this month counts in the next,
    as anything arriving after a close does)."""
    await repo.lock_months(session, shared=False)
    closed = await read_close(session, month)
    if closed is not None:
        return closed
    last = await repo.last_closed_month(session)
    if last is not None and month < last:
        raise Conflict(
            f"{months.label(month)} was covered by the close of {months.label(last)}",
            slug="month-covered",
        )
    _check_month(month, now_utc().date(), early=early)
    result = await plan(session, settings, month)
    if dry_run:
        return result
    await _post(session, result)
    return result


async def _post(session: AsyncSession, result: Plan) -> None:
    label = result.label
    end = months.end(result.month)
    pools, shares, payouts = [], [], []
    for current in result.currencies:
        tx = None
        if current.lines:  # a pool to split, and someone to split it among
            tx = await money.record(session, _movement(label, current, end))
        if current.releases:
            await money.record(session, _release_movement(label, current, end))
        pools.append(
            {
                "month": result.month,
                "currency": current.currency,
                "pool": current.pool,
                "workers": current.workers,
                "infrastructure": current.infrastructure,
                "development": current.development,
                "escrowed": current.escrowed,
                "transaction_id": tx,
            }
        )
        shares += [
            {
                "month": result.month,
                "currency": current.currency,
                "worker_id": line.worker_id,
                "worker_name": line.name,
                "units": line.units,
                "amount": line.amount,
                "escrowed": line.escrowed,
            }
            for line in current.lines
        ]
        payouts += _payouts(result.month, current)
    result.digest = hashlib.sha256(
        (await money.month_postings_csv(session, result.month)).encode()
    ).hexdigest()
    result.closed_at = now_utc()
    close = {
        "month": result.month,
        "closed_at": result.closed_at,
        "contributors": result.contributors,
        "units": result.units,
        "split_bp": list(result.split_bp),
        "note": result.note,
        "digest": result.digest,
    }
    await repo.add_month(session, close, pools, shares, payouts)


def _movement(label: str, current: CurrencyPlan, end: datetime) -> Movement:
    c = current.currency
    legs = [
        Leg(f"{SHARES}{part}", amount, c)
        for part, amount in zip(
            PARTS, (current.workers, current.infrastructure, current.development), strict=True
        )
        if amount
    ]
    legs += [
        Leg(f"{PAYABLE}{part}", -amount, c)
        for part, amount in (
            ("Infrastructure", current.infrastructure),
            ("Development", current.development),
        )
        if amount
    ]
    legs += [
        Leg(
            escrow_account(line.worker_id) if line.escrowed else payable_account(line.worker_id),
            -line.amount,
            c,
        )
        for line in current.lines
        if line.amount
    ]
    return Movement(
        f"distribution of {label}: {current.pool} {c} minor units",
        legs,
        occurred_at=end,
        source=f"distribution:{label}:{c}",
    )


def _release_movement(label: str, current: CurrencyPlan, end: datetime) -> Movement:
    c = current.currency
    legs = []
    for worker_id, amount in sorted(current.releases.items(), key=lambda r: r[0].hex):
        legs += [
            Leg(escrow_account(worker_id), amount, c),
            Leg(payable_account(worker_id), -amount, c),
        ]
    return Movement(
        f"escrow released at the close of {label}",
        legs,
        occurred_at=end,
        source=f"escrow-release:{label}:{c}",
    )


def _payouts(month: date, current: CurrencyPlan) -> list[dict[str, object]]:
    owed: dict[uuid.UUID, int] = defaultdict(int)
    owners: dict[uuid.UUID, uuid.UUID | None] = {}
    for line in current.lines:
        owners[line.worker_id] = line.owner_id
        if not line.escrowed:
            owed[line.worker_id] += line.amount
    for worker_id, amount in current.releases.items():
        owed[worker_id] += amount
    return [
        {
            "id": uuid.uuid4(),
            "month": month,
            "currency": current.currency,
            "worker_id": worker_id,
            "owner_id": owners.get(worker_id),
            "amount": amount,
        }
        for worker_id, amount in sorted(owed.items(), key=lambda o: o[0].hex)
        if amount > 0
    ]


async def read_close(
    session: AsyncSession, month: date, *, with_shares: bool = True
) -> Plan | None:
    """A closed month as it was closed (its pools, and its shares unless not asked), or
    None."""
    close: MonthClose | None = await repo.month_close(session, month)
    if close is None:
        return None
    shares = await repo.month_shares(session, month) if with_shares else []
    currencies = []
    for pool in await repo.month_pools(session, month):
        currencies.append(
            CurrencyPlan(
                pool.currency,
                pool.pool,
                pool.workers,
                pool.infrastructure,
                pool.development,
                [
                    WorkerLine(
                        s.worker_id,
                        s.worker_name,
                        None,
                        s.units,
                        s.amount,
                        "escrow" if s.escrowed else None,
                    )
                    for s in shares
                    if s.currency == pool.currency
                ],
                held=pool.escrowed,
            )
        )
    split = close.split_bp
    return Plan(
        month=month,
        contributors=close.contributors,
        units=close.units,
        split_bp=(split[0], split[1], split[2]),
        currencies=currencies,
        note=close.note,
        closed_at=close.closed_at,
        digest=close.digest,
    )
