"""Social queries: casts (verified before they get here), user data, hub cursors."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.social.models import Cast, HubCursor, Reaction, UserData


async def add_cast(session: AsyncSession, cast: Cast) -> bool:
    """Store a cast once (a message is immutable: its hash is its id). True if new."""
    values = {c.key: getattr(cast, c.key) for c in Cast.__table__.columns if c.key != "indexed_at"}
    inserted = await session.scalar(
        insert(Cast).values(**values).on_conflict_do_nothing().returning(Cast.hash)
    )
    return inserted is not None


async def remove_cast(session: AsyncSession, target: bytes, fid: int, when: datetime) -> None:
    """A CastRemove (or a revoked signer) takes a cast off the feed; only its author's
    messages can remove it."""
    await session.execute(
        update(Cast)
        .where(Cast.hash == target, Cast.fid == fid, Cast.removed_at.is_(None))
        .values(removed_at=when)
    )


async def set_reaction(session: AsyncSession, reaction: Reaction) -> bool:
    """Keep `reaction` if it wins against the one stored for the same account, cast and
    kind (see `Reaction`); True if it did (the state may not have changed: a newer like
    after a like)."""
    values = {c.key: getattr(reaction, c.key) for c in Reaction.__table__.columns}
    statement = insert(Reaction).values(**values)
    new = statement.excluded
    wins = or_(
        Reaction.reacted_at < new.reacted_at,
        and_(
            Reaction.reacted_at == new.reacted_at,
            or_(
                and_(Reaction.active, ~new.active),
                and_(Reaction.active == new.active, Reaction.hash < new.hash),
            ),
        ),
    )
    kept = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[Reaction.fid, Reaction.target_hash, Reaction.kind],
            set_={k: new[k] for k in ("active", "reacted_at", "hash", "message")},
            where=wins,
        ).returning(Reaction.fid)
    )
    return kept is not None


async def withdraw_reaction(session: AsyncSession, digest: bytes) -> bytes | None:
    """A revoked message's reaction no longer counts; the cast it was on, if it counted."""
    return await session.scalar(
        update(Reaction)
        .where(Reaction.hash == digest, Reaction.active)
        .values(active=False)
        .returning(Reaction.target_hash)
    )


async def reaction_counts(
    session: AsyncSession, targets: list[bytes]
) -> dict[bytes, dict[str, int]]:
    """Each cast's standing likes and recasts."""
    rows = await session.execute(
        select(Reaction.target_hash, Reaction.kind, func.count())
        .where(Reaction.target_hash.in_(targets), Reaction.active)
        .group_by(Reaction.target_hash, Reaction.kind)
    )
    counts: dict[bytes, dict[str, int]] = {}
    for target, kind, count in rows.tuples():
        counts.setdefault(target, {})[kind] = count
    return counts


async def set_user_data(
    session: AsyncSession, fid: int, kind: str, value: str, when: datetime
) -> None:
    """Keep the newest value of each kind (an older message arriving late changes nothing)."""
    statement = insert(UserData).values(fid=fid, kind=kind, value=value, set_at=when)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[UserData.fid, UserData.kind],
            set_={"value": statement.excluded.value, "set_at": statement.excluded.set_at},
            where=UserData.set_at < statement.excluded.set_at,
        )
    )


async def cursor(session: AsyncSession, hub: str) -> HubCursor:
    """The hub's cursor, created at 0, locked for this transaction (one indexer at a time)."""
    await session.execute(insert(HubCursor).values(hub=hub).on_conflict_do_nothing())
    found = await session.scalar(select(HubCursor).where(HubCursor.hub == hub).with_for_update())
    assert found is not None
    return found


async def try_cursor(session: AsyncSession, hub: str) -> HubCursor | None:
    """The hub's cursor if no other indexer holds it now, else None."""
    await session.execute(insert(HubCursor).values(hub=hub).on_conflict_do_nothing())
    return await session.scalar(
        select(HubCursor).where(HubCursor.hub == hub).with_for_update(skip_locked=True)
    )


async def cursors(session: AsyncSession) -> list[HubCursor]:
    return list(await session.scalars(select(HubCursor).order_by(HubCursor.hub)))


async def feed(
    session: AsyncSession,
    *,
    fids: list[int] | None,
    collection_id: uuid.UUID | None,
    before: tuple[datetime, bytes] | None,
    limit: int,
    hidden: list[bytes],
) -> list[Cast]:
    """Casts newest first (keyset on time, then hash), not removed nor `hidden`; of `fids`
    and/or linking `collection_id` (either matches when both are given)."""
    query = select(Cast).where(Cast.removed_at.is_(None))
    if hidden:
        query = query.where(Cast.hash.not_in(hidden))
    matches: list[ColumnElement[bool]] = []
    if fids is not None:
        matches.append(Cast.fid.in_(fids))
    if collection_id is not None:
        matches.append(Cast.collection_ids.contains([collection_id]))
    if matches:
        query = query.where(or_(*matches))
    if before is not None:
        at, digest = before
        query = query.where(or_(Cast.cast_at < at, (Cast.cast_at == at) & (Cast.hash < digest)))
    query = query.order_by(Cast.cast_at.desc(), Cast.hash.desc()).limit(limit)
    return list(await session.scalars(query))


async def cast(session: AsyncSession, digest: bytes) -> Cast | None:
    return await session.get(Cast, digest)


async def names(session: AsyncSession, fids: list[int]) -> dict[int, dict[str, str]]:
    """Each account's profile fields (username, display…) by fid."""
    rows = await session.scalars(select(UserData).where(UserData.fid.in_(fids)))
    found: dict[int, dict[str, str]] = {}
    for row in rows:
        found.setdefault(row.fid, {})[row.kind] = row.value
    return found
