"""Screenplays submitted to the films domain."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class ScriptStatus(StrEnum):
    PENDING_VALIDATION = "pending_validation"
    SELECTED = "selected"
    NOT_SELECTED = "not_selected"


class Script(Base):
    """A screenplay as submitted: its text (for a PDF, the Fountain it was read into), its
    parsed structure (`films.screenplay.Screenplay`, as JSON), a hash of its normalised text
    (the same script sent again, in any line endings, has the same hash) and its MinHash
    signature (near-duplicates, `films.similarity`)."""

    __tablename__ = "film_scripts"
    __table_args__ = (Index("ix_film_scripts_status_created", "status", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    author_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    source_format: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    structure: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    signature: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    scenes: Mapped[int] = mapped_column(Integer)
    speeches: Mapped[int] = mapped_column(Integer)
    words: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), server_default="pending_validation")
    duplicate_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("film_scripts.id"))
    similar_to: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("film_scripts.id"))
    similarity: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Validation(Base):
    """A validator's scores of a script on the rubric (1-10 each), with comments: one per
    validator and script, replaced by a later one while the script is open for scoring."""

    __tablename__ = "film_validations"
    __table_args__ = (UniqueConstraint("script_id", "validator_id"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    script_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("film_scripts.id", ondelete="CASCADE"), index=True
    )
    validator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    scores: Mapped[dict[str, int]] = mapped_column(JSONB)
    comments: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Selection(Base):
    """A closed round: the rule it applied, every candidate with the figures the rule read
    (so anyone can recompute the choice), and the script it selected."""

    __tablename__ = "film_selections"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    closed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rule: Mapped[dict[str, Any]] = mapped_column(JSONB)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    selected_script_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("film_scripts.id"))
    closed_at: Mapped[datetime] = mapped_column(server_default=func.now())
