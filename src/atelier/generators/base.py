"""The worker-side contract: a backend turns a job's kind + parameters into a media file.

Backends run on volunteer machines; they see only what the server sends (kind, parameters,
no user identity) and write one file. `progress` reports 0-100 and may be called from a
worker thread.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

Progress = Callable[[float], None]

MIME_BY_FORMAT = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "exr": "image/x-exr",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "glb": "model/gltf-binary",
}


class JobUnsuitable(ValueError):
    """The job's parameters cannot be used (an unknown voice, …): the job's fault, not the
    worker's. The worker reports it as such and it does not count against the worker."""


@dataclass(frozen=True)
class Output:
    path: Path
    mime: str
    model: str


class Backend(Protocol):
    name: str
    kinds: tuple[str, ...]
    models: tuple[str, ...]

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output: ...


def seed_for(params: dict[str, Any]) -> int:
    """The job's seed, or a stable one derived from its prompt: same prompt, same output."""
    if params.get("seed") is not None:
        return int(params["seed"])
    text = f"{params.get('prompt', '')}|{params.get('scene', '')}|{params.get('camera', '')}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def fraction(values: NDArray[np.floating[Any]]) -> NDArray[np.float64]:
    """The fractional part of each value, in [0, 1), as `values % 1.0` would be but without
    glibc's fmod: on x86-64 that runs on the x87 unit, and a native library that leaves MMX
    state behind (no EMMS) makes the next x87 result a NaN. One NaN sample turned a whole
    track to noise after normalising by its peak."""
    return np.asarray(values - np.floor(values), dtype=np.float64)
