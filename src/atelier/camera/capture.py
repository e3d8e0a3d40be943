"""Frames in: a V4L2 device, an RTSP/HTTP URL or a video file, decoded by FFmpeg (PyAV) in a
thread of its own, paced to the configured rate and size. A file loops at its own speed (the
test source); a live source that fails or ends is reopened with backoff, and the status says
what happened."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from atelier.core.logging import get_logger

log = get_logger("atelier.camera.capture")
MAX_BACKOFF_S = 10.0


@dataclass
class SourceStatus:
    source: str
    state: str = "starting"  # starting, live, reconnecting, stopped
    error: str | None = None
    frames: int = 0
    reconnects: int = 0
    since: float = field(default_factory=time.time)

    def public(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "state": self.state,
            "error": self.error,
            "frames": self.frames,
            "reconnects": self.reconnects,
            "since": self.since,
        }


def _open(source: str) -> Any:
    if source.startswith("/dev/video"):
        return av.open(source, format="video4linux2", timeout=5)
    if "://" in source:
        return av.open(source, timeout=5, options={"rtsp_transport": "tcp"})
    return av.open(source)


class FrameSource:
    """Calls `on_frame(rgb)` at most `fps` times a second until `stop()`."""

    def __init__(
        self,
        source: str,
        *,
        fps: float,
        width: int,
        height: int,
        on_frame: Callable[[np.ndarray], None],
    ) -> None:
        self.source, self.fps, self.width, self.height = source, fps, width, height
        self.on_frame = on_frame
        self.status = SourceStatus(_shown(source))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera-capture", daemon=True)

    @property
    def looping(self) -> bool:
        return "://" not in self.source and not self.source.startswith("/dev/")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.status.state = "stopped"

    def _frames(self) -> Iterator[np.ndarray]:
        with _open(self.source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                yield frame.to_ndarray(width=self.width, height=self.height, format="rgb24")
                if self._stop.is_set():
                    return

    def _run(self) -> None:
        backoff = 0.5
        period = 1.0 / self.fps
        while not self._stop.is_set():
            try:
                due = time.monotonic()
                delivered = 0
                for rgb in self._frames():
                    now = time.monotonic()
                    if now < due:
                        if not self.looping:
                            continue  # a live source runs faster than asked: drop frames
                        self._stop.wait(due - now)
                    due = max(due + period, time.monotonic() - period)
                    if self.status.state != "live":
                        self.status.state, self.status.error = "live", None
                        self.status.since = time.time()
                    self.status.frames += 1
                    delivered += 1
                    self.on_frame(rgb)
                    backoff = 0.5
                if self._stop.is_set():
                    return
                if self.looping and delivered:
                    continue  # the test file: play it again
                raise EOFError("the source ended")
            except (av.error.FFmpegError, OSError, EOFError, ValueError, IndexError) as exc:
                if self._stop.is_set():
                    return
                self.status.state, self.status.error = "reconnecting", str(exc)[:200]
                self.status.since = time.time()
                self.status.reconnects += 1
                log.warning("camera.source_lost", source=self.status.source, error=str(exc)[:200])
                self._stop.wait(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)


def _shown(source: str) -> str:
    """The source as status shows it: a URL without its credentials, a file by its name."""
    if "://" in source:
        scheme, _, rest = source.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"
    return Path(source).name if not source.startswith("/dev/") else source
