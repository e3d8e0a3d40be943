"""Automation tables: rules (trigger + conditions + actions, per owner) and their runs (the
execution log: what triggered each, what each action did, or why it did not run)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class TriggerKind(StrEnum):
    EVENT = "event"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"


class RunOutcome(StrEnum):
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    RATE_LIMITED = "rate_limited"
    LOOP_CUT = "loop_cut"


class Rule(Base):
    __tablename__ = "automation_rules"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(10))
    topic: Mapped[str | None] = mapped_column(String(100))  # an event trigger's
    schedule: Mapped[str | None] = mapped_column(String(100))  # a cron expression (UTC)
    # a webhook trigger's HMAC key, sealed (the owner sees it once, at creation)
    webhook_secret: Mapped[bytes | None]
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    max_runs_per_hour: Mapped[int] = mapped_column(Integer, default=60)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)  # a schedule's
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())

    __table_args__ = (Index("ix_automation_rules_topic", "topic", "enabled"),)


class Run(Base):
    """One firing of a rule, unique per triggering event (or tick, or delivery): a
    redelivered event finds the run it started."""

    __tablename__ = "automation_runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    rule_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("automation_rules.id", ondelete="CASCADE")
    )
    trigger_key: Mapped[str] = mapped_column(String(200))
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB)
    chain: Mapped[list[str]] = mapped_column(JSONB)  # the rules whose actions led here
    outcome: Mapped[str] = mapped_column(String(15))
    results: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        UniqueConstraint("rule_id", "trigger_key", name="uq_automation_runs_trigger"),
        Index("ix_automation_runs_rule_time", "rule_id", "started_at"),
    )
