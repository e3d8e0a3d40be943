"""`atelier economy distribute` SIGKILLed in the middle of closing a month: nothing of the
close survives, and the rerun closes the month exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.economy.models import MoneyTransaction, MonthClose, Payout, Share
from tests.economy.helpers import SEPT, Ledger, at


def _distribute(ledger: Ledger) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "ATELIER_DATABASE_URL": ledger.url,
        "ATELIER_HOME": str(ledger.home),
        "ATELIER_ECONOMY_ESCROW_CANARIES": "0",
        "ATELIER_ECONOMY_ESCROW_DAYS": "0",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "atelier", "economy", "distribute", "2026-09"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def _waiting_on_a_lock(ledger: Ledger, deadline_s: float = 60) -> None:
    """Until another connection waits for a lock (the close, blocked at its payouts)."""
    start = time.monotonic()
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    while time.monotonic() - start < deadline_s:
        if await ledger.run(lambda s: s.scalar(query)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the distribution never reached its payouts")


async def test_a_close_killed_midway_is_completed_once_by_the_rerun(ledger: Ledger) -> None:
    workers = sorted((uuid.uuid4() for _ in range(5)), key=lambda w: w.hex)
    await ledger.donate(123_457, at(SEPT, 2))
    for n, worker in enumerate(workers, start=1):
        await ledger.work(worker, 1_000 * n, at(SEPT, n))

    # Hold the first worker's September payout key in an open transaction: the close writes
    # its postings, the month, its pools and shares, then blocks on that payout.
    async with ledger.sessions() as blocker, blocker.begin():
        await blocker.execute(
            text(
                "INSERT INTO economy_payouts (id, month, currency, worker_id, amount) "
                "VALUES (:id, :month, 'USD', :worker, 1)"
            ),
            {"id": uuid.uuid4(), "month": SEPT, "worker": workers[0]},
        )
        killed = _distribute(ledger)
        try:
            await _waiting_on_a_lock(ledger)
        finally:
            killed.send_signal(signal.SIGKILL)
            killed.wait(30)
        await blocker.rollback()
    assert killed.returncode == -signal.SIGKILL

    rerun = _distribute(ledger)
    output, _ = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, output
    assert "2026-09" in output and "month digest" in output

    async def counts(session: AsyncSession) -> tuple[int, ...]:
        distributions = select(func.count()).where(MoneyTransaction.source.like("distribution:%"))
        found = [
            await session.scalar(select(func.count()).select_from(model))
            for model in (MonthClose, Share, Payout)
        ]
        return (*(int(n or 0) for n in found), int(await session.scalar(distributions) or 0))

    assert await ledger.run(counts) == (1, 5, 5, 1)
    paid = await ledger.run(lambda s: s.scalar(select(func.sum(Payout.amount))))
    assert paid == 92_593  # 75% of 123,457 (92,592.75), to the cent
    again = _distribute(ledger)
    assert again.communicate(timeout=120)[0].count("closed") >= 1
    assert await ledger.run(counts) == (1, 5, 5, 1)
