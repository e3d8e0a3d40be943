"""The money ledger (decision 0016): double-entry, in integer minor units (cents), with a
currency on every posting (Open Collective's model; beancount's account names and types).

A movement is a balanced set of postings: in each currency they sum to zero. Nothing is ever
changed: a correction is a reversing movement (each transaction is reversed at most once),
and a movement with a `source` (a provider's event id, a month's distribution) is recorded
once however often it arrives. The database enforces both (append-only triggers, and a
deferred trigger that refuses an unbalanced transaction at commit). Balances are sums of
postings, never stored. `journal()` writes the ledger as a beancount file that `bean-check`
accepts; `postings_csv()` as a flat table.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.errors import Conflict, InvalidInput, NotFound
from atelier.economy import months
from atelier.economy import repository as repo
from atelier.economy.models import AccountKind, MoneyTransaction

# A cent amount this large is not money anyone moves through a donation platform (and it
# keeps every sum far inside a 64-bit integer).
MAX_MINOR_UNITS = 10**15
_ACCOUNT = re.compile(
    r"^(Assets|Liabilities|Income|Expenses|Equity)(:[A-Z0-9][A-Za-z0-9-]{0,60}){1,5}$"
)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Leg:
    """One posting of a movement: `amount` minor units (negative: out of the account)."""

    account: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Movement:
    description: str
    legs: list[Leg]
    occurred_at: datetime | None = None
    source: str | None = None  # what caused it, unique (idempotency)
    reverses: uuid.UUID | None = field(default=None)


def _problems(movement: Movement) -> list[str]:
    problems = []
    if len(movement.legs) < 2:
        problems.append("a movement has at least two postings")
    if not 1 <= len(movement.description) <= 500:
        problems.append("a description of 1 to 500 characters")
    totals: dict[str, int] = defaultdict(int)
    for leg in movement.legs:
        if not _ACCOUNT.match(leg.account):
            problems.append(f"{leg.account!r} is not an account name (e.g. Income:Donations)")
        if not _CURRENCY.match(leg.currency):
            problems.append(f"{leg.currency!r} is not a currency code (three capitals)")
        if isinstance(leg.amount, bool) or not isinstance(leg.amount, int):
            problems.append(f"{leg.amount!r} is not a whole number of minor units (cents)")
            continue
        if leg.amount == 0 or abs(leg.amount) > MAX_MINOR_UNITS:
            problems.append(f"{leg.amount} is zero or beyond {MAX_MINOR_UNITS} minor units")
        totals[leg.currency] += leg.amount
    problems += [f"the {c} postings sum to {t}, not 0" for c, t in totals.items() if t]
    return problems


async def record(session: AsyncSession, movement: Movement) -> uuid.UUID | None:
    """Post a balanced movement; its id, or None when its `source` was already recorded."""
    problems = _problems(movement)
    if problems:
        raise InvalidInput("; ".join(problems), slug="unbalanced-movement")
    names = list(dict.fromkeys(leg.account for leg in movement.legs))
    kinds = [AccountKind(name.split(":", 1)[0]).value for name in names]
    ids = await repo.account_ids(session, names, kinds)
    transaction = MoneyTransaction(
        id=uuid.uuid4(),
        occurred_at=await _dated(session, movement.occurred_at or now_utc()),
        description=movement.description,
        source=movement.source,
        reverses_id=movement.reverses,
    )
    postings = [
        {"account_id": ids[leg.account], "amount": leg.amount, "currency": leg.currency}
        for leg in movement.legs
    ]
    if not await repo.add_transaction(session, transaction, postings):
        return None
    return transaction.id


async def _dated(session: AsyncSession, occurred_at: datetime) -> datetime:
    """`occurred_at`, or the first instant of the first open month when it falls in a month
    already closed: a closed month's postings never change (a refund arriving after its
    month was distributed counts in the next month's pool)."""
    await repo.lock_months(session, shared=True)
    closed = await repo.last_closed_month(session)
    if closed is None:
        return occurred_at
    return max(occurred_at, months.start(months.following(closed)))


async def reverse(session: AsyncSession, transaction_id: uuid.UUID, why: str) -> uuid.UUID:
    """The reversing movement of a transaction (refunds, disputes, mistakes): the same
    postings with their signs turned, now. A transaction is reversed once."""
    found = await repo.money_transaction(session, transaction_id)
    if found is None:
        raise NotFound("no such money transaction", slug="transaction-not-found")
    original, legs = found
    movement = Movement(
        description=f"reverses {original.id}: {why}"[:500],
        legs=[Leg(account, -amount, currency) for account, amount, currency in legs],
        reverses=original.id,
    )
    reversal = await record(session, movement)
    if reversal is None:
        raise Conflict("this transaction was already reversed", slug="already-reversed")
    return reversal


async def balances(session: AsyncSession, at: datetime | None = None) -> dict[tuple[str, str], int]:
    return await repo.balances(session, at)


def decimal(amount: int, currency: str = "", *, grouping: bool = False) -> str:
    """Minor units as an exact decimal amount: "-1234.05 USD" (the journal's form), or
    "-1,234.05 USD" with `grouping` (pages and tables); no currency, no suffix."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    whole = f"{units:,}" if grouping else str(units)
    return f"{sign}{whole}.{cents:02d}" + (f" {currency}" if currency else "")


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


async def journal(session: AsyncSession) -> str:
    """The whole money ledger in beancount's syntax (two-decimal currencies): `open`
    directives, then every transaction with its postings, in the order they happened."""
    opened = await repo.accounts(session)
    lines = ['option "title" "Atelier money ledger"', ""]
    rows = await repo.journal_rows(session)
    start = (rows[0][1] if rows else now_utc()).date().isoformat()
    lines += [f"{start} open {account.name}" for account in opened]
    current = None
    for tx_id, occurred, description, source, reverses, account, amount, currency in rows:
        if tx_id != current:
            current = tx_id
            lines += ["", f"{occurred.date().isoformat()} * {_quoted(description)}"]
            lines.append(f"  id: {_quoted(str(tx_id))}")
            if source:
                lines.append(f"  source: {_quoted(source)}")
            if reverses:
                lines.append(f"  reverses: {_quoted(str(reverses))}")
        lines.append(f"  {account}  {decimal(amount, currency)}")
    return "\n".join(lines) + "\n"


async def postings_csv(session: AsyncSession) -> str:
    """Every posting, one row each, amounts in minor units (an auditor's spreadsheet)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        [
            "transaction",
            "occurred_at",
            "description",
            "source",
            "reverses",
            "account",
            "amount_minor",
            "currency",
        ]
    )
    for row in await repo.journal_rows(session):
        tx_id, occurred, description, source, reverses, account, amount, currency = row
        writer.writerow(
            [
                tx_id,
                occurred.isoformat(),
                description,
                source or "",
                reverses or "",
                account,
                amount,
                currency,
            ]
        )
    return out.getvalue()


MONTH_CSV_COLUMNS = ["transaction", "occurred_at", "kind", "account", "amount_minor", "currency"]


async def month_postings_csv(session: AsyncSession, month: date) -> str:
    """The public postings of a month: every posting of the transactions dated in it, with
    what kind of movement it was (the source's prefix: stripe, github, distribution…) but no
    descriptions (they may name a sponsor). A closed month's file never changes (postings
    are append-only and nothing is dated into a closed month), so its sha256 is the digest
    the month was published with."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MONTH_CSV_COLUMNS)
    rows = await repo.month_posting_rows(
        session, months.start(month), months.start(months.following(month))
    )
    for tx_id, occurred, source, account, amount, currency in rows:
        kind = (source or "manual").split(":", 1)[0]
        writer.writerow([tx_id, occurred.isoformat(), kind, account, amount, currency])
    return out.getvalue()
