"""The market's periodic work (the `market:tick` task, every few seconds): record what
Actions' transactions did on chain, settle auctions whose time is up, refund offers that
expired, follow NFTs that moved outside Atelier, execute what passed DAO proposals
decided. Each one is its own unit of work, so one that
fails (the chain refuses, a recipient has no account) is tried again next tick alone."""

from __future__ import annotations

from dataclasses import dataclass

from atelier.core.clock import now_utc
from atelier.core.errors import AppError
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.market import indexing, trading, treasury
from atelier.market import repository as repo

log = get_logger(__name__)


@dataclass
class TickReport:
    settled: int = 0
    refunded: int = 0
    failed: int = 0
    landed: int = 0
    moved: int = 0
    executed: int = 0


async def tick(runtime: Runtime) -> TickReport:
    report = TickReport()
    async with unit_of_work(runtime) as session:
        due = await repo.due_auctions(session, now_utc())
        expired = await repo.expired_offers(session, now_utc())
        pending = await repo.pending_intents(session)
    for intent_id in pending:  # first: a bid that landed counts before the auction closes
        try:
            async with unit_of_work(runtime) as session:
                if await indexing.settle_intent(session, runtime, intent_id) == "landed":
                    report.landed += 1
        except AppError as exc:
            report.failed += 1
            log.warning("market.intent_failed", intent=str(intent_id), reason=exc.detail)
    for listing_id in due:
        try:
            async with unit_of_work(runtime) as session:
                await trading.settle(session, runtime, listing_id)
            report.settled += 1
        except AppError as exc:
            report.failed += 1
            log.warning("market.settle_failed", listing=str(listing_id), reason=exc.detail)
    for offer_id in expired:
        try:
            async with unit_of_work(runtime) as session:
                await trading.close_offer(session, runtime, offer_id, None)
            report.refunded += 1
        except AppError as exc:
            report.failed += 1
            log.warning("market.refund_failed", offer=str(offer_id), reason=exc.detail)
    try:
        async with unit_of_work(runtime) as session:
            report.moved = await indexing.follow_owners(session, runtime)
    except AppError as exc:  # the chain does not answer: next tick
        report.failed += 1
        log.warning("market.follow_failed", reason=exc.detail)
    async with unit_of_work(runtime) as session:
        decided = await repo.actions_to_execute(session, now_utc())
    for proposal_id in decided:
        try:
            async with unit_of_work(runtime) as session:
                await treasury.execute(session, runtime, proposal_id)
            report.executed += 1
        except AppError as exc:
            report.failed += 1
            log.warning("market.treasury_failed", proposal=str(proposal_id), reason=exc.detail)
    return report
