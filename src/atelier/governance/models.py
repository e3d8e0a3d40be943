"""Proposals and their signed votes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base

STRATEGIES = ("one-wallet-one-vote", "verified-wallets", "erc20", "ledger", "quadratic", "spl")
MAJORITIES = ("simple", "two-thirds")
BINARY_CHOICES = ["approve", "reject"]


class ChainStatus(StrEnum):
    """A proposal's mirror on chain."""

    OFF = "off"  # not mirrored (not allowed, or over the relayer's budget)
    PENDING = "pending"  # to be created on chain
    MIRRORED = "mirrored"


class ChainOutcome(StrEnum):
    APPLIED = "applied"
    REJECTED = "rejected"


class VoteSource(StrEnum):
    OFFCHAIN = "offchain"  # signed and sent to us
    CHAIN = "chain"  # cast on the contract directly: the transaction is its proof


class RelayStatus(StrEnum):
    """A signed vote's way onto the chain (`voteBySig`, paid by the relayer)."""

    OFF = "off"  # not relayed (see relay_error)
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"  # its log was indexed
    FAILED = "failed"


def _one_of(column: str, states: type[StrEnum]) -> str:
    return f"{column} IN (" + ", ".join(f"'{s.value}'" for s in states) + ")"


class Proposal(Base):
    """A question with a voting window, a snapshot, a power strategy and decision rules.

    `chain_key` is the proposal's bytes32 id in the EIP-712 vote message and on chain: the
    job's UUID for a job's proposal (the seed's `createProposal(bytes32 jobId)`), else the
    proposal's own UUID, left-aligned and zero-padded.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="window_order"),
        CheckConstraint(f"strategy IN {STRATEGIES}", name="known_strategy"),
        CheckConstraint(f"majority IN {MAJORITIES}", name="known_majority"),
        CheckConstraint(_one_of("chain_status", ChainStatus), name="chain_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("grid_requests.id", ondelete="SET NULL"), unique=True
    )
    author_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, server_default="")
    chain_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    choices: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    strategy: Mapped[str] = mapped_column(String(30))
    strategy_params: Mapped[dict[str, Any]] = mapped_column(
        JSONB, server_default=text("'{}'::jsonb")
    )
    snapshot_block: Mapped[int | None] = mapped_column(BigInteger)
    snapshot_at: Mapped[datetime]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    quorum: Mapped[Decimal] = mapped_column(Numeric, server_default="0")
    majority: Mapped[str] = mapped_column(String(20), server_default="simple")
    allow_vote_change: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Relaying: 'off' (not relayable: other choices, or relaying disabled), 'pending' (to be
    # created on chain), 'mirrored' (the indexer saw ProposalCreated).
    chain_status: Mapped[str] = mapped_column(String(10), server_default="off")
    chain_vote_end: Mapped[datetime | None]
    # 'applied' / 'rejected' once the indexer read UpgradeApplied / UpgradeRejected.
    chain_outcome: Mapped[str | None] = mapped_column(String(10))
    # What passing it does, for proposals that act (AiNFT's DAO): {"kind": "treasury-spend",
    # "to", "lamports"} or {"kind": "market-fee", "fee_bps"}; the market executes it once.
    action: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


@dataclass(frozen=True)
class Terms:
    """What a vote is checked against: the parts of a proposal fixed when it was made.

    Nothing here changes after creation, so each process keeps the terms of the proposals it
    has seen (`service.terms_of`) and a vote needs no proposal read; what can change (the
    chain status) is read by the vote's INSERT itself.
    """

    id: uuid.UUID
    job_id: uuid.UUID | None
    chain_key: bytes
    choices: tuple[str, ...]
    strategy: str
    strategy_params: dict[str, Any]
    snapshot_block: int | None
    snapshot_at: datetime
    starts_at: datetime
    ends_at: datetime
    allow_vote_change: bool


class Vote(Base):
    """The current vote of one voter on one proposal, with what proves it.

    An off-chain vote keeps its EIP-712 fields and signature, so anyone can re-verify it and
    recompute the tally; a vote read from the chain keeps its transaction instead. `power`
    is fixed at ingestion: it is the voter's power at the proposal's snapshot, which cannot
    change afterwards.
    """

    __tablename__ = "votes"
    __table_args__ = (
        UniqueConstraint("proposal_id", "voter", name="one_vote_per_voter"),
        CheckConstraint(_one_of("source", VoteSource), name="vote_source"),
        CheckConstraint(_one_of("relay_status", RelayStatus), name="relay_status"),
        # the tally reads only this index (index-only scan over one proposal's votes)
        Index("ix_votes_tally", "proposal_id", "choice", postgresql_include=["power"]),
        Index(
            "ix_votes_relay_pending",
            "proposal_id",
            postgresql_where=text("relay_status = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    voter: Mapped[str] = mapped_column(String(44))  # 0x… (EVM) or base58 (Solana, `spl`)
    choice: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, server_default="")
    signed_timestamp: Mapped[int | None] = mapped_column(BigInteger)
    signature: Mapped[str | None] = mapped_column(String(132))
    power: Mapped[Decimal] = mapped_column(Numeric)
    source: Mapped[str] = mapped_column(String(10), server_default="offchain")
    relay_status: Mapped[str] = mapped_column(String(10), server_default="off")
    relay_tx_hash: Mapped[str | None] = mapped_column(String(66))
    relay_error: Mapped[str | None] = mapped_column(String(200))
    chain_tx_hash: Mapped[str | None] = mapped_column(String(66))
    chain_block: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


@dataclass(frozen=True)
class Tally:
    by_choice: dict[str, Decimal]
    voters: dict[str, int]
    quorum: Decimal
    participation: Decimal
    quorum_reached: bool
    state: str  # pending | active | closed
    outcome: str | None  # passed | rejected | no-quorum | tie (None while not closed)
    winner: str | None


class SplBalance(Base):
    """An `spl` proposal's snapshot: each holder's balance of the proposal's SPL token at
    the slot it was made (read from the chain once, so later transfers change nothing)."""

    __tablename__ = "governance_spl_balances"

    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(44), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 0))
