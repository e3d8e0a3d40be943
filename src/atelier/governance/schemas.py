"""Bodies of the proposal and vote API (the Soulvan seed's POST /api/vote, GET /api/vote/{id})."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from atelier.core.schemas import Body, Instant
from atelier.governance.ballots import MAX_REASON_CHARS
from atelier.governance.models import BINARY_CHOICES, Proposal, Tally, Vote


class ProposalIn(Body):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=20_000)
    choices: list[str] = Field(default_factory=lambda: list(BINARY_CHOICES), max_length=10)
    strategy: Literal[
        "one-wallet-one-vote", "verified-wallets", "erc20", "ledger", "quadratic", "spl"
    ] = "one-wallet-one-vote"
    strategy_params: dict[str, str] = Field(
        default_factory=dict,
        description='erc20: {"token": "0x…"}; quadratic: {"base": "erc20"}; '
        'spl: {"mint": "<base58>"} (Solana wallets vote, weighed by their balance at the slot)',
    )
    action: dict[str, str | int] | None = Field(
        default=None,
        max_length=5,
        description='what passing does (AiNFT DAO): {"kind": "treasury-spend", "to", "lamports"} '
        'or {"kind": "market-fee", "fee_bps"}; approve/reject only',
    )
    starts_at: Instant | None = None
    ends_at: Instant
    quorum: Decimal = Field(default=Decimal(0), ge=0, description="total power cast needed")
    majority: Literal["simple", "two-thirds"] = "simple"
    allow_vote_change: bool = False


class TallyOut(BaseModel):
    tally: dict[str, str] = Field(description="voting power per choice (decimal strings)")
    voters: dict[str, int]
    quorum: dict[str, Any]
    state: str
    outcome: str | None
    winner: str | None

    @classmethod
    def of(cls, t: Tally) -> TallyOut:
        return cls(
            tally={c: str(p) for c, p in t.by_choice.items()},
            voters=t.voters,
            quorum={
                "required": str(t.quorum),
                "participation": str(t.participation),
                "reached": t.quorum_reached,
            },
            state=t.state,
            outcome=t.outcome,
            winner=t.winner,
        )


class ProposalOut(BaseModel):
    id: uuid.UUID
    job_id: uuid.UUID | None
    chain_key: str
    title: str
    body: str
    choices: list[str]
    strategy: str
    strategy_params: dict[str, Any]
    snapshot_block: int | None
    snapshot_at: datetime
    starts_at: datetime
    ends_at: datetime
    quorum: str
    majority: str
    allow_vote_change: bool
    chain_status: str
    chain_outcome: str | None
    action: dict[str, Any] | None = None
    created_at: datetime

    @classmethod
    def of(cls, p: Proposal) -> ProposalOut:
        return cls(
            id=p.id,
            job_id=p.job_id,
            chain_key="0x" + p.chain_key.hex(),
            title=p.title,
            body=p.body,
            choices=p.choices,
            strategy=p.strategy,
            strategy_params=p.strategy_params,
            snapshot_block=p.snapshot_block,
            snapshot_at=p.snapshot_at,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            quorum=str(p.quorum),
            majority=p.majority,
            allow_vote_change=p.allow_vote_change,
            chain_status=p.chain_status,
            chain_outcome=p.chain_outcome,
            action=p.action,
            created_at=p.created_at,
        )


class ProposalWithTally(ProposalOut):
    result: TallyOut


class VoteIn(Body):
    """`job_id` or `proposal_id`; `signature` over the typed data from
    `GET /api/vote/{id}/typed-data` (omit it to have Atelier sign with a wallet it holds for
    you, signed in)."""

    job_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    wallet: str = Field(min_length=32, max_length=44, description="0x… or, on spl, base58")
    vote: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=MAX_REASON_CHARS)
    timestamp: int | None = Field(default=None, ge=0, lt=2**63)
    signature: str | None = Field(
        default=None, max_length=140, description="EIP-712 (hex) or, on spl, ed25519 (base58)"
    )

    @model_validator(mode="after")
    def _one_target(self) -> VoteIn:
        if (self.job_id is None) == (self.proposal_id is None):
            raise ValueError("give exactly one of job_id or proposal_id")
        return self


class VoteOut(BaseModel):
    proposal_id: uuid.UUID
    voter: str
    vote: str
    reason: str
    power: str
    timestamp: int | None
    signature: str | None
    source: str
    relay_status: str
    relay_error: str | None
    chain_tx_hash: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: Vote) -> VoteOut:
        return cls(
            proposal_id=v.proposal_id,
            voter=v.voter,
            vote=v.choice,
            reason=v.reason,
            power=str(v.power),
            timestamp=v.signed_timestamp,
            signature=v.signature,
            source=v.source,
            relay_status=v.relay_status,
            relay_error=v.relay_error,
            chain_tx_hash=v.chain_tx_hash,
            created_at=v.created_at,
            updated_at=v.updated_at,
        )


class VoteReceipt(BaseModel):
    vote: VoteOut
    created: bool = Field(description="true when this is the voter's first vote here")
    replaced: bool = Field(
        default=False, description="true when this vote replaced the voter's earlier one"
    )


class VotesOut(TallyOut):
    """The seed's "votes and tally": `tally` is {approve, reject} (or the proposal's choices)."""

    proposal: ProposalOut
    votes: list[VoteOut]
    next_cursor: str | None
    domain: dict[str, Any] = Field(description="EIP-712 domain the signatures are made under")
