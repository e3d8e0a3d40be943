"""Admin request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from atelier.admin.service import SystemStatus
from atelier.core.schemas import Body, Text
from atelier.identity.models import User
from atelier.social.schemas import HubStatusOut


class AdminUserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    display_name: str | None
    roles: list[str]
    active: bool
    email_verified: bool
    daily_quota: int | None = Field(description="an admin's override; null: the roles' quota")
    created_at: datetime

    @classmethod
    def of(cls, user: User) -> AdminUserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            roles=list(user.roles),
            active=user.is_active,
            email_verified=user.email_verified_at is not None,
            daily_quota=user.daily_quota,
            created_at=user.created_at,
        )


class UserChangeIn(Body):
    roles: list[Text] | None = Field(default=None, max_length=4)
    active: bool | None = None
    daily_quota: int | None = Field(default=None, ge=0, le=1_000_000)
    clear_quota: bool = False


class DeadLetterOut(BaseModel):
    id: int
    task: str
    queue: str
    attempts: int
    scheduled_at: datetime | None


class IndexerOut(BaseModel):
    name: str
    position: str
    moved_at: datetime | None = Field(description="when it last moved: a stalled one ages")
    waiting: str | None
    error: str | None


class StatusOut(BaseModel):
    hubs: list[HubStatusOut]
    indexers: list[IndexerOut]
    outbox_backlog: int
    tasks: list[dict[str, Any]]
    dead_letters: list[DeadLetterOut]
    checked_at: datetime

    @classmethod
    def of(cls, found: SystemStatus) -> StatusOut:
        return cls(
            hubs=[HubStatusOut.of(h) for h in found.hubs],
            indexers=[IndexerOut(**i.__dict__) for i in found.indexers],
            outbox_backlog=found.outbox_backlog,
            tasks=found.tasks,
            dead_letters=[DeadLetterOut(**d.__dict__) for d in found.dead_letters],
            checked_at=found.checked_at,
        )
