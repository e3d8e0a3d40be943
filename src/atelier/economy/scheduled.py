"""The economy's runner work: sending pending payouts, one unit of work per payout around
the provider's call (payouts.py says why that is exactly-once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx

from atelier.core.errors import Conflict
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy import payouts
from atelier.economy.payouts import PayoutProvider, PayoutRefused


@dataclass
class SendReport:
    sent: int = 0
    failed: int = 0
    left: int = 0  # the provider could not be reached: still pending


async def send_payouts(
    runtime: Runtime, provider: PayoutProvider, month: date | None = None
) -> SendReport:
    report = SendReport()
    async with unit_of_work(runtime) as session:
        todo = await payouts.claims(session, provider.name, month)
    for claim in todo:
        async with unit_of_work(runtime) as session:
            payout = await payouts.claimed(session, claim.payout_id)
        if payout is None:
            continue  # sent meanwhile by another runner
        try:
            reference = await provider.transfer(payout, claim.destination)
        except PayoutRefused as exc:
            async with unit_of_work(runtime) as session:
                await payouts.mark_failed(session, payout.id, str(exc))
            report.failed += 1
            continue
        except httpx.HTTPError:
            report.left += 1
            continue
        try:
            async with unit_of_work(runtime) as session:
                await payouts.mark_sent(session, payout.id, provider.name, reference)
        except Conflict:
            continue  # another runner marked the same transfer first
        report.sent += 1
    return report
