"""Governance queries: proposals by either id, tallies, vote pages, relay work.

Vote ingestion is the hot path (thousands a second): a proposal's terms and a first vote are
single prepared statements on a plain psycopg autocommit connection (`runtime.hot`), like
authentication; everything else goes through the ORM session.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.db import HotConnection
from atelier.governance.models import (
    ChainStatus,
    Proposal,
    RelayStatus,
    SplBalance,
    Terms,
    Vote,
    VoteSource,
)


async def proposal(session: AsyncSession, proposal_id: uuid.UUID) -> Proposal | None:
    return await session.get(Proposal, proposal_id)


async def proposal_by_any_id(session: AsyncSession, some_id: uuid.UUID) -> Proposal | None:
    """`{id}` in the seed's routes is a job id or a proposal id."""
    result = await session.scalars(
        select(Proposal).where(or_(Proposal.id == some_id, Proposal.job_id == some_id))
    )
    return result.first()


async def proposal_by_chain_key(session: AsyncSession, key: bytes) -> Proposal | None:
    result = await session.scalars(select(Proposal).where(Proposal.chain_key == key))
    return result.first()


async def proposals_page(
    session: AsyncSession,
    *,
    limit: int,
    before: datetime | None,
    open_at: datetime | None,
    hidden_jobs: Collection[uuid.UUID] = (),
) -> list[Proposal]:
    statement = select(Proposal).order_by(Proposal.created_at.desc(), Proposal.id).limit(limit)
    if hidden_jobs:
        statement = statement.where(Proposal.job_id.is_(None) | Proposal.job_id.not_in(hidden_jobs))
    if before is not None:
        statement = statement.where(Proposal.created_at < before)
    if open_at is not None:
        statement = statement.where(Proposal.starts_at <= open_at, Proposal.ends_at > open_at)
    return list(await session.scalars(statement))


async def tally(session: AsyncSession, proposal_id: uuid.UUID) -> dict[str, tuple[Decimal, int]]:
    """choice → (power, voters), summed in the database from the stored votes."""
    rows = await session.execute(
        select(Vote.choice, func.sum(Vote.power), func.count())
        .where(Vote.proposal_id == proposal_id)
        .group_by(Vote.choice)
    )
    return {choice: (Decimal(power), int(count)) for choice, power, count in rows}


async def votes_page(
    session: AsyncSession, proposal_id: uuid.UUID, *, limit: int, after: str | None
) -> list[Vote]:
    """Votes ordered by voter address; the cursor is the last voter of the previous page."""
    statement = (
        select(Vote).where(Vote.proposal_id == proposal_id).order_by(Vote.voter).limit(limit)
    )
    if after is not None:
        statement = statement.where(Vote.voter > after)
    return list(await session.scalars(statement))


_TERMS = """
    SELECT id, job_id, chain_key, choices, strategy, strategy_params, snapshot_block,
           snapshot_at, starts_at, ends_at, allow_vote_change
    FROM proposals WHERE id = %(id)s OR job_id = %(id)s
    LIMIT 1
"""


async def terms_by_any_id(conn: HotConnection, some_id: uuid.UUID) -> Terms | None:
    cursor = await conn.execute(_TERMS, {"id": some_id})
    row = await cursor.fetchone()
    if row is None:
        return None
    (id_, job_id, key, choices, strategy, params, block, snapshot_at, starts, ends, changeable) = (
        row
    )
    return Terms(
        id_,
        job_id,
        bytes(key),
        tuple(choices),
        strategy,
        params,
        block,
        snapshot_at,
        starts,
        ends,
        changeable,
    )


# The relay status is decided by the proposal's chain status as it is when the vote lands
# (the relayer may have given up on mirroring it since the terms were read).
_INSERT_FIRST_VOTE = """
    INSERT INTO votes (id, proposal_id, voter, choice, reason, signed_timestamp, signature,
                       power, source, relay_status)
    SELECT %(id)s, p.id, %(voter)s, %(choice)s, %(reason)s, %(signed_timestamp)s,
           %(signature)s, %(power)s, 'offchain',
           CASE WHEN p.chain_status = 'off' THEN 'off' ELSE 'pending' END
    FROM proposals p WHERE p.id = %(proposal_id)s
    ON CONFLICT ON CONSTRAINT one_vote_per_voter DO NOTHING
    RETURNING relay_status, created_at, updated_at
"""


async def insert_first_vote(conn: HotConnection, values: dict[str, Any]) -> Vote | None:
    """The new vote, or None when this voter already has one on the proposal (or the
    proposal is gone). The returned Vote is not attached to any session."""
    cursor = await conn.execute(_INSERT_FIRST_VOTE, values)
    row = await cursor.fetchone()
    if row is None:
        return None
    relay_status, created_at, updated_at = row
    return Vote(
        **values,
        source=VoteSource.OFFCHAIN,
        relay_status=relay_status,
        relay_error=None,
        relay_tx_hash=None,
        chain_tx_hash=None,
        chain_block=None,
        created_at=created_at,
        updated_at=updated_at,
    )


async def vote_for_update(session: AsyncSession, proposal_id: uuid.UUID, voter: str) -> Vote | None:
    return await session.scalar(
        select(Vote).where(Vote.proposal_id == proposal_id, Vote.voter == voter).with_for_update()
    )


async def vote_of(session: AsyncSession, proposal_id: uuid.UUID, voter: str) -> Vote | None:
    return await session.scalar(
        select(Vote).where(Vote.proposal_id == proposal_id, Vote.voter == voter)
    )


async def proposals_to_mirror(session: AsyncSession, limit: int) -> list[Proposal]:
    return list(
        await session.scalars(
            select(Proposal)
            .where(Proposal.chain_status == ChainStatus.PENDING)
            .order_by(Proposal.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


async def votes_to_relay(session: AsyncSession, now: datetime, limit: int) -> list[Vote]:
    """Pending votes that are final: the proposal is on chain, and its votes cannot change
    any more (changes allowed: only once the off-chain window has closed)."""
    return list(
        await session.scalars(
            select(Vote)
            .join(Proposal, Proposal.id == Vote.proposal_id)
            .where(
                Vote.relay_status == RelayStatus.PENDING,
                Proposal.chain_status == ChainStatus.MIRRORED,
                or_(Proposal.allow_vote_change.is_(False), Proposal.ends_at <= now),
            )
            .order_by(Vote.created_at)
            .limit(limit)
            .with_for_update(of=Vote, skip_locked=True)
        )
    )


async def proposals_to_apply(session: AsyncSession, chain_now: datetime) -> list[Proposal]:
    return list(
        await session.scalars(
            select(Proposal)
            .where(
                Proposal.chain_status == ChainStatus.MIRRORED,
                Proposal.chain_outcome.is_(None),
                Proposal.chain_vote_end < chain_now,
            )
            .with_for_update(skip_locked=True)
        )
    )


async def add_spl_balances(
    session: AsyncSession, proposal_id: uuid.UUID, balances: dict[str, int]
) -> None:
    if balances:
        await session.execute(
            insert(SplBalance),
            [{"proposal_id": proposal_id, "owner": o, "amount": a} for o, a in balances.items()],
        )


async def spl_power(session: AsyncSession, proposal_id: uuid.UUID, owner: str) -> Decimal:
    amount = await session.scalar(
        select(SplBalance.amount).where(
            SplBalance.proposal_id == proposal_id, SplBalance.owner == owner
        )
    )
    return Decimal(amount or 0)


async def votes_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """(votes cast, distinct voters) in [start, end): for the product's analytics."""
    row = (
        await session.execute(
            select(func.count(), func.count(func.distinct(Vote.voter))).where(
                Vote.created_at >= start, Vote.created_at < end
            )
        )
    ).one()
    return int(row[0]), int(row[1])
