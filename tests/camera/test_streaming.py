"""Streaming beyond MJPEG: an RTMP push that survives its ingest going away (tested against
FFmpeg's own RTMP listener), and HLS a browser can play."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import av
import httpx
import pytest

from atelier.camera import keys
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from tests.camera.conftest import CameraNode, running_node
from tests.camera.test_node import until
from tests.servers import free_port

KEY = "sk-live-0123456789abcdef"


@pytest.fixture(scope="module")
async def stream_node(
    settings: Settings, runtime: Runtime, face_video: Path, database_url: str
) -> AsyncIterator[CameraNode]:
    async with running_node(settings, runtime, face_video, database_url, "stream-camera") as n:
        yield n


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


def receiver(port: int, out: Path) -> subprocess.Popen[bytes]:
    """A local RTMP ingest: FFmpeg listening, writing what it receives as FLV."""
    return subprocess.Popen(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-listen", "1"),
            *("-i", f"rtmp://127.0.0.1:{port}/live/{KEY}", "-c", "copy", "-f", "flv", str(out)),
        ],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def frames_in(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        return sum(1 for _ in container.decode(stream))


async def test_an_rtmp_push_recovers_when_its_ingest_comes_back(
    stream_node: CameraNode, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    node = stream_node
    operator = {"Authorization": f"Bearer {keys.service_token(node.settings)}"}
    port = free_port()
    url = f"rtmp://127.0.0.1:{port}/live/{KEY}"

    async def rtmp(state: str) -> bool:
        status = (await http.get(f"{node.camera}/api/stream/status")).json()
        assert KEY not in str(status)
        return bool(status["rtmp"] and status["rtmp"]["state"] == state)

    first = receiver(port, tmp_path / "first.flv")
    second = None
    try:
        await asyncio.sleep(0.5)  # the listener binds
        started = await http.post(
            f"{node.camera}/api/stream/start", json={"url": url}, headers=operator
        )
        assert started.status_code == 201, started.text
        assert KEY not in started.text and started.json()["target"].endswith("/live/********")
        await until(lambda: rtmp("live"), "the push to go live")
        first.terminate()  # the ingest goes away
        first.wait(10)
        await until(lambda: rtmp("reconnecting"), "the push to notice")
        second = receiver(port, tmp_path / "second.flv")
        await until(lambda: rtmp("live"), "the push to recover", timeout_s=60)
        await asyncio.sleep(2)
        stopped = await http.post(f"{node.camera}/api/stream/stop", headers=operator)
        assert stopped.status_code == 200 and stopped.json()["restarts"] >= 1
        assert second.wait(20) == 0, second.stderr.read() if second.stderr else ""
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
    assert frames_in(tmp_path / "second.flv") >= 10
    assert (await http.post(f"{node.camera}/api/stream/stop", headers=operator)).status_code == 409


async def test_only_the_operator_pushes_and_only_to_rtmp(
    stream_node: CameraNode, http: httpx.AsyncClient
) -> None:
    node = stream_node
    operator = {"Authorization": f"Bearer {keys.service_token(node.settings)}"}
    for bad in ("http://example.com/live", "file:///etc/passwd", "rtmp://host/live key", "-i x"):
        refused = await http.post(
            f"{node.camera}/api/stream/start", json={"url": bad}, headers=operator
        )
        assert refused.status_code == 422, (bad, refused.text)
    anonymous = await http.post(f"{node.camera}/api/stream/start", json={"url": "rtmp://h/l/k"})
    assert anonymous.status_code == 401
    stranger = await http.post(
        f"{node.camera}/api/stream/start",
        json={"url": "rtmp://h/l/k"},
        headers={"Authorization": "Bearer not-a-session"},
    )
    assert stranger.status_code == 401


async def test_hls_plays_in_a_browser(stream_node: CameraNode, http: httpx.AsyncClient) -> None:
    node = stream_node

    async def playlist() -> str | None:
        answer = await http.get(f"{node.camera}/api/stream/hls/index.m3u8")
        if answer.status_code == 503:
            return None
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/vnd.apple.mpegurl"
        return answer.text if ".ts" in answer.text else None

    text = await until(playlist, "an HLS playlist with a segment", timeout_s=60)
    assert text.startswith("#EXTM3U")
    segment = re.findall(r"^(seg\d{5}\.ts)$", text, re.MULTILINE)[0]
    media = await http.get(f"{node.camera}/api/stream/hls/{segment}")
    assert media.status_code == 200 and media.headers["content-type"] == "video/mp2t"
    with av.open(io.BytesIO(media.content)) as container:
        frames = [f for f in container.decode(video=0)]
    assert frames and (frames[0].width, frames[0].height) == (640, 360)
    for bad in ("..%2Findex.m3u8", "seg1.ts", "seg00000.mp4", "%00"):
        assert (await http.get(f"{node.camera}/api/stream/hls/{bad}")).status_code == 404
