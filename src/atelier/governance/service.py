"""Proposals, signed votes and tallies (DESIGN.md section 6.4; anchors Snapshot, Governor).

A vote is accepted only if its EIP-712 signature recovers the voter under the voting
contract's domain, the window is open, its signed timestamp is not in the future, and the
voter has power at the snapshot. One vote per (voter, proposal) is enforced by a unique
constraint, so concurrent copies of one vote store exactly one row; a later vote replaces
the stored one only if the proposal allows changes and it was signed later (an old signed
vote replayed is refused).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncSession
from web3 import Web3

from atelier.chain.evm.client import EvmChain
from atelier.chain.solana.client import SolanaClient
from atelier.core import repository
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.db import HotConnection
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from atelier.core.signatures import canonical_signature
from atelier.governance import ballots
from atelier.governance import repository as repo
from atelier.governance.ballots import BadSignature, Ballot, Domain
from atelier.governance.models import (
    BINARY_CHOICES,
    MAJORITIES,
    STRATEGIES,
    ChainStatus,
    Proposal,
    RelayStatus,
    Tally,
    Terms,
    Vote,
    VoteSource,
)
from atelier.governance.strategies import voting_power
from atelier.grid import service as grid
from atelier.identity.principal import Principal
from atelier.identity.service import accounts, wallets

MAX_CHOICES = 10


def chain_key(some_id: uuid.UUID) -> bytes:
    """A UUID as the bytes32 the contract and the vote message use (left-aligned)."""
    return some_id.bytes + bytes(16)


def vote_domain(chain: EvmChain) -> Domain:
    return Domain(chain.chain_id, chain.deployment.voting)


def checksum(wallet: str) -> str:
    try:
        return str(Web3.to_checksum_address(wallet))
    except ValueError:
        raise InvalidInput(
            f"{wallet!r} is not an EVM address (0x + 40 hex)",
            slug="invalid-wallet",
            extra={"errors": [{"loc": ["body", "wallet"], "msg": "not an EVM address"}]},
        ) from None


@dataclass(frozen=True)
class ProposalSpec:
    title: str
    body: str = ""
    choices: tuple[str, ...] = tuple(BINARY_CHOICES)
    strategy: str = "one-wallet-one-vote"
    strategy_params: dict[str, Any] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    quorum: Decimal = Decimal(0)
    majority: str = "simple"
    allow_vote_change: bool = False
    action: dict[str, Any] | None = None


ACTIONS = ("treasury-spend", "market-fee")
MAX_LAMPORTS = 2**64 - 1


def _solana_address(value: object) -> str | None:
    try:
        return str(Pubkey.from_string(str(value)))
    except ValueError:
        return None


def _action_problems(spec: ProposalSpec, choices: tuple[str, ...]) -> list[tuple[str, str]]:
    """What passing the proposal would do, checked now (not when it is executed)."""
    action = spec.action
    if action is None:
        return []
    problems = []
    kind = action.get("kind")
    if kind not in ACTIONS:
        problems.append(("action", f"kind is one of {', '.join(ACTIONS)}"))
    if list(choices) != BINARY_CHOICES:
        problems.append(("action", "a proposal that acts is approve/reject"))
    if kind == "treasury-spend":
        lamports = action.get("lamports")
        if _solana_address(action.get("to")) is None:
            problems.append(("action", "to is a Solana address"))
        if (
            not isinstance(lamports, int)
            or isinstance(lamports, bool)
            or not 0 < lamports <= MAX_LAMPORTS
        ):
            problems.append(("action", "lamports is a whole number from 1 to 2^64 - 1"))
    if kind == "market-fee":
        fee = action.get("fee_bps")
        if not isinstance(fee, int) or isinstance(fee, bool) or not 0 <= fee <= 10_000:
            problems.append(("action", "fee_bps is a whole number from 0 to 10000"))
    return problems


def _checked_spec(spec: ProposalSpec, starts: datetime, ends: datetime) -> ProposalSpec:
    """`spec` checked, with its choices in their stored form (trimmed, lower case) and its
    token checksummed, so what is stored and what decides relaying are the same values."""
    problems: list[tuple[str, str]] = []
    choices = tuple(c.strip().lower() for c in spec.choices)
    if not 2 <= len(choices) <= MAX_CHOICES or len(set(choices)) != len(choices):
        problems.append(("choices", f"2 to {MAX_CHOICES} distinct choices"))
    if any(not c or len(c) > 40 for c in choices):
        problems.append(("choices", "each choice is 1 to 40 characters"))
    if spec.strategy not in STRATEGIES:
        problems.append(("strategy", f"one of {', '.join(STRATEGIES)}"))
    params = dict(spec.strategy_params or {})
    if spec.strategy == "quadratic" and params.get("base", "erc20") not in ("erc20", "ledger"):
        problems.append(("strategy_params", "quadratic's base is erc20 or ledger"))
    if spec.strategy == "spl" and _solana_address(params.get("mint")) is None:
        problems.append(("strategy_params", "spl needs mint: the SPL token's address"))
    problems += _action_problems(spec, choices)
    if "token" in params:
        if Web3.is_address(str(params["token"])):
            params["token"] = Web3.to_checksum_address(str(params["token"]))
        else:
            problems.append(("strategy_params", "token is an EVM address (0x + 40 hex)"))
    if spec.majority not in MAJORITIES:
        problems.append(("majority", f"one of {', '.join(MAJORITIES)}"))
    if ends <= starts or ends <= now_utc():
        problems.append(("ends_at", "the window must end after it starts, in the future"))
    if spec.quorum < 0:
        problems.append(("quorum", "not negative"))
    if problems:
        raise InvalidInput(
            "; ".join(f"{field}: {msg}" for field, msg in problems),
            slug="invalid-proposal",
            extra={"errors": [{"loc": ["body", f], "msg": m} for f, m in problems]},
        )
    return replace(spec, choices=choices, strategy_params=params)


CHAIN_STRATEGIES = ("one-wallet-one-vote", "verified-wallets", "erc20")


def _relayable(spec: ProposalSpec, settings: Settings, chain: EvmChain) -> bool:
    """On chain, weights are 1 per wallet or the contract's own token at the snapshot; a
    proposal whose power comes from elsewhere (the ledger, another token, square roots)
    or with other choices than approve/reject is kept off chain."""
    token = (spec.strategy_params or {}).get("token")
    same_token = token is None or str(token).lower() == chain.deployment.token.lower()
    return (
        settings.chain_relay
        and list(spec.choices) == BINARY_CHOICES
        and spec.strategy in CHAIN_STRATEGIES
        and (spec.strategy != "erc20" or same_token)
    )


async def create_proposal(
    session: AsyncSession,
    settings: Settings,
    chain: EvmChain,
    spec: ProposalSpec,
    *,
    author_id: uuid.UUID | None = None,
    job_id: uuid.UUID | None = None,
    on_chain: bool = False,
    solana: SolanaClient | None = None,
) -> Proposal:
    """A proposal, mirrored on chain (at the relayer's cost) only when `on_chain`: the author
    holds a role that may spend it, or it is a verified creator's job. An `spl` proposal's
    snapshot is every holder's balance of its token, read from `solana` now."""
    starts = spec.starts_at or now_utc()
    ends = spec.ends_at or starts + timedelta(seconds=settings.governance_job_window_s)
    spec = _checked_spec(spec, starts, ends)
    # The snapshot is the newest block when the proposal is made: balances as they stood
    # before anyone knew of it.
    head = await chain.run(lambda c: int(c.w3.eth.block_number))
    proposal_id = uuid.uuid4()
    relayable = on_chain and _relayable(spec, settings, chain)
    grace = timedelta(seconds=settings.chain_relay_grace_s)
    params = dict(spec.strategy_params or {})
    if spec.strategy == "erc20" or params.get("base") == "erc20":
        params.setdefault("token", chain.deployment.token)
    proposal = Proposal(
        id=proposal_id,
        job_id=job_id,
        author_id=author_id,
        title=spec.title,
        body=spec.body,
        chain_key=chain_key(job_id or proposal_id),
        choices=list(spec.choices),
        strategy=spec.strategy,
        strategy_params=params,
        snapshot_block=head,
        snapshot_at=now_utc(),
        starts_at=starts,
        ends_at=ends,
        quorum=spec.quorum,
        majority=spec.majority,
        allow_vote_change=spec.allow_vote_change,
        chain_status=ChainStatus.PENDING if relayable else ChainStatus.OFF,
        chain_vote_end=ends + grace if relayable else None,
        action=spec.action,
    )
    if spec.strategy == "spl":
        if solana is None:
            raise RuntimeError("an spl proposal needs the Solana runtime")
        holders = await solana.token_holders(Pubkey.from_string(str(params["mint"])))
        proposal.strategy_params = {**params, "slot": await solana.slot()}
        added = await repository.add(session, proposal)
        await repo.add_spl_balances(session, added.id, {str(o): a for o, a in holders.items()})
        return added
    return await repository.add(session, proposal)


async def create_job_proposal(
    session: AsyncSession,
    settings: Settings,
    chain: EvmChain,
    job_id: uuid.UUID,
    kind: str,
    creator_id: uuid.UUID,
) -> Proposal:
    """The proposal a finished job gets (idempotent: one per job)."""
    existing = await repo.proposal_by_any_id(session, job_id)
    if existing is not None and existing.job_id == job_id:
        return existing
    spec = ProposalSpec(
        title=f"Approve the upgrade of {kind} job {job_id}?",
        body="Vote approve to apply this job's upgrade (personalization), reject otherwise.",
        strategy=settings.governance_job_strategy,
        quorum=Decimal(settings.governance_job_quorum),
    )
    verified = await accounts.is_verified(session, creator_id)
    return await create_proposal(
        session, settings, chain, spec, author_id=creator_id, job_id=job_id, on_chain=verified
    )


async def get_proposal(session: AsyncSession, some_id: uuid.UUID) -> Proposal:
    proposal = await repo.proposal_by_any_id(session, some_id)
    if proposal is None:
        raise _no_proposal(some_id)
    return proposal


def _no_proposal(some_id: uuid.UUID) -> NotFound:
    return NotFound(
        f"no proposal or job with a proposal has id {some_id}", slug="proposal-not-found"
    )


_TERMS_CACHE = "governance.terms"
_TERMS_CACHED = 10_000


async def terms_of(adapters: dict[str, Any], conn: HotConnection, some_id: uuid.UUID) -> Terms:
    """The terms of the proposal `some_id` names (its id or its job's id), kept per process
    (in the runtime's `adapters`): they never change, and ingestion reads them for every
    vote."""
    cache: dict[uuid.UUID, Terms] = adapters.setdefault(_TERMS_CACHE, {})
    terms = cache.get(some_id)
    if terms is None:
        terms = await repo.terms_by_any_id(conn, some_id)
        if terms is None:
            raise _no_proposal(some_id)
        if len(cache) >= _TERMS_CACHED:  # the oldest entry goes (dicts keep insertion order)
            del cache[next(iter(cache))]
        cache[some_id] = terms
    return terms


def _check_choice_and_reason(choices: Sequence[str], choice: str, reason: str) -> None:
    if choice not in choices:
        raise InvalidInput(
            f"{choice!r} is not a choice of this proposal ({', '.join(choices)})",
            slug="unknown-choice",
            extra={"errors": [{"loc": ["body", "vote"], "msg": "unknown choice"}]},
        )
    if len(reason) > ballots.MAX_REASON_CHARS or len(reason.encode()) > ballots.MAX_REASON_CHARS:
        raise InvalidInput(
            f"a reason is at most {ballots.MAX_REASON_CHARS} characters and, as on chain, "
            f"{ballots.MAX_REASON_CHARS} bytes of UTF-8",
            slug="reason-too-long",
            extra={"errors": [{"loc": ["body", "reason"], "msg": "too long"}]},
        )


def typed_data(
    chain: EvmChain, terms: Terms, wallet: str, choice: str, reason: str, timestamp: int | None
) -> dict[str, Any]:
    _check_choice_and_reason(terms.choices, choice, reason)
    ballot = Ballot(
        terms.chain_key,
        checksum(wallet),
        choice,
        reason,
        timestamp if timestamp is not None else int(now_utc().timestamp()),
    )
    return ballots.typed_data(vote_domain(chain), ballot)


@dataclass(frozen=True)
class VoteRequest:
    wallet: str
    choice: str
    reason: str
    timestamp: int | None
    signature: str | None


async def cast_vote(
    session: AsyncSession,
    conn: HotConnection,
    settings: Settings,
    chain: EvmChain,
    terms: Terms,
    request: VoteRequest,
    principal: Principal | None,
) -> tuple[Vote, str]:
    """Verify and store a vote; returns it with what happened: "created" (the voter's first),
    "replaced" (a later vote replaced theirs) or "unchanged" (a copy of the stored vote, which
    is a no-op).

    The caller's unit of work is two-handed: a voter's first vote, by far the common case, is
    one INSERT on the hot (autocommit) connection `conn`, and `session` (which begins a
    transaction only when used) serves a vote that meets a stored one (copy, change or
    replay), a platform-held wallet's signature and the `ledger` strategy. Neither needs a
    lock on the proposal: its terms are fixed, and the unique (proposal, voter) constraint
    decides between concurrent copies.
    """
    _check_choice_and_reason(terms.choices, request.choice, request.reason)
    if terms.job_id is not None and await grid.result_hidden(session, terms.job_id):
        raise Conflict(
            "the moderators hid this job's result: its proposal takes no more votes",
            slug="proposal-hidden",
        )
    if terms.strategy == "spl":
        return await _cast_solana_vote(session, conn, settings, terms, request, principal)
    voter = checksum(request.wallet)
    domain = vote_domain(chain)
    now = now_utc()
    timestamp = request.timestamp
    signature = request.signature
    if signature is None:  # a wallet the platform holds for the signed-in caller
        timestamp = int(now.timestamp()) if timestamp is None else timestamp
        signature = await _sign_for(
            session,
            settings,
            principal,
            domain,
            Ballot(terms.chain_key, voter, request.choice, request.reason, timestamp),
        )
    if timestamp is None:
        raise InvalidInput(
            "timestamp (the one you signed) is required",
            slug="invalid-vote",
            extra={"errors": [{"loc": ["body", "timestamp"], "msg": "missing"}]},
        )
    ballot = Ballot(terms.chain_key, voter, request.choice, request.reason, timestamp)
    try:
        signer = ballots.recover_address(domain, ballot, signature)
    except BadSignature as exc:
        raise InvalidInput(str(exc), slug="malformed-signature") from None
    signature = canonical_signature(signature)  # v 27/28: what the chain accepts, stored once
    if signer != bytes.fromhex(voter[2:]):
        raise Forbidden(
            "the signature was not made by this wallet over this vote (check the proposal, "
            "choice, reason, timestamp, chain id and verifying contract you signed)",
            slug="signature-mismatch",
        )
    _check_window(terms, timestamp, now, settings.governance_clock_skew_s)
    power = await voting_power(session, chain, terms, voter)
    return await _store(session, conn, terms, request, voter, timestamp, signature, power, now)


async def _store(
    session: AsyncSession,
    conn: HotConnection,
    terms: Terms,
    request: VoteRequest,
    voter: str,
    timestamp: int,
    signature: str,
    power: Decimal,
    now: datetime,
) -> tuple[Vote, str]:
    if power <= 0:
        raise Forbidden(
            f"{voter} had no voting power at the snapshot ({terms.strategy})",
            slug="no-voting-power",
        )
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "proposal_id": terms.id,
        "voter": voter,
        "choice": request.choice,
        "reason": request.reason,
        "signed_timestamp": timestamp,
        "signature": signature,
        "power": power,
    }
    created = await repo.insert_first_vote(conn, values)
    if created is not None:
        return created, "created"
    stored = await repo.vote_for_update(session, terms.id, voter)
    if stored is None:  # the proposal itself was deleted meanwhile
        raise _no_proposal(terms.id)
    replaced = _replace(stored, terms, values, now)
    return stored, "replaced" if replaced else "unchanged"


async def _cast_solana_vote(
    session: AsyncSession,
    conn: HotConnection,
    settings: Settings,
    terms: Terms,
    request: VoteRequest,
    principal: Principal | None,
) -> tuple[Vote, str]:
    """A vote on an `spl` proposal: signed by a Solana wallet over `ballots.solana_message`
    (or by one Atelier holds for the signed-in caller), weighed by the snapshot."""
    voter = _solana_address(request.wallet)
    if voter is None or request.wallet.startswith("0x"):
        raise InvalidInput(
            "this proposal's voters are Solana wallets (base58 addresses)",
            slug="invalid-wallet",
            extra={"errors": [{"loc": ["body", "wallet"], "msg": "not a Solana address"}]},
        )
    now = now_utc()
    timestamp = request.timestamp if request.timestamp is not None else int(now.timestamp())
    message = ballots.solana_message(
        str(terms.id), voter, request.choice, request.reason, timestamp
    )
    signature = request.signature
    if signature is None:
        held = (
            await wallets.solana_wallet(session, settings, principal.user_id) if principal else None
        )
        if held is None or held.secret is None or held.address != voter:
            raise Forbidden(
                "Atelier holds no such wallet for you; sign the vote yourself",
                slug="signature-required",
            )
        signature = str(Keypair.from_seed(held.secret).sign_message(message.encode()))
    elif request.timestamp is None:
        raise InvalidInput(
            "timestamp (the one you signed) is required",
            slug="invalid-vote",
            extra={"errors": [{"loc": ["body", "timestamp"], "msg": "missing"}]},
        )
    try:
        valid = ballots.verify_solana(message, voter, signature)
    except BadSignature as exc:
        raise InvalidInput(str(exc), slug="malformed-signature") from None
    if not valid:
        raise Forbidden(
            "the signature was not made by this wallet over this vote's message "
            "(GET /api/vote/{id}/message gives it)",
            slug="signature-mismatch",
        )
    _check_window(terms, timestamp, now, settings.governance_clock_skew_s)
    power = await repo.spl_power(session, terms.id, voter)
    return await _store(session, conn, terms, request, voter, timestamp, signature, power, now)


def solana_message(
    terms: Terms, wallet: str, choice: str, reason: str, timestamp: int | None
) -> str:
    """What a Solana wallet signs to vote on an `spl` proposal."""
    _check_choice_and_reason(terms.choices, choice, reason)
    voter = _solana_address(wallet)
    if terms.strategy != "spl" or voter is None:
        raise InvalidInput(
            "Solana wallets vote on spl proposals; give a base58 wallet",
            slug="invalid-wallet",
        )
    stamp = timestamp if timestamp is not None else int(now_utc().timestamp())
    return ballots.solana_message(str(terms.id), voter, choice, reason, stamp)


async def _sign_for(
    session: AsyncSession,
    settings: Settings,
    principal: Principal | None,
    domain: Domain,
    ballot: Ballot,
) -> str:
    if principal is None:
        raise Unauthorized(
            "sign the vote, or sign in to vote with a wallet Atelier holds for you",
            slug="signature-required",
        )
    signature = await wallets.sign_typed_data_for(
        session, settings, principal.user_id, ballot.voter, ballots.typed_data(domain, ballot)
    )
    if signature is None:
        raise Forbidden(
            "Atelier holds no such wallet for you; sign the vote yourself",
            slug="signature-required",
        )
    return signature


def _check_window(terms: Terms, timestamp: int, now: datetime, skew: float) -> None:
    if now < terms.starts_at:
        raise Conflict(f"voting opens at {terms.starts_at.isoformat()}", slug="voting-not-open")
    if now >= terms.ends_at:
        raise Conflict(f"voting closed at {terms.ends_at.isoformat()}", slug="voting-closed")
    if timestamp > now.timestamp() + skew:
        raise InvalidInput("the vote is dated in the future", slug="vote-from-the-future")
    if timestamp < terms.starts_at.timestamp() - skew:
        raise InvalidInput("the vote is dated before the window opened", slug="stale-vote")


def _replace(stored: Vote, terms: Terms, values: dict[str, Any], now: datetime) -> bool:
    """A vote meets the stored one: an exact copy is a no-op (False); a change is allowed only
    on a proposal that allows it, signed later (an old vote replayed is refused), and before
    the stored vote reached the chain (True)."""
    if stored.signature == values["signature"]:
        return False
    if not terms.allow_vote_change:
        raise Conflict(
            "this wallet has already voted and the proposal does not allow changing a vote",
            slug="already-voted",
        )
    if stored.signed_timestamp is None or values["signed_timestamp"] <= stored.signed_timestamp:
        raise Conflict(
            "a newer vote of this wallet is stored (an old vote replayed?)", slug="stale-vote"
        )
    if (
        stored.relay_status in (RelayStatus.SENT, RelayStatus.CONFIRMED)
        or stored.source == VoteSource.CHAIN
    ):
        raise Conflict("this wallet's vote is already on chain", slug="vote-on-chain")
    for name in ("choice", "reason", "signed_timestamp", "signature", "power"):
        setattr(stored, name, values[name])
    stored.updated_at = now
    return True


def decide(proposal: Proposal, counted: dict[str, tuple[Decimal, int]], now: datetime) -> Tally:
    """Quorum and majority over the counted power (pure: anyone can recompute it)."""
    by_choice = {c: counted.get(c, (Decimal(0), 0))[0] for c in proposal.choices}
    voters = {c: counted.get(c, (Decimal(0), 0))[1] for c in proposal.choices}
    total = sum(by_choice.values(), Decimal(0))
    state = (
        "pending" if now < proposal.starts_at else "active" if now < proposal.ends_at else "closed"
    )
    reached = total >= proposal.quorum and total > 0
    ranked = sorted(by_choice.items(), key=lambda kv: kv[1], reverse=True)
    top, top_power = ranked[0]
    tie = len(ranked) > 1 and ranked[1][1] == top_power
    needed = Decimal(2) / 3 if proposal.majority == "two-thirds" else Decimal("0.5")
    winner = None if tie or not reached else top
    outcome = None
    if state == "closed":
        if not reached:
            outcome = "no-quorum"
        elif tie:
            outcome = "tie"
        else:
            share = top_power / total
            wins = share >= needed if proposal.majority == "two-thirds" else share > needed
            binary_passed = top == "approve" if proposal.choices == BINARY_CHOICES else True
            outcome = "passed" if wins and binary_passed else "rejected"
            winner = top if wins else None
    return Tally(by_choice, voters, proposal.quorum, total, reached, state, outcome, winner)


async def tally(session: AsyncSession, proposal: Proposal) -> Tally:
    return decide(proposal, await repo.tally(session, proposal.id), now_utc())


async def votes_page(
    session: AsyncSession, proposal: Proposal, limit: int, after: str | None
) -> list[Vote]:
    return await repo.votes_page(session, proposal.id, limit=limit, after=after)


async def proposals_page(
    session: AsyncSession, limit: int, before: datetime | None, open_only: bool
) -> list[Proposal]:
    """A page of proposals, newest first, without those of jobs whose result the
    moderators hid."""
    return await repo.proposals_page(
        session,
        limit=limit,
        before=before,
        open_at=now_utc() if open_only else None,
        hidden_jobs=await grid.jobs_with_hidden_results(session),
    )


async def votes_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """Votes cast and distinct voters in [start, end) (the product's analytics)."""
    return await repo.votes_between(session, start, end)
