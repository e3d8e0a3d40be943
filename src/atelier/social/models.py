"""Social tables: the casts the feed shows (each verified before it was stored), the likes
and recasts they get, Farcaster user data, and where the indexer is in each hub's event
stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, LargeBinary, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class Cast(Base):
    """A cast whose BLAKE3 hash and ed25519 signature checked. `message` is the hub's JSON as
    received, so anyone can verify it again; `collection_ids` are the collections of ours it
    links (in its text, embeds or parent URL)."""

    __tablename__ = "social_casts"

    hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    fid: Mapped[int] = mapped_column(BigInteger)
    signer: Mapped[bytes] = mapped_column(LargeBinary(32))
    text: Mapped[str] = mapped_column(Text)
    cast_at: Mapped[datetime]
    parent_fid: Mapped[int | None] = mapped_column(BigInteger)
    parent_hash: Mapped[bytes | None] = mapped_column(LargeBinary(20))
    parent_url: Mapped[str | None] = mapped_column(String(256))
    embeds: Mapped[list[Any]] = mapped_column(JSONB)
    mentions: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    collection_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)))
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)
    indexed_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        Index("ix_social_casts_fid_time", "fid", "cast_at"),
        Index("ix_social_casts_time", "cast_at"),
        Index("ix_social_casts_collections", "collection_ids", postgresql_using="gin"),
    )


class UserData(Base):
    """The latest value of one kind of a Farcaster account's profile (username, display
    name, picture, bio, URL)."""

    __tablename__ = "social_user_data"

    fid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))
    set_at: Mapped[datetime]


class Reaction(Base):
    """Where one account's like or recast of a kept cast stands: the winner of its add and
    remove messages under Farcaster's reaction CRDT (the later timestamp wins; at the same
    second a remove beats an add, then the larger hash wins), so messages arriving in any
    order leave the same state. `message` is the winning message as received."""

    __tablename__ = "social_reactions"

    fid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    target_hash: Mapped[bytes] = mapped_column(LargeBinary(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # like | recast
    active: Mapped[bool]
    reacted_at: Mapped[datetime]
    hash: Mapped[bytes] = mapped_column(LargeBinary(20))
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_social_reactions_target", "target_hash", "kind"),
        Index("ix_social_reactions_hash", "hash"),  # a revoked message finds its reaction
    )


class HubCursor(Base):
    """How far the indexer has read a hub's event stream, and how the last read went."""

    __tablename__ = "social_hub_cursors"

    hub: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)  # the last one read
    indexed: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    backfilled_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
