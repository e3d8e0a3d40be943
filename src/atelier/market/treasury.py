"""The DAO's treasury: the reserve the platform fee goes to spends only what a passed
proposal says, once; a passed proposal can also set the platform fee.

Executing is permissionless and idempotent, like a Governor's `execute`: anyone (or the
market's periodic task) may ask, the proposal decides. The row in market_treasury_actions is
written first, keyed by the proposal, so two executions at once make one spend. A spend needs
the reserve's key: the platform holds it on the embedded runtime; on a cluster the reserve is
the operator's address, and a passed spend is for the operator to make (409
`treasury-not-held`).
"""

from __future__ import annotations

import uuid

from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.solana import programs
from atelier.chain.solana.keys import platform_keypair
from atelier.core import repository as rows
from atelier.core.errors import Conflict, NotFound
from atelier.core.runtime import Runtime
from atelier.economy import money
from atelier.governance import service as governance
from atelier.market import repository as repo
from atelier.market import trading
from atelier.market.models import TreasuryAction


async def execute(
    session: AsyncSession, runtime: Runtime, proposal_id: uuid.UUID
) -> TreasuryAction:
    done = await repo.treasury_action(session, proposal_id)
    if done is not None:
        return done
    proposal = await governance.get_proposal(session, proposal_id)
    if proposal.action is None:
        raise NotFound("this proposal does nothing to execute", slug="no-action")
    result = await governance.tally(session, proposal)
    if result.state != "closed":
        raise Conflict("the vote is still open", slug="vote-open")
    action = proposal.action
    record = TreasuryAction(proposal_id=proposal.id, kind=str(action["kind"]), outcome="executed")
    if result.outcome != "passed":
        record.outcome = str(result.outcome)
    elif record.kind == "market-fee":
        record.fee_bps = int(action["fee_bps"])
    else:
        record.to_address, record.lamports = str(action["to"]), int(action["lamports"])
    if not await rows.add_unique(session, record):  # executed at this very moment elsewhere
        found = await repo.treasury_action(session, proposal_id)
        assert found is not None
        return found
    if record.outcome == "executed" and record.kind == "treasury-spend":
        record.signature = await _spend(session, runtime, record)
    return record


async def _spend(session: AsyncSession, runtime: Runtime, record: TreasuryAction) -> str:
    market = await trading.market_of(runtime)
    reserve = platform_keypair(runtime.settings, "reserve")
    if reserve.pubkey() != market.reserve:
        raise Conflict(
            f"the reserve ({market.reserve_name}) is the operator's: they make this spend",
            slug="treasury-not-held",
        )
    assert record.to_address is not None
    assert record.lamports is not None
    lamports = int(record.lamports)
    rent = await market.client.rent_exempt(0)
    if await market.client.balance(reserve.pubkey()) < lamports + rent:
        raise Conflict("the reserve does not hold that much", slug="treasury-too-poor")
    signature = await trading.send(
        market,
        [
            programs.pay(reserve.pubkey(), Pubkey.from_string(record.to_address), lamports),
            programs.memo(f"atelier:treasury:{record.proposal_id}"),
        ],
        market.authority,
        reserve,
    )
    await money.record(
        session,
        money.Movement(
            f"treasury spend of proposal {record.proposal_id} to {record.to_address}",
            [
                money.Leg("Expenses:Market:Treasury", lamports, "SOL"),
                money.Leg("Assets:Market:Reserve", -lamports, "SOL"),
            ],
            source=f"solana:{signature}",
        ),
    )
    return signature
