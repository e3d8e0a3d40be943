"""Screenplays submitted to the films domain, and the films made from them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
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


class MovieStatus(StrEnum):
    ESTIMATED = "estimated"  # planned and costed; nothing runs until it is confirmed
    GENERATING = "generating"  # its jobs are on the grid
    ASSEMBLING = "assembling"  # every job is done; the clips are being joined
    COMPLETED = "completed"  # the film is an accepted, signed artifact
    FAILED = "failed"


class Movie(Base):
    """A film of a script: its plan's figures (what it will cost), where making it is, and,
    once made, its files (the MP4 is a grid artifact; subtitles and poster are blobs)."""

    __tablename__ = "film_movies"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    script_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("film_scripts.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), server_default="estimated")
    options: Mapped[dict[str, Any]] = mapped_column(JSONB)
    jobs_by_kind: Mapped[dict[str, int]] = mapped_column(JSONB)
    compute_seconds: Mapped[float] = mapped_column(Float)
    eta_s: Mapped[float | None] = mapped_column(Float)  # the grid's estimate when costed
    progress: Mapped[float] = mapped_column(Float, server_default="0")
    stage: Mapped[str | None] = mapped_column(Text)  # what it is doing, in words
    error: Mapped[str | None] = mapped_column(Text)
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    video_key: Mapped[str | None] = mapped_column(String(200))
    poster_key: Mapped[str | None] = mapped_column(String(200))
    srt_key: Mapped[str | None] = mapped_column(String(200))
    vtt_key: Mapped[str | None] = mapped_column(String(200))
    duration_s: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class JobState(StrEnum):
    PLANNED = "planned"
    QUEUED = "queued"  # a grid request is making it
    DONE = "done"  # its result is in the blob store
    FAILED = "failed"  # its grid request failed `MAX_TRIES` times


class MovieJob(Base):
    """One grid job of a film (a shot, a line, a music cue), in plan order. `cache_key` is
    the job's content (kind and parameters): a job with a key some film already has done
    reuses that result instead of running again."""

    __tablename__ = "film_jobs"
    __table_args__ = (
        Index("ix_film_jobs_cache_done", "cache_key", postgresql_where="state = 'done'"),
    )

    movie_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("film_movies.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    scene: Mapped[int] = mapped_column(Integer)
    shot: Mapped[int | None] = mapped_column(Integer)  # the shot it is seen or heard over
    character: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    estimate_s: Mapped[float] = mapped_column(Float)
    cache_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(10), server_default="planned")
    request_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), index=True)
    tries: Mapped[int] = mapped_column(Integer, server_default="0")
    storage_key: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class FilmView(Base):
    """A signed-in member watched a film on a day: the first time that day counts (reloads
    do not add views, nor outbox events)."""

    __tablename__ = "film_views"

    movie_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("film_movies.id", ondelete="CASCADE"), primary_key=True
    )
    viewer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
