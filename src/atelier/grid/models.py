"""Grid tables: generation requests, workers, attempts (leases) and accepted artifacts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base
from atelier.grid.states import AttemptState, RequestState, WorkerState, known


class GenerationRequest(Base):
    """A creator's job. `user_id` and `wallet` never leave the server."""

    __tablename__ = "grid_requests"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    model: Mapped[str | None] = mapped_column(String(100))
    pixels: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    duration_s: Mapped[float] = mapped_column(Float, server_default=text("0"))
    estimate_s: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(20))
    wallet: Mapped[str | None] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    state: Mapped[str] = mapped_column(String(12), server_default=text("'queued'"))
    priority: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # Dispatch order, fixed at submit: priority x aging - submit time. Ordering by it descending
    # is ordering by `priority + waited / aging`, but an index can serve it (no sort per pop).
    queue_key: Mapped[float] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    max_attempts: Mapped[int] = mapped_column(Integer)
    excluded_workers: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'::uuid[]")
    )
    current_attempt_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    progress: Mapped[float] = mapped_column(Float, server_default=text("0"))
    fault_reason: Mapped[str | None] = mapped_column(Text)
    is_possible: Mapped[bool] = mapped_column(server_default=text("true"))
    impossible_reason: Mapped[str | None] = mapped_column(Text)
    quota_reservation_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    artifact_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # A canary: a job the platform made to check one worker's honesty (it looks like any
    # other job to the worker; only `only_worker` may claim it; its result is compared with
    # the platform's own rendering, not published).
    canary: Mapped[bool] = mapped_column(server_default=text("false"))
    # The film this job is part of (a shot, a line, a music cue, or the assembled film).
    film_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("film_movies.id", ondelete="SET NULL"), index=True
    )
    only_worker: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    # The A/B test that chose this job's model, and the arm it fell in (grid.routing).
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    arm: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(known(RequestState), name="known_state"),
        Index(
            "ix_grid_requests_queue",
            text("queue_key DESC"),
            postgresql_where=text("state = 'queued'"),
        ),
        Index(
            "ix_grid_requests_only_worker",
            "only_worker",
            postgresql_where=text("only_worker IS NOT NULL"),
        ),
    )


class Worker(Base):
    __tablename__ = "grid_workers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    kinds: Mapped[list[str]] = mapped_column(ARRAY(String(10)))
    models: Mapped[list[str]] = mapped_column(ARRAY(String(100)))
    # what runs them: [{"name": backend, "kinds": [...], "models": [...]}] as the worker said
    backends: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, server_default=text("'[]'::jsonb")
    )
    max_pixels: Mapped[int] = mapped_column(BigInteger)
    max_duration_s: Mapped[float] = mapped_column(Float)
    version: Mapped[str | None] = mapped_column(String(50))
    state: Mapped[str] = mapped_column(String(12), server_default=text("'active'"))
    maintenance_reason: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime] = mapped_column(server_default=func.now())
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    jobs_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    jobs_failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    jobs_dropped: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    compute_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    bytes_delivered: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    canaries_passed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    canaries_failed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    canary_failure: Mapped[str | None] = mapped_column(Text)  # the last failed canary's why
    # the next canary is due once jobs_done reaches this (drawn at random after each one)
    canary_due_at: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (
        UniqueConstraint("owner_id", "name", name="uq_grid_workers_owner_name"),
        CheckConstraint(known(WorkerState), name="known_state"),
    )


class Attempt(Base):
    """One lease of a request to a worker. Its id is the `lease_id` the worker sees."""

    __tablename__ = "grid_attempts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("grid_requests.id", ondelete="CASCADE"), index=True
    )
    worker_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("grid_workers.id"), index=True)
    state: Mapped[str] = mapped_column(String(12), server_default=text("'active'"))
    leased_at: Mapped[datetime] = mapped_column(server_default=func.now())
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(known(AttemptState), name="known_state"),
        Index(
            "ix_grid_attempts_active_expiry",
            "expires_at",
            postgresql_where=text("state = 'active'"),
        ),
    )


class Artifact(Base):
    """An accepted, validated result, stored content-addressed in the blob store. Without
    an attempt and a worker when the platform made it itself from other artifacts (a film
    joined from its shots): validated and accepted the same way, paid to no worker."""

    __tablename__ = "artifacts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("grid_requests.id", ondelete="CASCADE"), unique=True
    )
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_attempts.id"))
    worker_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("grid_workers.id"))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(50))
    format: Mapped[str] = mapped_column(String(10))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_s: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(100))
    compute_seconds: Mapped[float] = mapped_column(Float, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ModelRoute(Base):
    """Which model version runs a kind's jobs that name none: its `champion`, or, while an
    A/B test runs, the champion or the `challenger` by a deterministic split of the job's
    id (grid.routing). The engine sets routes; the grid only follows them."""

    __tablename__ = "grid_model_routes"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    champion: Mapped[str] = mapped_column(String(100))
    challenger: Mapped[str | None] = mapped_column(String(100))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    challenger_share: Mapped[float] = mapped_column(Float, server_default=text("0.5"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
