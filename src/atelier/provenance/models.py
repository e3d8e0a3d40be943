"""Provenance of each accepted artifact: its ids, its signed copy and each step's state."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base

STEPS = ("hash", "sign", "store")


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
    manifest_state: Mapped[str] = mapped_column(String(20), server_default=text("'pending'"))
    signer: Mapped[str | None] = mapped_column(String(200))
    steps: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
