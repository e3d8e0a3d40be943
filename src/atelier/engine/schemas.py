"""What the engine's routes take and answer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from atelier.core.schemas import Body


class VersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    model_id: str
    capability: str
    name: str
    version: str
    source: str
    backend: str
    weights_sha256: str | None
    status: str
    status_reason: str | None
    aliases: list[str] = Field(default_factory=list)
    scores: dict[str, Any] | None
    created_at: datetime


class ArmOut(BaseModel):
    model_id: str
    jobs: int
    mean_reward: float | None
    failures: int
    mean_compute_s: float | None


class LookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    champion_jobs: int
    challenger_jobs: int
    low: float
    high: float
    at: datetime


class ExperimentOut(BaseModel):
    id: uuid.UUID
    capability: str
    state: str
    verdict: str | None
    reason: str | None
    alpha: float
    challenger_share: float
    started_at: datetime
    ends_at: datetime
    decided_at: datetime | None
    champion: ArmOut
    challenger: ArmOut
    looks: list[LookOut]


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    capability: str
    action: str
    model_id: str | None
    previous: str | None
    detail: str
    actor: str
    at: datetime


class ModelsInfoOut(BaseModel):
    capabilities: list[str]
    champions: dict[str, str]
    challengers: dict[str, str]
    versions: list[VersionOut]
    experiments: list[ExperimentOut]
    events: list[EventOut]


class BackendOut(BaseModel):
    name: str
    models: list[str]
    workers: int
    champion: bool = Field(description="the backend runs the kind's champion")


class KindOut(BaseModel):
    kind: str
    champion: str | None
    backends: list[BackendOut]


class CapabilitiesOut(BaseModel):
    live_workers: int
    kinds: list[KindOut]


class UpdateOut(BaseModel):
    found: list[str]
    rejected: dict[str, str]
    unreadable: dict[str, str]
    champions: list[str] = Field(description="built-in models made champions of empty kinds")


class RollbackOut(BaseModel):
    capability: str
    champion: str
    replaced: str


class ImageIn(Body):
    """Photorealistic image generation (the seed's Picasso route), as a grid job."""

    prompt: str = Field(min_length=1, max_length=2000)
    negative_prompt: str | None = Field(default=None, max_length=2000)
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    model: str | None = Field(default=None, max_length=100, description="a version; else routed")
    format: Literal["png", "jpeg"] = "png"
    wallet: str | None = Field(default=None, max_length=64)


class RenderIn(Body):
    """Path-traced rendering (the seed's RTX route): Blender's Cycles on a worker."""

    prompt: str | None = Field(default=None, max_length=2000, description="a scene built from it")
    scene: str | None = Field(
        default=None, max_length=500, description="a scene's name or description"
    )
    width: int | None = Field(default=None, ge=1, le=100_000)
    height: int | None = Field(default=None, ge=1, le=100_000)
    samples: int | None = Field(default=None, ge=1, le=4096)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    format: Literal["png", "exr"] = "png"
    wallet: str | None = Field(default=None, max_length=64)


class ModelIn(Body):
    """3D model synthesis (the seed's Edify route): a textured mesh as glTF binary, with a
    turntable preview rendered by Cycles inside the same file."""

    prompt: str = Field(min_length=1, max_length=2000)
    texture: Literal[256, 512, 1024, 2048, 4096] = 2048
    detail: int = Field(default=48, ge=8, le=256, description="rings of the mesh")
    image: str | None = Field(
        default=None,
        max_length=700_000,
        description="a picture (base64 PNG or JPEG, up to 512 KiB) to raise as a relief: "
        "its brightness is the height, the picture its texture",
    )
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    model: str | None = Field(default=None, max_length=100)
    wallet: str | None = Field(default=None, max_length=64)
