"""Moderation request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from atelier.core.schemas import Body, Text
from atelier.moderation.models import Case


class CaseOut(BaseModel):
    id: uuid.UUID
    target_kind: str
    target_id: str
    hidden: bool
    reason: str
    appeal: str | None
    appealed_at: datetime | None
    resolution: str | None
    resolved_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, found: Case) -> CaseOut:
        return cls.model_validate(found, from_attributes=True)


class AppealIn(Body):
    text: Text = Field(min_length=1, max_length=2000)


class HideIn(Body):
    kind: Literal["artifact", "nft", "cast", "script"]
    target_id: Text = Field(min_length=1, max_length=80)
    reason: Text = Field(min_length=3, max_length=1000)


class DecideIn(Body):
    restore: bool
    note: Text = Field(min_length=1, max_length=1000)
