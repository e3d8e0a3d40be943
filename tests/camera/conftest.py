"""The camera node under test: its three services served by uvicorn on loopback ports in the
test's event loop (real HTTP between them, as on an edge box), the platform beside them for
the embedded Solana runtime, and a video of real faces as the source."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from atelier.camera.runner import build_camera, build_middleware, build_vault, peers_of
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.server.app import create_app
from tests.conftest import make_settings
from tests.helpers import serving
from tests.servers import free_port

FACES = Path(sys.prefix) / "share" / "face-images"


def face_image(name: str) -> Image.Image:
    path = FACES / f"{name}.jpg"
    assert path.exists(), f"{path} is missing: `make test` extracts face_recognition's images"
    return Image.open(path).convert("RGB")


def scene(step: int, width: int = 640, height: int = 360) -> np.ndarray:
    """Obama near the camera on the left, Biden further away on the right, both moving a
    little from frame to frame (the motion gate lets such frames through)."""
    canvas = Image.new("RGB", (width, height), (38, 52, 70))
    near = face_image("obama")
    near.thumbnail((330, 330))
    far = face_image("biden")
    far.thumbnail((320, 320))
    wobble = int(6 * np.sin(step / 4))
    canvas.paste(near, (40 + wobble, 15))
    canvas.paste(far, (440 - wobble, 40))
    return np.asarray(canvas)


def write_video(path: Path, frames: int = 45, fps: int = 15) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for step in range(frames):
            frame = av.VideoFrame.from_ndarray(scene(step), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="session")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "faces.mp4")


@dataclass
class CameraNode:
    settings: Settings
    camera: str
    vault: str
    middleware: str
    platform: str


@contextlib.asynccontextmanager
async def running_node(
    settings: Settings, runtime: Runtime, video: Path, database_url: str, name: str
) -> AsyncIterator[CameraNode]:
    """The platform (for its embedded Solana runtime) and the node's three services."""
    platform_port = free_port()
    edge = make_settings(
        settings.home / name,
        database_url,
        camera_source=str(video),
        camera_port=free_port(),
        vault_port=free_port(),
        camera_solana_port=free_port(),
        camera_solana_rpc_url=f"http://127.0.0.1:{platform_port}/solana/rpc",
        camera_name=name,
    )
    peers = peers_of(edge)
    async with (
        serving(create_app(settings, runtime=runtime), platform_port) as platform,
        serving(build_vault(edge), edge.vault_port) as vault,
        serving(build_middleware(edge), edge.camera_solana_port) as middleware,
        serving(build_camera(edge, peers), edge.camera_port) as camera,
    ):
        yield CameraNode(edge, camera, vault, middleware, platform)


@pytest.fixture(scope="module")
async def node(
    settings: Settings, runtime: Runtime, face_video: Path, database_url: str
) -> AsyncIterator[CameraNode]:
    async with running_node(settings, runtime, face_video, database_url, "test-camera") as n:
        yield n


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
