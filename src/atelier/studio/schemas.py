"""Studio request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from atelier.core.schemas import Body, Text
from atelier.studio.models import AgentRun, Prompt, PromptVersion


class PromptIn(Body):
    name: Text = Field(min_length=1, max_length=100)
    text: Text = Field(min_length=1, max_length=1000)
    tags: list[Text] = Field(default_factory=list, max_length=10)
    defaults: dict[str, Text] = Field(
        default_factory=dict, max_length=20, description="variable → default value"
    )
    studio_id: uuid.UUID | None = Field(
        default=None, description="share it with a market studio you edit for (its members use it)"
    )


class VersionIn(Body):
    text: Text = Field(min_length=1, max_length=1000)
    defaults: dict[str, Text] = Field(default_factory=dict, max_length=20)


class RenderIn(Body):
    values: dict[str, Text] = Field(default_factory=dict, max_length=20)
    version: int | None = Field(default=None, ge=1, le=100_000)


class VersionOut(BaseModel):
    version: int
    text: str
    variables: dict[str, str]
    created_at: datetime

    @classmethod
    def of(cls, found: PromptVersion) -> VersionOut:
        return cls.model_validate(found, from_attributes=True)


class PromptOut(BaseModel):
    id: uuid.UUID
    studio_id: uuid.UUID | None
    name: str
    tags: list[str]
    latest: int
    versions: list[VersionOut] = Field(default_factory=list)
    updated_at: datetime

    @classmethod
    def of(cls, found: Prompt, versions: list[PromptVersion] | None = None) -> PromptOut:
        return cls(
            id=found.id,
            studio_id=found.studio_id,
            name=found.name,
            tags=list(found.tags),
            latest=found.latest,
            versions=[VersionOut.of(v) for v in versions or []],
            updated_at=found.updated_at,
        )


class AgentIn(Body):
    template: Text = Field(max_length=30)
    prompt: Text | None = Field(default=None, max_length=1000)
    prompt_id: uuid.UUID | None = None
    values: dict[str, Text] = Field(default_factory=dict, max_length=20)
    n: int | None = Field(default=None, ge=1, le=24)
    keep: int | None = Field(default=None, ge=1, le=24)
    studio_id: uuid.UUID | None = None
    collection_name: Text | None = Field(default=None, max_length=32)
    cast: bool = False


class AgentOut(BaseModel):
    """An agent run: what it will do and cost (`plan`), where it is (`steps`, from its
    flow), and what it made."""

    id: uuid.UUID
    template: str
    status: str
    params: dict[str, Any]
    plan: dict[str, Any]
    steps: dict[str, str] = Field(default_factory=dict)
    job_ids: list[uuid.UUID]
    ranked: list[dict[str, Any]]
    collection_id: uuid.UUID | None
    nft_ids: list[uuid.UUID]
    cast_hash: str | None
    error: str | None
    created_at: datetime

    @classmethod
    def of(cls, run: AgentRun, steps: dict[str, str] | None = None) -> AgentOut:
        return cls(
            id=run.id,
            template=run.template,
            status=run.status,
            params=run.params,
            plan=run.plan,
            steps=steps or {},
            job_ids=list(run.job_ids),
            ranked=list(run.ranked),
            collection_id=run.collection_id,
            nft_ids=list(run.nft_ids),
            cast_hash=run.cast_hash,
            error=run.error,
            created_at=run.created_at,
        )


class TemplateOut(BaseModel):
    name: str
    title: str
    kind: str
    n: int
    keep: int
    description: str
