"""The monthly distribution on the ledger: 75/15/10 and the workers' part by work units,
exact to the cent; closed once; refunds after a close carried forward, never a negative
payout; a month without contributors waits; escrow for new workers and flagged ones."""

from __future__ import annotations

import uuid
from datetime import date
from typing import TypeVar

import pytest
from beancount import loader
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.errors import Conflict, InvalidInput
from atelier.economy import distribution, money
from atelier.economy.models import MoneyTransaction, Payout, WorkerStanding
from atelier.economy.split import largest_remainder
from tests.economy.helpers import NOV, OCT, SEPT, Ledger, at

T = TypeVar("T")


@given(
    st.integers(min_value=0, max_value=10**15),
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=1, max_size=40).filter(any),
)
def test_largest_remainder_is_exact_and_within_a_cent(total: int, weights: list[int]) -> None:
    parts = largest_remainder(total, weights)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = total * weight / sum(weights)
        assert abs(part - exact) < 1 + 1e-6 * max(1, exact)
        assert part >= 0


async def test_a_month_splits_to_the_cent_and_closes_once(ledger: Ledger) -> None:
    await ledger.donate(100_001, at(SEPT, 3))
    await ledger.donate(5_000, at(SEPT, 28))
    await ledger.donate(7_77, at(SEPT, 5), currency="EUR")
    a, b, c = sorted((uuid.uuid4() for _ in range(3)), key=lambda w: w.hex)
    await ledger.work(a, 1_000, at(SEPT, 1), "alpha")
    await ledger.work(b, 2_000, at(SEPT, 2), "beta")
    await ledger.work(c, 3_000, at(SEPT, 30), "gamma")
    await ledger.work(c, 9_999, at(OCT, 1), "gamma")  # October's, not September's

    dry = await ledger.distribute(SEPT, dry_run=True)
    assert await ledger.count(MoneyTransaction) == 3  # a dry run posts nothing
    usd = next(p for p in dry.currencies if p.currency == "USD")
    assert (usd.pool, usd.workers, usd.infrastructure, usd.development) == (
        105_001,
        78_751,  # 78,750.75 → the largest remainder gets the cent
        15_750,
        10_500,
    )
    assert [line.amount for line in usd.lines] == [13_125, 26_250, 39_376]
    assert sum(line.amount for line in usd.lines) == usd.workers

    closed = await ledger.distribute(SEPT)
    assert closed.digest is not None and len(closed.digest) == 64
    again = await ledger.distribute(SEPT)  # the cron's rerun
    assert again.digest == closed.digest and again.closed_at == closed.closed_at
    assert await ledger.count(MoneyTransaction) == 5  # 3 donations + USD and EUR splits
    eur = next(p for p in again.currencies if p.currency == "EUR")
    assert sum(line.amount for line in eur.lines) == eur.workers == 583
    payouts = await ledger.run(lambda s: s.scalars(select(Payout).order_by(Payout.amount)))
    assert sum(p.amount for p in payouts.all()) == 78_751 + 583

    balances = await ledger.run(money.balances)
    assert balances[("Expenses:Shares:Workers", "USD")] == 78_751
    assert balances[(distribution.payable_account(c), "USD")] == -39_376
    journal = await ledger.run(money.journal)
    entries, errors, _ = loader.load_string(journal)
    assert errors == [] and len(entries) > 5

    # the month is closed: a donation dated in it lands in October, and so does late work
    await ledger.donate(1_000, at(SEPT, 10))
    await ledger.work(a, 500, at(SEPT, 10), "alpha")
    assert (await ledger.distribute(SEPT)).digest == closed.digest
    october = await ledger.distribute(OCT, dry_run=True)
    assert october.units == 9_999 + 500
    assert next(p for p in october.currencies if p.currency == "USD").pool == 1_000


async def test_a_refund_after_the_close_is_carried_never_paid_negative(ledger: Ledger) -> None:
    worker = uuid.uuid4()
    await ledger.donate(50_000, at(SEPT, 3))
    await ledger.work(worker, 1_000, at(SEPT, 4))
    await ledger.distribute(SEPT)
    await ledger.refund(80_000, at(OCT, 2))  # a dispute took more than October brought
    await ledger.work(worker, 1_000, at(OCT, 4))
    october = await ledger.distribute(OCT)
    assert october.currencies[0].pool == -80_000
    assert october.currencies[0].lines == [] and "deficit" in october.note
    await ledger.donate(100_000, at(NOV, 1))
    await ledger.work(worker, 1_000, at(NOV, 4))
    november = await ledger.distribute(NOV)
    assert november.currencies[0].pool == 20_000  # 100,000 less the 80,000 deficit
    payouts = await ledger.run(lambda s: s.scalars(select(Payout.amount)))
    assert sorted(payouts.all()) == [15_000, 37_500]  # never a negative payout


async def test_a_month_without_contributors_waits(ledger: Ledger) -> None:
    await ledger.donate(10_000, at(SEPT, 3))
    september = await ledger.distribute(SEPT)
    assert "pool waits" in september.note
    assert await ledger.count(MoneyTransaction) == 1  # nothing posted
    await ledger.work(uuid.uuid4(), 10, at(OCT, 4))
    october = await ledger.distribute(OCT)
    assert october.currencies[0].pool == 10_000 and october.currencies[0].workers == 7_500


async def test_months_close_in_order_and_only_once_over(ledger: Ledger) -> None:
    await ledger.distribute(OCT)
    with pytest.raises(Conflict, match="covered by the close of 2026-10"):
        await ledger.distribute(SEPT)
    with pytest.raises(InvalidInput, match="not over yet"):
        await ledger.distribute(date(2099, 1, 1))


@pytest.mark.parametrize("ledger", [{"economy_escrow_days": 30}], indirect=True)
async def test_a_new_workers_share_waits_in_escrow_then_is_released(ledger: Ledger) -> None:
    veteran, newcomer = uuid.uuid4(), uuid.uuid4()
    await ledger.donate(40_000, at(SEPT, 1))
    await ledger.work(veteran, 1_000, at(date(2026, 7, 1), 1))
    await ledger.distribute(date(2026, 7, 1))  # July: no donations yet
    await ledger.work(veteran, 1_000, at(SEPT, 2))
    await ledger.work(newcomer, 1_000, at(SEPT, 20))
    september = await ledger.distribute(SEPT)
    lines = {line.worker_id: line for line in september.currencies[0].lines}
    assert lines[veteran].hold is None
    assert lines[newcomer].escrowed and lines[newcomer].amount == 15_000
    assert september.currencies[0].escrowed == 15_000
    payouts = await ledger.run(lambda s: s.scalars(select(Payout.worker_id)))
    assert payouts.all() == [veteran]

    await ledger.work(newcomer, 1_000, at(OCT, 25))  # first seen Sept 20: 30 days by Oct 31
    await ledger.donate(20_000, at(OCT, 3))
    await ledger.distribute(OCT)
    owed = await ledger.run(
        lambda s: s.scalars(select(Payout.amount).where(Payout.worker_id == newcomer))
    )
    assert owed.all() == [15_000 + 15_000]  # October's share and September's escrow
    balances = await ledger.run(money.balances)
    assert balances.get((distribution.escrow_account(newcomer), "USD"), 0) == 0


async def test_a_flagged_workers_share_is_held(ledger: Ledger) -> None:
    honest, cheat = uuid.uuid4(), uuid.uuid4()
    await ledger.donate(10_000, at(SEPT, 1))
    await ledger.work(honest, 1_000, at(SEPT, 2))
    await ledger.work(cheat, 1_000, at(SEPT, 2))

    async def flag(session: AsyncSession) -> None:
        standing = await session.get(WorkerStanding, cheat)
        assert standing is not None
        standing.flagged_reason = "canary output did not match"

    await ledger.run(flag)
    september = await ledger.distribute(SEPT)
    held = next(line for line in september.currencies[0].lines if line.worker_id == cheat)
    assert held.hold == "held: canary output did not match"
    assert sum(line.amount for line in september.currencies[0].lines) == 7_500
