"""From frame to stream: motion gate → detect → track → recognise → blur/overlay → encode.

Runs on the capture thread, one frame at a time. Privacy is decided here, once, for every
output: the frame kept in the ring buffer (what photos and recordings are made of) already has
every face blurred except those recognised as a checked-in wallet; the stream adds boxes and
names on top of that. Raw frames never leave this module. A face is blurred from the moment
it is detected until k of its last n recognitions name the same checked-in wallet, so an
unknown face is never labelled with someone's name, and a person who checks out is blurred
again on the next frame.

Recognition (a dlib descriptor, ~60 ms, then the vault's open-set match over HTTP) runs off
the capture thread, at most a few per second per face, so the stream keeps its rate. Hands
are found on the same motion-gated frames; a gesture counts once 3 of the last 5 looks at the
largest hand agree.

The ring buffer keeps the last seconds as JPEGs of the private-safe frame (about 40 KB each
instead of 700 KB of pixels), which is what recordings are made of.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from atelier.camera.faces import Face, FaceDetector, FaceEncoder, good_enough
from atelier.camera.hands import Hand, HandDetector
from atelier.core.logging import get_logger

log = get_logger("atelier.camera.pipeline")
VOTES, NEEDED = 5, 3  # k of n recognitions agree before a name is shown
RECOGNISE_EVERY_S = 0.4  # per unnamed face
RECHECK_NAMED_S = 5.0  # a named face is checked again this often
TRACK_IOU = 0.3
TRACK_TTL_S = 1.0
MOTION_LEVEL = 2.0  # mean absolute change (0-255) of a 64x36 grey thumbnail
DETECT_AT_LEAST_EVERY_S = 1.0
MAX_RECOGNITIONS_IN_FLIGHT = 2
JPEG_QUALITY = 80
IDLE_WAIT_S = 5.0
RING_JPEG_QUALITY = 85
GESTURE_LOOKS, GESTURE_NEEDED = 5, 3
MAX_RECORDING_FRAMES = 60 * 30  # a recording's frames in memory at most (about 70 MB)

Identify = Callable[[np.ndarray], Awaitable[str | None]]
OnGesture = Callable[[str], Coroutine[Any, Any, None]]


def short_wallet(wallet: str) -> str:
    return f"{wallet[:4]}…{wallet[-4:]}"


@dataclass
class Track:
    id: int
    face: Face
    seen_at: float
    votes: deque[str | None] = field(default_factory=lambda: deque(maxlen=VOTES))
    recognised_at: float = 0.0
    quality: str | None = None
    samples: deque[tuple[np.ndarray, tuple[int, int, int, int]]] = field(
        default_factory=lambda: deque(maxlen=3)
    )

    def named(self, present: set[str]) -> str | None:
        """The wallet k of the last n recognitions agree on, if it is checked in."""
        counts: dict[str, int] = {}
        for vote in self.votes:
            if vote is not None:
                counts[vote] = counts.get(vote, 0) + 1
        best = max(counts.items(), key=lambda item: item[1], default=None)
        if best is None or best[1] < NEEDED or best[0] not in present:
            return None
        return best[0]


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, right - left) * max(0, bottom - top)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Greedy IoU association frame to frame: a face keeps its votes while it moves."""

    def __init__(self) -> None:
        self.tracks: dict[int, Track] = {}
        self._next = 1

    def update(self, faces: list[Face], now: float) -> list[Track]:
        unmatched = dict(self.tracks)
        for face in sorted(faces, key=lambda f: -f.score):
            best = max(unmatched.values(), key=lambda t: _iou(t.face.box, face.box), default=None)
            if best is not None and _iou(best.face.box, face.box) >= TRACK_IOU:
                best.face, best.seen_at = face, now
                del unmatched[best.id]
            else:
                self.tracks[self._next] = Track(self._next, face, now)
                self._next += 1
        for track in unmatched.values():
            if now - track.seen_at > TRACK_TTL_S:
                del self.tracks[track.id]
        return [
            t for t in self.tracks.values() if t.seen_at == now or now - t.seen_at <= TRACK_TTL_S
        ]


def blur_faces(frame: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    """Pixelate, then smooth, each box grown by a fifth (hair, ears and chin too)."""
    if not boxes:
        return frame
    image = Image.fromarray(frame)
    height, width = frame.shape[:2]
    for left, top, right, bottom in boxes:
        grow_x, grow_y = (right - left) // 5, (bottom - top) // 5
        region = (
            max(0, left - grow_x),
            max(0, top - grow_y * 2),
            min(width, right + grow_x),
            min(height, bottom + grow_y),
        )
        if region[2] - region[0] < 2 or region[3] - region[1] < 2:
            continue
        crop = image.crop(region)
        small = crop.resize(
            (max(1, crop.width // 12), max(1, crop.height // 12)), Image.Resampling.BILINEAR
        )
        blocky = small.resize(crop.size, Image.Resampling.NEAREST).filter(
            ImageFilter.GaussianBlur(3)
        )
        image.paste(blocky, region[:2])
    return np.asarray(image)


FACE_COLOUR, HAND_COLOUR = (46, 204, 113), (241, 196, 15)


def draw_overlays(
    frame: np.ndarray,
    labels: list[tuple[tuple[int, int, int, int], str]],
    hands: list[Hand] | None = None,
) -> Image.Image:
    """Boxes and names of checked-in people, and every hand with its gesture."""
    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    shown = [(box, text, FACE_COLOUR) for box, text in labels]
    shown += [(hand.box, hand.gesture or "hand", HAND_COLOUR) for hand in hands or []]
    for box, text, colour in shown:
        draw.rectangle(box, outline=colour, width=3)
        draw.rectangle(
            (box[0], max(0, box[1] - 16), box[0] + 8 * len(text) + 6, box[1]), fill=colour
        )
        draw.text((box[0] + 3, max(0, box[1] - 15)), text, fill=(0, 0, 0))
    return image


def encode_jpeg(image: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


class StreamHub:
    """One JPEG per processed frame, shared by every MJPEG viewer: viewers wait for the next
    version and always get the newest (a slow one skips frames, it never queues them).

    Each version has an event of its own, set once and replaced: a viewer that goes away
    while waiting leaves nothing behind (an `asyncio.Condition` waited on under `wait_for`
    can be left unbalanced by a cancellation, and then every other viewer waits forever).
    `publish` runs on the event loop (the capture thread schedules it)."""

    def __init__(self) -> None:
        self.jpeg: bytes | None = None
        self.version = 0
        self.viewers = 0
        self._fresh: asyncio.Event | None = None

    def bind(self) -> None:
        self._fresh = asyncio.Event()

    def publish(self, jpeg: bytes) -> None:
        assert self._fresh is not None
        self.jpeg, self.version = jpeg, self.version + 1
        published, self._fresh = self._fresh, asyncio.Event()
        published.set()

    async def next(self, seen: int) -> tuple[int, bytes | None]:
        """The newest frame after version `seen` (or the same one after a few idle seconds,
        so a viewer of a stalled source notices a closed connection)."""
        assert self._fresh is not None
        if self.version == seen:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._fresh.wait(), IDLE_WAIT_S)
        return self.version, self.jpeg


@dataclass
class Processed:
    """What a frame became: the private-safe frame (faces blurred), who is in it by name,
    and when it was taken."""

    at: float
    frame: np.ndarray
    named: list[str]


@dataclass(frozen=True)
class Kept:
    """A frame of the ring buffer: the private-safe frame as a JPEG."""

    at: float
    jpeg: bytes
    named: tuple[str, ...]


class Recording:
    """Frames collected for a video: the ring's past, then every new frame until it is
    stopped (or full)."""

    def __init__(self, past: list[Kept], until: float | None) -> None:
        self.frames: list[Kept] = list(past)
        self.until = until  # stop by itself at this time (None: when asked)
        self.started = time.time()
        self.done = threading.Event()

    def add(self, kept: Kept) -> None:
        if self.done.is_set():
            return
        self.frames.append(kept)
        if len(self.frames) >= MAX_RECORDING_FRAMES or (
            self.until is not None and kept.at >= self.until
        ):
            self.done.set()


@dataclass
class Gestures:
    """The largest hand's gesture over the last looks; `current` once 3 of 5 agree."""

    looks: deque[str | None] = field(default_factory=lambda: deque(maxlen=GESTURE_LOOKS))
    current: str | None = None
    since: float = 0.0
    hands: list[Hand] = field(default_factory=list)

    def look(self, hands: list[Hand], now: float) -> bool:
        """Record one look; True when the current gesture changed."""
        self.hands = hands
        largest = max(
            hands, key=lambda h: (h.box[2] - h.box[0]) * (h.box[3] - h.box[1]), default=None
        )
        self.looks.append(largest.gesture if largest else None)
        counts: dict[str | None, int] = {}
        for gesture in self.looks:
            counts[gesture] = counts.get(gesture, 0) + 1
        agreed = next((g for g, n in counts.items() if n >= GESTURE_NEEDED), None)
        if agreed == self.current:
            return False
        self.current, self.since = agreed, now
        return True


class Pipeline:
    def __init__(
        self,
        detector: FaceDetector,
        encoder: FaceEncoder,
        identify: Identify,
        *,
        fps: float,
        ring_s: float,
        hands: HandDetector | None = None,
        on_gesture: OnGesture | None = None,
        motion_level: float = MOTION_LEVEL,
    ) -> None:
        self.detector, self.encoder, self.identify = detector, encoder, identify
        self.hands, self.on_gesture = hands, on_gesture
        self.motion_level = motion_level  # below 0: no gate, every frame is detected on
        self.fps = fps
        self.tracker = Tracker()
        self.hub = StreamHub()
        self.gestures = Gestures()
        self.ring: deque[Kept] = deque(maxlen=max(1, int(fps * ring_s)))
        self.latest: Processed | None = None
        self.recordings: list[Recording] = []
        self.present: set[str] = set()  # wallets checked in right now
        self.stats: dict[str, Any] = {
            "frames": 0,
            "detections": 0,
            "gated": 0,
            "faces": 0,
            "hands": 0,
            "gestures": 0,
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_thumb: np.ndarray | None = None
        self._last_detect = 0.0
        self._faces: list[Face] = []
        self._in_flight = 0
        self._lock = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.hub.bind()

    def _moved(self, frame: np.ndarray, now: float) -> bool:
        thumb = np.asarray(Image.fromarray(frame).convert("L").resize((64, 36)), dtype=np.float32)
        moved = (
            self._last_thumb is None
            or float(np.abs(thumb - self._last_thumb).mean()) > self.motion_level
            or now - self._last_detect > DETECT_AT_LEAST_EVERY_S
        )
        if moved:
            self._last_thumb = thumb
        return moved

    def on_frame(self, frame: np.ndarray) -> None:
        self.process(frame)

    def process(self, frame: np.ndarray) -> Processed:
        """One frame, on the capture thread."""
        now = time.time()
        self.stats["frames"] += 1
        moved = self._moved(frame, now)
        if moved:
            self._faces = self.detector.detect(frame)
            self._last_detect = now
            self.stats["detections"] += 1
        else:
            self.stats["gated"] += 1
        # a hand changing its gesture moves too few pixels to open the motion gate: once a
        # hand is in view, every frame is looked at until it leaves
        if self.hands is not None and (moved or self.gestures.hands):
            self._look_at_hands(frame, now)
        with self._lock:
            tracks = (
                self.tracker.update(self._faces, now) if self._faces or self.tracker.tracks else []
            )
            present = set(self.present)
        named: list[tuple[tuple[int, int, int, int], str]] = []
        hidden: list[tuple[int, int, int, int]] = []
        for track in tracks:
            wallet = track.named(present)
            if wallet is None:
                hidden.append(track.face.box)
            else:
                named.append((track.face.box, wallet))
            self._maybe_recognise(track, frame, now, wallet is not None)
        self.stats["faces"] = len(tracks)
        safe = blur_faces(frame, hidden)
        processed = Processed(now, safe, [w for _, w in named])
        self.latest = processed
        kept = Kept(
            now, encode_jpeg(Image.fromarray(safe), RING_JPEG_QUALITY), tuple(processed.named)
        )
        with self._lock:
            self.ring.append(kept)
            for recording in self.recordings:
                recording.add(kept)
            self.recordings = [r for r in self.recordings if not r.done.is_set()]
        labels = [(b, short_wallet(w)) for b, w in named]
        jpeg = encode_jpeg(draw_overlays(safe, labels, self.gestures.hands))
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the node is stopping
                self._loop.call_soon_threadsafe(self.hub.publish, jpeg)
        return processed

    def _look_at_hands(self, frame: np.ndarray, now: float) -> None:
        assert self.hands is not None
        hands = self.hands.detect(frame)
        self.stats["hands"] = len(hands)
        if self.gestures.look(hands, now) and self.gestures.current is not None:
            self.stats["gestures"] = self.stats.get("gestures", 0) + 1
            if self.on_gesture is not None and self._loop is not None:
                asyncio.run_coroutine_threadsafe(self.on_gesture(self.gestures.current), self._loop)

    def record(self, *, past_s: float, seconds: float | None) -> Recording:
        """Start a recording `past_s` back in the ring; it stops by itself after `seconds`
        more, or when `stop` is called."""
        now = time.time()
        with self._lock:
            # at least the frame on screen now: a recording stopped at once still holds it
            past = [k for k in self.ring if k.at >= now - past_s] or list(self.ring)[-1:]
            recording = Recording(past, None if seconds is None else now + seconds)
            if seconds is not None and seconds <= 0:
                recording.done.set()
            else:
                self.recordings.append(recording)
        return recording

    def stop(self, recording: Recording) -> None:
        with self._lock:
            recording.done.set()
            if recording in self.recordings:
                self.recordings.remove(recording)

    async def fresh(self, timeout_s: float = 3.0) -> Processed | None:
        """The first frame processed after this call: what a photo is made of, so that who
        is blurred in it reflects who is checked in now, not a moment ago."""
        asked = time.time()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            latest = self.latest
            if latest is not None and latest.at > asked:
                return latest
            await asyncio.sleep(0.02)
        return None

    def _maybe_recognise(self, track: Track, frame: np.ndarray, now: float, named: bool) -> None:
        track.quality = good_enough(frame, track.face)
        if track.quality is not None:
            return
        track.samples.append((frame, track.face.box))
        wait = RECHECK_NAMED_S if named else RECOGNISE_EVERY_S
        if now - track.recognised_at < wait or self._loop is None or not self.present:
            return
        with self._lock:
            if self._in_flight >= MAX_RECOGNITIONS_IN_FLIGHT:
                return
            self._in_flight += 1
        track.recognised_at = now
        asyncio.run_coroutine_threadsafe(self._recognise(track, frame, track.face.box), self._loop)

    async def _recognise(
        self, track: Track, frame: np.ndarray, box: tuple[int, int, int, int]
    ) -> None:
        try:
            template = await asyncio.to_thread(self.encoder.encode, frame, box)
            track.votes.append(await self.identify(template))
        except Exception as exc:  # a vault that does not answer leaves the face blurred
            log.warning("camera.recognition_failed", error=str(exc)[:200])
        finally:
            with self._lock:
                self._in_flight -= 1

    def forget(self, wallet: str, *, checked_out: bool) -> None:
        """Someone checked out or had their face forgotten: their name goes from every
        track at once."""
        with self._lock:
            if checked_out:
                self.present.discard(wallet)
            for track in self.tracker.tracks.values():
                track.votes = deque((v for v in track.votes if v != wallet), maxlen=VOTES)

    def enrolment_face(self) -> Track:
        """The face to enrol: the one clearly largest in view, good enough to recognise."""
        with self._lock:
            candidates = sorted(
                (t for t in self.tracker.tracks.values() if t.quality is None and t.samples),
                key=lambda t: -t.face.size,
            )
        if not candidates:
            raise LookupError("no face good enough to enrol is in view: face the camera")
        if len(candidates) > 1 and candidates[0].face.size < 1.25 * candidates[1].face.size:
            raise LookupError("more than one face is in view: step closer, alone")
        return candidates[0]

    async def enrolment_template(self) -> np.ndarray:
        track = self.enrolment_face()
        vectors = [
            await asyncio.to_thread(self.encoder.encode, frame, box)
            for frame, box in list(track.samples)
        ]
        mean: np.ndarray = np.mean(np.stack(vectors), axis=0).astype(np.float32)
        return mean
