"""The money ledger: balanced, append-only (the database refuses changes), reversals once,
sources recorded once, and a journal an independent checker (beancount) accepts."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from beancount import loader
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from atelier.core.errors import Conflict, InvalidInput
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import money
from atelier.economy.money import Leg, Movement

DONATION = [
    Leg("Assets:Clearing:Stripe", 2500, "USD"),
    Leg("Income:Donations", -2500, "USD"),
]


async def _record(runtime: Runtime, movement: Movement) -> uuid.UUID | None:
    async with unit_of_work(runtime) as session:
        return await money.record(session, movement)


async def test_a_donation_posts_and_balances_are_sums(runtime: Runtime) -> None:
    async with unit_of_work(runtime) as session:
        before = await money.balances(session)
    source = f"stripe:evt_{uuid.uuid4().hex}"
    first = await _record(runtime, Movement("Stripe donation", DONATION, source=source))
    assert first is not None
    assert await _record(runtime, Movement("Stripe donation", DONATION, source=source)) is None
    async with unit_of_work(runtime) as session:
        after = await money.balances(session)
    key = ("Income:Donations", "USD")
    assert after[key] - before.get(key, 0) == -2500  # recorded once


@pytest.mark.parametrize(
    ("legs", "said"),
    [
        ([Leg("Assets:Cash", 100, "USD"), Leg("Income:Donations", -99, "USD")], "sum to 1"),
        ([Leg("Assets:Cash", 100, "USD")], "at least two"),
        ([Leg("Assets:Cash", 10**16, "USD"), Leg("Income:X", -(10**16), "USD")], "beyond"),
        ([Leg("Assets:Cash", 0, "USD"), Leg("Income:X", 0, "USD")], "zero"),
        ([Leg("Assets:Cash", 1.5, "USD"), Leg("Income:X", -1.5, "USD")], "whole number"),  # type: ignore[arg-type]
        ([Leg("Assets:Cash", 100, "usd"), Leg("Income:X", -100, "usd")], "currency code"),
        ([Leg("Cash", 100, "USD"), Leg("Income:X", -100, "USD")], "not an account name"),
        ([Leg("Assets:Cash", 100, "USD"), Leg("Income:X", -100, "EUR")], "USD postings"),
    ],
)
async def test_bad_movements_are_refused_whole(
    runtime: Runtime, legs: list[Leg], said: str
) -> None:
    with pytest.raises(InvalidInput, match=said):
        await _record(runtime, Movement("bad", legs))


async def test_the_database_refuses_changes_and_unbalanced_rows(runtime: Runtime) -> None:
    """Whatever writes SQL directly: postings cannot be changed or removed, and a transaction
    whose postings do not balance does not commit."""
    tx = await _record(runtime, Movement("a gift", DONATION))
    for statement in (
        "UPDATE money_postings SET amount = amount * 2 WHERE transaction_id = :t",
        "DELETE FROM money_postings WHERE transaction_id = :t",
        "UPDATE money_transactions SET description = 'changed' WHERE id = :t",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with runtime.sessions() as session, session.begin():
                await session.execute(text(statement), {"t": tx})
    with pytest.raises(DBAPIError, match="does not balance"):
        await _write_one_sided(runtime)


async def _write_one_sided(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        lone = uuid.uuid4()
        await session.execute(
            text(
                "INSERT INTO money_transactions (id, occurred_at, description) "
                "VALUES (:t, now(), 'lonely')"
            ),
            {"t": lone},
        )
        account = await session.scalar(text("SELECT id FROM money_accounts LIMIT 1"))
        await session.execute(
            text(
                "INSERT INTO money_postings (transaction_id, account_id, amount, currency) "
                "VALUES (:t, :a, 100, 'USD')"
            ),
            {"t": lone, "a": account},
        )


async def test_a_refund_is_a_reversing_entry_made_once(runtime: Runtime) -> None:
    tx = await _record(runtime, Movement("to be refunded", DONATION))
    assert tx is not None
    results = await asyncio.gather(
        *(_reverse(runtime, tx) for _ in range(5)), return_exceptions=True
    )
    reversals = [r for r in results if isinstance(r, uuid.UUID)]
    assert len(reversals) == 1  # five concurrent refunds of one payment: one reversal
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, uuid.UUID))
    async with unit_of_work(runtime) as session:
        journal = await money.journal(session)
    assert f'reverses: "{tx}"' in journal


async def _reverse(runtime: Runtime, tx: uuid.UUID) -> uuid.UUID:
    async with unit_of_work(runtime) as session:
        return await money.reverse(session, tx, "refunded by Stripe")


async def test_the_journal_is_accepted_by_beancount_and_agrees(runtime: Runtime, tmp_path) -> None:  # type: ignore[no-untyped-def]
    await _record(
        runtime,
        Movement(
            'split "march"',
            [
                Leg("Income:Donations", 10001, "EUR"),
                Leg("Liabilities:Payable:Workers:Rig-7", -7501, "EUR"),
                Leg("Expenses:Infrastructure", -1500, "EUR"),
                Leg("Expenses:Development", -1000, "EUR"),
            ],
            occurred_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
    )
    async with unit_of_work(runtime) as session:
        journal = await money.journal(session)
        balances = await money.balances(session)
        table = await money.postings_csv(session)
    path = tmp_path / "ledger.beancount"
    path.write_text(journal)
    entries, errors, _ = loader.load_file(str(path))
    assert errors == [], [e.message for e in errors]
    assert len([e for e in entries if type(e).__name__ == "Transaction"]) >= 3
    checked: dict[tuple[str, str], int] = {}
    for entry in entries:
        for posting in getattr(entry, "postings", []):
            key = (posting.account, posting.units.currency)
            checked[key] = checked.get(key, 0) + int(posting.units.number * 100)
    assert {k: v for k, v in checked.items() if v} == {k: v for k, v in balances.items() if v}
    assert table.splitlines()[0].startswith("transaction,occurred_at,description")
    assert "Liabilities:Payable:Workers:Rig-7,-7501,EUR" in table


def test_the_cli_writes_the_journal(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.servers import atelier_env

    env = atelier_env(tmp_path, database_url)
    journal = subprocess.run(
        [sys.executable, "-m", "atelier", "economy", "journal"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert journal.stdout.startswith('option "title" "Atelier money ledger"')
    path = tmp_path / "out.beancount"
    path.write_text(journal.stdout)
    assert loader.load_file(str(path))[1] == []
    listing = subprocess.run(
        [sys.executable, "-m", "atelier", "economy", "balances"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "Income:Donations" in listing.stdout
