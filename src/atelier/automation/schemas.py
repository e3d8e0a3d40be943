"""Automation request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from atelier.automation.actions import ActionKind
from atelier.automation.models import Rule, Run
from atelier.core.schemas import Body, Text


class ConditionIn(Body):
    field: Text = Field(max_length=60)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in"]
    value: str | int | float | bool | list[str | int | float | bool]


class ActionIn(Body):
    kind: ActionKind
    job: Text | None = Field(default=None, max_length=20, description="submit_job: the job's kind")
    prompt: Text | None = Field(default=None, max_length=500)
    text: Text | None = Field(default=None, max_length=320)
    url: Text | None = Field(default=None, max_length=500)
    body: Text | None = Field(default=None, max_length=4000)
    subject: Text | None = Field(default=None, max_length=200)
    title: Text | None = Field(default=None, max_length=200, description="create_proposal")
    template: Text | None = Field(default=None, max_length=30, description="run_agent")
    nft: Text | None = Field(default=None, max_length=60, description="list_nft, reprice_nft")
    price: Text | None = Field(
        default=None, max_length=40, description="list_nft, reprice_nft: lamports, or {field}"
    )

    @field_validator("price", mode="before")
    @classmethod
    def _lamports_as_text(cls, value: Any) -> Any:
        """A price may come as a JSON number; it is kept as text, like a `{field}`."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class TriggerIn(Body):
    kind: Literal["event", "schedule", "webhook"]
    topic: Text | None = Field(default=None, max_length=100)
    schedule: Text | None = Field(default=None, max_length=100)


class RuleIn(Body):
    name: Text = Field(min_length=1, max_length=100)
    trigger: TriggerIn
    conditions: list[ConditionIn] = Field(default_factory=list, max_length=10)
    actions: list[ActionIn] = Field(min_length=1, max_length=5)
    max_runs_per_hour: int = Field(default=60, ge=1, le=3600)
    enabled: bool = True


class RulePatch(Body):
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    enabled: bool | None = None
    conditions: list[ConditionIn] | None = Field(default=None, max_length=10)
    actions: list[ActionIn] | None = Field(default=None, min_length=1, max_length=5)
    max_runs_per_hour: int | None = Field(default=None, ge=1, le=3600)
    schedule: Text | None = Field(default=None, max_length=100)


class RuleOut(BaseModel):
    id: uuid.UUID
    name: str
    enabled: bool
    trigger: str
    topic: str | None
    schedule: str | None
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    max_runs_per_hour: int
    created_at: datetime
    webhook_url: str | None = None
    webhook_secret: str | None = Field(
        default=None, description="a webhook trigger's signing secret: shown once, at creation"
    )

    @classmethod
    def of(cls, rule: Rule, secret: str | None = None) -> RuleOut:
        return cls(
            id=rule.id,
            name=rule.name,
            enabled=rule.enabled,
            trigger=rule.trigger,
            topic=rule.topic,
            schedule=rule.schedule,
            conditions=rule.conditions,
            actions=rule.actions,
            max_runs_per_hour=rule.max_runs_per_hour,
            created_at=rule.created_at,
            webhook_url=f"/api/automation/hooks/{rule.id}" if rule.trigger == "webhook" else None,
            webhook_secret=secret,
        )


class RunOut(BaseModel):
    id: uuid.UUID
    trigger_key: str
    inputs: dict[str, Any]
    chain: list[str]
    outcome: str
    results: list[Any]
    error: str | None
    started_at: datetime
    finished_at: datetime | None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls.model_validate(run, from_attributes=True)


class DryRunIn(Body):
    event: dict[str, str | int | float | bool | None] = Field(
        description="the triggering event's fields (as the trigger's event has them)"
    )


class DryRunOut(BaseModel):
    matched: bool
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    would: str


class TriggerOut(BaseModel):
    topic: str
    fields: dict[str, str]
