"""The AI studio's tables: a member's prompt library (each prompt's versions kept, with the
variables their text names) and agent runs (a template's plan, its cost shown before it
starts, and what each step produced)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base


class Prompt(Base):
    __tablename__ = "studio_prompts"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # shared with a market studio's members (its editors revise it), or the owner's alone
    studio_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("market_studios.id", ondelete="CASCADE"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(100))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    latest: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class PromptVersion(Base):
    __tablename__ = "studio_prompt_versions"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    prompt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("studio_prompts.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    variables: Mapped[dict[str, str]] = mapped_column(JSONB)  # name → default ("" if none)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    __table_args__ = (UniqueConstraint("prompt_id", "version", name="uq_prompt_version"),)


class AgentStatus(StrEnum):
    ESTIMATED = "estimated"  # planned and costed; nothing runs until it is started
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class AgentRun(Base):
    __tablename__ = "studio_agent_runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    template: Mapped[str] = mapped_column(String(30))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONB)  # jobs, compute_seconds, eta_s, quota
    status: Mapped[str] = mapped_column(String(10))
    job_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    ranked: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    collection_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    nft_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), default=list)
    cast_hash: Mapped[str | None] = mapped_column(String(42))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
