"""Making votes permanent on chain, and reading the chain back.

- `mirror_proposals` creates each relayable proposal on `SoulvanUpgradeVoting` with the same
  snapshot block, a window that ends `chain_relay_grace_s` after the off-chain one, and the
  same quorum.
- `relay_votes` submits final signed votes with `voteBySig`: the voter's own signature, the
  relayer's gas. A vote is final when the proposal forbids changes, or its window closed.
- `sync_chain` runs the reorg-safe indexer and applies what it read, in one transaction:
  a relayed vote becomes `confirmed`; a vote cast directly on chain is stored with its
  transaction as proof; logs a reorg removed undo exactly what they did (a relayed vote goes
  back to `pending` and is relayed again; a chain-only vote is deleted), so no phantom votes.
  `UpgradeApplied` emits `governance.upgrade_applied`, which personalizes the job.
- `apply_due` calls `applyUpgrade` once a mirrored proposal's on-chain window has passed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.evm import indexer
from atelier.chain.evm.client import EvmChain, TransactionReverted, chain_for
from atelier.chain.evm.models import ChainLog
from atelier.core import events, ratelimit, repository
from atelier.core.clock import now_utc
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.governance import repository as repo
from atelier.governance.events import UpgradeApplied
from atelier.governance.models import (
    ChainOutcome,
    ChainStatus,
    Proposal,
    RelayStatus,
    Vote,
    VoteSource,
)
from atelier.identity.service import wallets

log = get_logger(__name__)


@dataclass
class ChainReport:
    mirrored: int = 0
    relayed: int = 0
    failed: int = 0
    added: int = 0
    removed: int = 0
    reorg_at: int | None = None
    applied: int = 0


NOT_VERIFIED = (
    "not relayed: the wallet is not linked to a verified account (link it to one, or vote on "
    "chain yourself)"
)
BUDGET_SPENT = "not relayed: the account's relay budget for today is spent"


async def _within_budget(runtime: Runtime, user_id: uuid.UUID | None) -> bool:
    """One relayer-paid transaction against the account's daily budget (none for the
    platform's own, authorless proposals)."""
    if user_id is None:
        return True
    budget = runtime.settings.chain_relay_budget_daily
    decision = await ratelimit.hit(runtime.sessions, f"relay:{user_id}", budget, 86_400)
    return decision.allowed


async def mirror_proposals(session: AsyncSession, runtime: Runtime, report: ChainReport) -> None:
    chain = await chain_for(runtime)
    for proposal in await repo.proposals_to_mirror(session, limit=50):
        assert proposal.chain_vote_end is not None
        assert proposal.snapshot_block is not None
        if not await _within_budget(runtime, proposal.author_id):
            log.warning("governance.mirror_over_budget", proposal=str(proposal.id))
            proposal.chain_status = ChainStatus.OFF
            continue
        vote_end = int(proposal.chain_vote_end.timestamp())
        if proposal.strategy == "verified-wallets":  # only the relayer's votes count on chain
            call = chain.voting.functions.createRelayedProposal(
                proposal.chain_key, proposal.snapshot_block, vote_end, int(proposal.quorum)
            )
        else:
            call = chain.voting.functions.createProposalWithWindow(
                proposal.chain_key,
                proposal.snapshot_block,
                vote_end,
                proposal.strategy == "erc20",
                int(proposal.quorum),
            )
        try:
            await chain.run(partial(EvmChain.transact, call=call))
        except TransactionReverted as exc:
            if exc.error != "ProposalExists":
                log.warning("governance.mirror_failed", proposal=str(proposal.id), error=exc.error)
                proposal.chain_status = ChainStatus.OFF
                continue
        proposal.chain_status = ChainStatus.MIRRORED
        report.mirrored += 1


async def relay_votes(session: AsyncSession, runtime: Runtime, report: ChainReport) -> None:
    chain = await chain_for(runtime)
    for vote in await repo.votes_to_relay(session, now_utc(), limit=100):
        proposal = await repo.proposal(session, vote.proposal_id)
        assert proposal is not None
        assert vote.signature is not None
        # The relayer's gas is for people, not for any key: a wallet of a verified account,
        # within that account's daily budget.
        owner = await wallets.verified_owner(session, "evm", vote.voter)
        if owner is None or not await _within_budget(runtime, owner):
            vote.relay_status = RelayStatus.OFF
            vote.relay_error = NOT_VERIFIED if owner is None else BUDGET_SPENT
            continue
        call = chain.voting.functions.voteBySig(
            proposal.chain_key,
            vote.voter,
            vote.choice,
            vote.reason,
            vote.signed_timestamp,
            bytes.fromhex(vote.signature.removeprefix("0x")),
        )
        try:
            receipt = await chain.run(partial(EvmChain.transact, call=call))
        except TransactionReverted as exc:
            vote.relay_status, vote.relay_error = RelayStatus.FAILED, exc.error[:200]
            report.failed += 1
            continue
        vote.relay_status, vote.relay_error = RelayStatus.SENT, None
        vote.relay_tx_hash = receipt["transactionHash"].to_0x_hex()
        report.relayed += 1


async def _proposal_of(session: AsyncSession, row: ChainLog) -> Proposal | None:
    """Our proposal a log is about (None for other events, e.g. OwnershipTransferred)."""
    key = row.args.get("jobId")
    if key is None:
        return None
    return await repo.proposal_by_chain_key(session, bytes.fromhex(str(key).removeprefix("0x")))


async def _undo(session: AsyncSession, row: ChainLog) -> None:
    proposal = await _proposal_of(session, row)
    if proposal is None:
        return
    if row.event == "ProposalCreated" and proposal.chain_status == ChainStatus.MIRRORED:
        proposal.chain_status = ChainStatus.PENDING
    elif row.event in ("UpgradeApplied", "UpgradeRejected"):
        proposal.chain_outcome = None
    elif row.event == "VoteCast":
        vote = await repo.vote_of(session, proposal.id, str(row.args["voter"]))
        if vote is None or vote.chain_tx_hash != row.tx_hash:
            return
        if vote.source == VoteSource.CHAIN:
            await repository.remove(session, vote)
        else:
            vote.relay_status, vote.chain_tx_hash, vote.chain_block = (
                RelayStatus.PENDING,
                None,
                None,
            )
            vote.relay_tx_hash = None


async def _apply(session: AsyncSession, row: ChainLog) -> None:
    proposal = await _proposal_of(session, row)
    if proposal is None:  # not about a proposal of ours: kept in the log only
        return
    if row.event == "ProposalCreated":
        if proposal.chain_status == ChainStatus.PENDING:
            proposal.chain_status = ChainStatus.MIRRORED
    elif row.event == "UpgradeApplied":
        proposal.chain_outcome = ChainOutcome.APPLIED
        applied = UpgradeApplied(
            proposal_id=proposal.id,
            job_id=proposal.job_id,
            approve=str(row.args["approveWeight"]),
            reject=str(row.args["rejectWeight"]),
            tx_hash=row.tx_hash,
        )
        await events.emit(session, applied)
    elif row.event == "UpgradeRejected":
        proposal.chain_outcome = ChainOutcome.REJECTED
    elif row.event == "VoteCast":
        voter = str(row.args["voter"])
        vote = await repo.vote_of(session, proposal.id, voter)
        if vote is None:  # cast directly on chain: the transaction is its proof
            direct = Vote(
                proposal_id=proposal.id,
                voter=voter,
                choice="approve" if row.args["approve"] else "reject",
                reason=str(row.args["reason"]),
                power=Decimal(int(row.args["weight"])),
                source=VoteSource.CHAIN,
                relay_status=RelayStatus.CONFIRMED,
                chain_tx_hash=row.tx_hash,
                chain_block=row.block_number,
            )
            await repository.add(session, direct)
        else:
            vote.relay_status, vote.relay_error = RelayStatus.CONFIRMED, None
            vote.chain_tx_hash, vote.chain_block = row.tx_hash, row.block_number


async def sync_chain(session: AsyncSession, runtime: Runtime, report: ChainReport) -> None:
    chain = await chain_for(runtime)
    batch = await indexer.poll(
        session,
        chain,
        chain.voting,
        confirmations=runtime.settings.chain_confirmations,
        start_block=chain.deployment.deploy_block,
    )
    for row in sorted(batch.removed, key=lambda r: (r.block_number, r.log_index), reverse=True):
        await _undo(session, row)
    for row in batch.added:
        await _apply(session, row)
    report.added += len(batch.added)
    report.removed += len(batch.removed)
    if batch.reorg_at is not None:
        report.reorg_at = batch.reorg_at


def _chain_time(chain: EvmChain) -> datetime:
    return datetime.fromtimestamp(int(chain.w3.eth.get_block("latest")["timestamp"]), UTC)


async def apply_due(session: AsyncSession, runtime: Runtime, report: ChainReport) -> None:
    chain = await chain_for(runtime)
    # The latest block's time lags on a chain that mines only on demand (the embedded one);
    # the next block, the one applyUpgrade lands in, is stamped now. A proposal tried too
    # early reverts in gas estimation (VotingOpen), which costs nothing, and is tried again.
    chain_now = max(await chain.run(_chain_time), now_utc())
    for proposal in await repo.proposals_to_apply(session, chain_now):
        call = chain.voting.functions.applyUpgrade(proposal.chain_key)
        try:
            await chain.run(partial(EvmChain.transact, call=call))
        except TransactionReverted as exc:
            if exc.error not in ("AlreadyFinalized", "VotingOpen"):
                log.warning("governance.apply_failed", proposal=str(proposal.id), error=exc.error)
            continue
        report.applied += 1


# One round of relaying and indexing; the task runs each step in its own transaction.
STEPS = (mirror_proposals, relay_votes, sync_chain, apply_due, sync_chain)
