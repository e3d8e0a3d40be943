"""The stream beyond MJPEG: an RTMP push (Livepeer, YouTube, any ingest, or a local nginx-rtmp)
and HLS for browsers, both made by FFmpeg from the JPEGs the pipeline already encoded for the
MJPEG viewers (so they show the same overlays and the same blurring).

Each output is one FFmpeg process fed through its stdin with wall-clock timestamps (the
capture rate varies). When FFmpeg exits (the ingest went away, the network dropped) the feed
starts it again with growing backoff until it is stopped: auto-recovery, with the reason in
its status. A stream key never appears in a status or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atelier.camera.pipeline import StreamHub
from atelier.core.logging import get_logger

log = get_logger("atelier.camera.streaming")
MAX_BACKOFF_S = 10.0
WRITE_TIMEOUT_S = 5.0
LIVE_AFTER_S = 2.0
RTMP_URL = re.compile(r"^rtmps?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~\-/]*)?$")
HLS_SEGMENT = re.compile(r"^seg\d{5}\.ts$")
HLS_SEGMENT_S = 2


def shown_url(url: str) -> str:
    """An RTMP URL as a status may show it: the last path part (the stream key) masked."""
    head, _, key = url.rpartition("/")
    return f"{head}/{'*' * min(len(key), 8)}" if key and "://" in head else url


@dataclass
class FeedStatus:
    state: str = "stopped"  # starting, live, reconnecting, stopped
    target: str = ""
    error: str | None = None
    restarts: int = 0
    frames: int = 0
    since: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "target": self.target,
            "error": self.error,
            "restarts": self.restarts,
            "frames": self.frames,
            "since": self.since,
        }


class FfmpegFeed:
    """Feeds the hub's JPEGs to `ffmpeg <input> <output_args>`, restarting it when it dies."""

    def __init__(self, hub: StreamHub, output_args: list[str], *, target: str, fps: float) -> None:
        self.hub, self.output_args, self.fps = hub, output_args, fps
        self.status = FeedStatus(target=target)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if not self.running:
            self.status.state, self.status.since = "starting", time.time()
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Cancel the feed and wait until it has ended (and killed FFmpeg). Cancelled again
        each second: on Python 3.11 `asyncio.wait_for` can swallow a cancellation that
        arrives as its inner wait completes (gh-86296), and the feed would go on for ever."""
        if self._task is not None:
            while not self._task.done():
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=1.0)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.status.state, self.status.since = "stopped", time.time()

    def _command(self) -> list[str]:
        ffmpeg = shutil.which("ffmpeg") or "ffmpeg"
        keyframes = f"expr:gte(t,n_forced*{HLS_SEGMENT_S})"
        return [
            ffmpeg,
            *("-hide_banner", "-loglevel", "error", "-nostdin"),
            *("-use_wallclock_as_timestamps", "1", "-f", "mjpeg", "-i", "pipe:0"),
            *("-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency"),
            *("-pix_fmt", "yuv420p", "-force_key_frames", keyframes),
            *self.output_args,
        ]

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            started = time.monotonic()
            try:
                reason = await self._once()
            except OSError as exc:  # no ffmpeg, no pipes left
                reason = f"ffmpeg cannot start: {exc}"
            if time.monotonic() - started > 30:
                backoff = 0.5  # it ran a good while: this is a new failure, not the same one
            self.status.state, self.status.error = "reconnecting", reason
            self.status.restarts += 1
            self.status.since = time.time()
            log.warning("camera.stream_lost", target=self.status.target, error=reason)
            await asyncio.sleep(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)

    async def _once(self) -> str:
        """Run FFmpeg until it exits; the reason it did."""
        process = await asyncio.create_subprocess_exec(
            *self._command(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stderr is not None
        errors = asyncio.create_task(_tail(process.stderr))
        seen, began = -1, time.monotonic()
        try:
            while process.returncode is None:
                seen, jpeg = await self.hub.next(seen)
                if jpeg is None:
                    continue
                process.stdin.write(jpeg)
                await asyncio.wait_for(process.stdin.drain(), WRITE_TIMEOUT_S)
                self.status.frames += 1
                # live once FFmpeg has taken frames for a while: a refused connection makes
                # it exit within a second or two
                if self.status.state != "live" and time.monotonic() - began > LIVE_AFTER_S:
                    self.status.state, self.status.error = "live", None
                    self.status.since = time.time()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            await process.wait()
        detail = (await errors).decode(errors="replace").strip().splitlines()
        reason = detail[-1] if detail else f"ffmpeg exited with {process.returncode}"
        return _mask_urls(reason)[:300]


async def _tail(stream: asyncio.StreamReader, keep: int = 4096) -> bytes:
    """What a process wrote to the stream, its last `keep` bytes (FFmpeg may talk a lot)."""
    kept = b""
    while chunk := await stream.read(4096):
        kept = (kept + chunk)[-keep:]
    return kept


def _mask_urls(text: str) -> str:
    return re.sub(r"rtmps?://\S+", lambda m: shown_url(m.group(0)), text)


def rtmp_feed(hub: StreamHub, url: str, fps: float) -> FfmpegFeed:
    return FfmpegFeed(
        hub, ["-g", str(max(1, round(fps * 2))), "-f", "flv", url], target=shown_url(url), fps=fps
    )


class Hls:
    """HLS made on demand: started by the first player, stopped when nobody asked for the
    playlist for a while (an idle camera does not encode for nobody)."""

    IDLE_S = 30.0

    def __init__(self, hub: StreamHub, fps: float, make_directory: Callable[[], Path]) -> None:
        self.hub, self.fps = hub, fps
        self._make_directory = make_directory
        self.directory: Path | None = None
        self.feed: FfmpegFeed | None = None
        self.asked_at = 0.0

    async def playlist(self, wait_s: float = 15.0) -> bytes | None:
        self.asked_at = time.monotonic()
        if self.feed is None or not self.feed.running:
            self.directory = self._make_directory()
            index = self.directory / "index.m3u8"
            self.feed = FfmpegFeed(
                self.hub,
                [
                    *("-f", "hls", "-hls_time", str(HLS_SEGMENT_S), "-hls_list_size", "6"),
                    *("-hls_flags", "delete_segments+omit_endlist"),
                    *("-hls_segment_filename", str(self.directory / "seg%05d.ts")),
                    str(index),
                ],
                target="hls",
                fps=self.fps,
            )
            self.feed.start()
        assert self.directory is not None
        index = self.directory / "index.m3u8"
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if index.exists():
                return index.read_bytes()
            await asyncio.sleep(0.1)
        return None

    def segment(self, name: str) -> Path | None:
        if self.directory is None or not HLS_SEGMENT.match(name):
            return None
        path = self.directory / name
        return path if path.is_file() else None

    async def stop_when_idle(self) -> None:
        if self.feed is not None and time.monotonic() - self.asked_at > self.IDLE_S:
            await self.stop()

    async def stop(self) -> None:
        if self.feed is not None:
            await self.feed.stop()
            self.feed = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def hls_directory(parent: Path) -> Callable[[], Path]:
    def make() -> Path:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="hls-", dir=parent))

    return make
