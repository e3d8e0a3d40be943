"""The engine's tables: model versions, their aliases, the audit trail of every change, A/B
tests with their per-job observations and the looks taken at them, and benchmark jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Identity,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base
from atelier.grid.states import known


class VersionStatus(StrEnum):
    CANDIDATE = "candidate"  # found; its benchmark runs
    TESTING = "testing"  # the challenger of a running A/B test
    ACTIVE = "active"  # a champion (now or before)
    STANDBY = "standby"  # benchmarked, kept, not serving
    REJECTED = "rejected"


class ExperimentState(StrEnum):
    RUNNING = "running"
    DECIDED = "decided"


class ModelVersion(Base):
    """A version of a model for one capability. `model_id` (`name@version`) is what workers
    advertise and what a job's `model` names."""

    __tablename__ = "engine_versions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    model_id: Mapped[str] = mapped_column(String(100), unique=True)
    capability: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(60))
    version: Mapped[str] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(200))  # "builtin", or the catalog manifest
    backend: Mapped[str] = mapped_column(String(50))
    weights_sha256: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    status_reason: Mapped[str | None] = mapped_column(Text)
    scores: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the latest benchmark's
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (CheckConstraint(known(VersionStatus, "status"), name="known_status"),)


class Alias(Base):
    """`champion` / `challenger` of a capability, MLflow-style: a name for one version."""

    __tablename__ = "engine_aliases"

    capability: Mapped[str] = mapped_column(String(10), primary_key=True)
    alias: Mapped[str] = mapped_column(String(20), primary_key=True)
    model_id: Mapped[str] = mapped_column(ForeignKey("engine_versions.model_id"))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ModelEvent(Base):
    """The audit trail: every change to a version or an alias, who made it and why.
    Champion changes carry the previous champion (`previous`), which rollback restores."""

    __tablename__ = "engine_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    capability: Mapped[str] = mapped_column(String(10), index=True)
    model_id: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(30))
    previous: Mapped[str | None] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, server_default=text("''"))
    actor: Mapped[str] = mapped_column(String(100))  # "engine", or "user:<id>"
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class Experiment(Base):
    """An A/B test of a challenger against the champion on live jobs."""

    __tablename__ = "engine_experiments"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    capability: Mapped[str] = mapped_column(String(10), index=True)
    champion: Mapped[str] = mapped_column(String(100))
    challenger: Mapped[str] = mapped_column(String(100))
    challenger_share: Mapped[float] = mapped_column(Float)
    alpha: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(10))
    verdict: Mapped[str | None] = mapped_column(String(15))
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    ends_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(known(ExperimentState), name="known_state"),)


class Observation(Base):
    """One live job of an experiment: its arm, reward in [0, 1] and cost. A job counts once
    (the event that reports it may be delivered twice)."""

    __tablename__ = "engine_observations"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engine_experiments.id", ondelete="CASCADE"), index=True
    )
    request_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), unique=True)
    arm: Mapped[str] = mapped_column(String(12))
    reward: Mapped[float] = mapped_column(Float)
    failed: Mapped[bool]
    compute_s: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class Look(Base):
    """A look at an experiment: the confidence sequence of (challenger - champion) then,
    plotted on the models page."""

    __tablename__ = "engine_looks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("engine_experiments.id", ondelete="CASCADE"), index=True
    )
    champion_jobs: Mapped[int] = mapped_column(Integer)
    challenger_jobs: Mapped[int] = mapped_column(Integer)
    champion_mean: Mapped[float | None] = mapped_column(Float)
    challenger_mean: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(server_default=func.now())


class BenchmarkJob(Base):
    """A grid job of a version's benchmark: which suite case it runs."""

    __tablename__ = "engine_benchmark_jobs"
    __table_args__ = (UniqueConstraint("run_key", "model_id", "case_index"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    run_key: Mapped[str] = mapped_column(String(120), index=True)
    model_id: Mapped[str] = mapped_column(String(100))
    case_index: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
