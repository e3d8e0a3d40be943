"""Provenance of each accepted artifact: its ids, its signed copy and each step's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, LargeBinary, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from atelier.core.db import Base


class ManifestState(StrEnum):
    PENDING = "pending"  # being signed: its creator waits (the grid shows `signing`)
    SIGNED = "signed"  # the signed copy is what is served
    FAILED = "failed"  # signing failed for good: the accepted original is served, marked


class ProvenanceRecord(Base):
    __tablename__ = "provenance_records"

    artifact_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("artifacts.id", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    cid_v1: Mapped[str | None] = mapped_column(String(100), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    signed_storage_key: Mapped[str | None] = mapped_column(String(200))
    signed_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    signed_cid_v1: Mapped[str | None] = mapped_column(String(100))
    signed_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # the manifest of a type that cannot embed one (OpenEXR): a .c2pa sidecar
    sidecar_storage_key: Mapped[str | None] = mapped_column(String(200))
    manifest_state: Mapped[str] = mapped_column(
        String(20), server_default=text(f"'{ManifestState.PENDING.value}'")
    )
    signer: Mapped[str | None] = mapped_column(String(200))
    creator_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    wallet: Mapped[str | None] = mapped_column(String(64))
    wallet_proof: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    generation: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    fingerprint_quality: Mapped[int | None] = mapped_column(Integer)
    originality: Mapped[float | None] = mapped_column(Float)
    semantic_note: Mapped[str | None] = mapped_column(Text)
    published: Mapped[list[dict[str, str]] | None] = mapped_column(JSONB)
    neighbours: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CorpusItem(Base):
    """A known work: an accepted artifact, or something indexed by an operator."""

    __tablename__ = "corpus_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("artifacts.id", ondelete="CASCADE"), unique=True
    )
    source: Mapped[str] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    media: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class PdqHash(Base):
    """One PDQ hash of a corpus item (images have one; videos one per keyframe)."""

    __tablename__ = "pdq_hashes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("corpus_items.id", ondelete="CASCADE"), index=True
    )
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    quality: Mapped[int] = mapped_column(Integer)


class AudioPrint(Base):
    """The raw Chromaprint fingerprint of an audio (or video soundtrack) corpus item."""

    __tablename__ = "audio_prints"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("corpus_items.id", ondelete="CASCADE"), primary_key=True
    )
    fingerprint: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))


class Vector(UserDefinedType[str]):
    """pgvector's `vector` with any dimension (values travel as '[x,y,…]' text)."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "vector"


class ClipEmbedding(Base):
    """A corpus item's CLIP embedding; `model` says which encoder made it (only embeddings
    of the same model are ever compared)."""

    __tablename__ = "clip_embeddings"

    item_id: Mapped[int] = mapped_column(
        ForeignKey("corpus_items.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(100), index=True)
    embedding: Mapped[str] = mapped_column(Vector())
