"""The camera service (port 5002): the node's public API, its stream and its page.

It holds no key but its service token: check-ins go to the Solana middleware, templates to
the vault (which answers "whose face is this" without ever handing a template back). Users
act with the token their check-in returned; the operator with the service token.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field

from atelier.camera.capture import FrameSource
from atelier.camera.edge import Peer, bearer, edge_app, every
from atelier.camera.hands import GESTURES
from atelier.camera.keys import same_token
from atelier.camera.media import MediaRecord, MediaStore, NothingRecorded
from atelier.camera.pipeline import Pipeline, Recording, short_wallet
from atelier.camera.streaming import RTMP_URL, FfmpegFeed, Hls, rtmp_feed
from atelier.core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from atelier.core.logging import get_logger

log = get_logger("atelier.camera.node")
SYNC_PERIOD_S = 1.0
MAX_VIEWERS = 100
PHOTO_GESTURE = "peace"  # held for 3 of 5 looks, it takes a photo
GESTURE_PHOTO_COOLDOWN_S = 10.0
MAX_RECORDINGS = 4  # running at once
MAX_RECORD_S = 60.0
BOUNDARY = "atelier-frame"
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(),
)


@dataclass
class Node:
    camera: str
    pipeline: Pipeline
    source: FrameSource
    vault: Peer
    middleware: Peer
    media: MediaStore
    token: str
    match_distance: float
    match_margin: float
    template_ttl_s: float
    ring_s: float
    present: dict[str, dict[str, Any]] = field(default_factory=dict)
    hls: Hls | None = None
    recordings: dict[str, tuple[str, Recording]] = field(default_factory=dict)
    rtmp: FfmpegFeed | None = None
    last_gesture_photo: float = 0.0

    async def gesture(self, gesture: str) -> None:
        """A gesture became current: the photo gesture takes a photo, while someone is
        checked in (a stranger's wave takes nothing) and not more than once in a while."""
        if gesture != PHOTO_GESTURE or not self.present:
            return
        if time.monotonic() - self.last_gesture_photo < GESTURE_PHOTO_COOLDOWN_S:
            return
        self.last_gesture_photo = time.monotonic()
        latest = await self.pipeline.fresh()
        if latest is None:
            return
        record = await asyncio.to_thread(
            self.media.photo,
            latest,
            taken_by="gesture",
            checked_in=list(self.present),
            trigger=f"gesture:{gesture}",
        )
        log.info("camera.gesture_photo", photo=record.id)

    async def finish(self, recording: Recording, taken_by: str) -> MediaRecord:
        """Wait for a recording to end, then encode and sign it."""
        await asyncio.to_thread(recording.done.wait, MAX_RECORD_S + 5)
        self.pipeline.stop(recording)
        try:
            return await asyncio.to_thread(
                self.media.video,
                recording.frames,
                taken_by=taken_by,
                checked_in=list(self.present),
            )
        except NothingRecorded as exc:
            raise ServiceUnavailable(
                f"{exc}; it is {self.source.status.state}", slug="no-frames"
            ) from None

    async def identify(self, template: np.ndarray) -> str | None:
        found = await self.vault.call(
            "POST",
            "/api/biometric/identify",
            json={
                "template": [float(x) for x in template],
                "max_distance": self.match_distance,
                "margin": self.match_margin,
            },
        )
        wallet = found.get("wallet")
        return wallet if isinstance(wallet, str) else None

    async def sync_sessions(self) -> None:
        """Who is checked in, from the middleware; whoever left is forgotten: their name
        goes from the stream and their template is purged from the vault."""
        sessions = await self.middleware.call("GET", "/api/session/active")
        now = {s["wallet"]: s for s in sessions}
        for wallet in set(self.present) - set(now):
            await self.leave(wallet, "session-ended")
        self.present = now
        self.pipeline.present = set(now)

    async def leave(self, wallet: str, reason: str) -> None:
        self.present.pop(wallet, None)
        self.pipeline.forget(wallet, checked_out=True)
        await self.vault.call(
            "POST", "/api/biometric/purge", json={"wallet": wallet, "reason": reason}
        )

    async def resolve(self, token: str) -> dict[str, Any]:
        session: dict[str, Any] = await self.middleware.call(
            "POST", "/api/session/resolve", json={"token": token}
        )
        return session


def _node(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


TheNode = Annotated[Node, Depends(_node)]


async def _session(request: Request, node: TheNode) -> dict[str, Any]:
    token = bearer(request)
    if token is None:
        raise Unauthorized(
            "check in first: send the token your check-in returned", slug="not-checked-in"
        )
    return await node.resolve(token)


async def _actor(request: Request, node: TheNode) -> str | None:
    """The operator (None) or a checked-in wallet."""
    token = bearer(request)
    if token is not None and same_token(token, node.token):
        return None
    return str((await _session(request, node))["wallet"])


Session = Annotated[dict[str, Any], Depends(_session)]
Actor = Annotated[str | None, Depends(_actor)]
router = APIRouter()


class ChallengeIn(BaseModel):
    wallet: str
    chain: str = "solana"


class CheckInIn(BaseModel):
    nonce: str
    transaction: str | None = None
    signature: str | None = None


class EnrolIn(BaseModel):
    consent: bool


class RecordIn(BaseModel):
    seconds: float = Field(default=10.0, gt=0, le=MAX_RECORD_S, description="from now on")
    past_s: float = Field(default=0.0, ge=0, description="from the ring buffer, before now")


class StartIn(BaseModel):
    past_s: float = Field(default=0.0, ge=0, description="from the ring buffer, before now")


class StopIn(BaseModel):
    id: str = Field(max_length=64)


class PushIn(BaseModel):
    url: str = Field(max_length=2048, description="rtmp:// or rtmps:// ingest URL with its key")


@router.get("/api/health")
async def health(node: TheNode) -> dict[str, Any]:
    return {"status": "ok", "service": "camera", "source": node.source.status.state}


@router.get("/api/status")
async def status(node: TheNode) -> dict[str, Any]:
    return {
        "camera": node.camera,
        "source": node.source.status.public(),
        "pipeline": dict(node.pipeline.stats),
        "checked_in": len(node.present),
        "viewers": node.pipeline.hub.viewers,
        "ring_frames": len(node.pipeline.ring),
    }


@router.post("/api/session/challenge", status_code=201)
async def challenge(body: ChallengeIn, node: TheNode) -> Any:
    return await node.middleware.call("POST", "/api/session/challenge", json=body.model_dump())


@router.post("/api/session/checkin", status_code=201)
async def checkin(body: CheckInIn, node: TheNode) -> Any:
    started = await node.middleware.call("POST", "/api/session/checkin", json=body.model_dump())
    await node.sync_sessions()
    return started


@router.get("/api/session/current")
async def current(session: Session) -> dict[str, Any]:
    return session


@router.post("/api/session/checkout")
async def checkout(request: Request, session: Session, node: TheNode) -> Any:
    ended = await node.middleware.call(
        "POST", "/api/session/checkout", headers={"Authorization": request.headers["authorization"]}
    )
    await node.leave(session["wallet"], "checked-out")
    return ended


@router.post("/api/face/enrol", status_code=201)
async def enrol(body: EnrolIn, session: Session, node: TheNode) -> Any:
    """Enrol the face in front of the camera, for the checked-in wallet, with its consent.
    Expires with the session (or the template TTL, whichever is first)."""
    if not body.consent:
        raise InvalidInput(
            "enrolment needs your explicit consent (consent: true)", slug="consent-required"
        )
    try:
        template = await node.pipeline.enrolment_template()
    except LookupError as exc:
        raise Conflict(str(exc), slug="no-face-to-enrol") from None
    ttl = min(node.template_ttl_s, max(60.0, float(session["expires_at"]) - time.time()))
    return await node.vault.call(
        "POST",
        "/api/biometric/templates",
        json={
            "wallet": session["wallet"],
            "session_id": session["id"],
            "template": [float(x) for x in template],
            "ttl_s": ttl,
        },
        headers={"X-Atelier-Actor": f"wallet:{session['wallet']}"},
    )


@router.get("/api/face")
async def my_face(session: Session, node: TheNode) -> list[dict[str, Any]]:
    subjects = await node.vault.call("GET", "/api/biometric/templates?include_purged=true")
    return [s for s in subjects if s["wallet"] == session["wallet"]]


@router.delete("/api/face")
async def forget(session: Session, node: TheNode) -> Any:
    """Forget my face now (crypto-shredded: see the proof route)."""
    node.pipeline.forget(session["wallet"], checked_out=False)
    return await node.vault.call(
        "POST",
        "/api/biometric/purge",
        json={"wallet": session["wallet"], "reason": "forgotten"},
        headers={"X-Atelier-Actor": f"wallet:{session['wallet']}"},
    )


@router.get("/api/face/{subject_id}/proof")
async def proof(subject_id: str, request: Request, node: TheNode) -> Any:
    """What the vault shows about one of my faces, purged or not. After check-out the token
    is spent, so the proof is the operator's to show, or the wallet's while checked in."""
    actor = await _actor(request, node)
    if not subject_id.isalnum() or len(subject_id) > 64:
        raise NotFound("no such subject", slug="no-such-subject")
    shown = await node.vault.call("GET", f"/api/biometric/templates/{subject_id}/proof")
    if actor is not None and shown["wallet"] != actor:
        raise Forbidden("this face is not yours", slug="not-your-face")
    return shown


@router.get("/api/faces")
async def faces(node: TheNode) -> list[dict[str, Any]]:
    """Faces in view now: where, and a name only for the checked-in ones recognised."""
    present = set(node.present)
    return [
        {
            "track": t.id,
            "box": list(t.face.box),
            "name": short_wallet(w) if (w := t.named(present)) else None,
            "quality": t.quality or "ok",
        }
        for t in list(node.pipeline.tracker.tracks.values())
    ]


@router.post("/api/capture", status_code=201)
async def capture(actor: Actor, node: TheNode) -> dict[str, Any]:
    latest = await node.pipeline.fresh()
    if latest is None:
        raise ServiceUnavailable("no frame from the source: it is " + node.source.status.state)
    record = await asyncio.to_thread(
        node.media.photo, latest, taken_by=actor or "operator", checked_in=list(node.present)
    )
    return record.public()


@router.get("/api/photos")
async def photos(actor: Actor, node: TheNode) -> list[dict[str, Any]]:
    return [r.public() for r in node.media.records(wallet=actor)]


@router.get("/api/photos/{record_id}")
async def photo(record_id: str, actor: Actor, node: TheNode) -> FileResponse:
    return _media(node, record_id, "photo", actor)


@router.get("/api/gesture/current")
async def current_gesture(node: TheNode) -> dict[str, Any]:
    """The gesture of the largest hand in view (3 of the last 5 looks agree), every hand
    seen, and which gesture takes a photo."""
    gestures = node.pipeline.gestures
    return {
        "gesture": gestures.current,
        "since": gestures.since or None,
        "hands": [{"box": list(h.box), "gesture": h.gesture} for h in list(gestures.hands)],
        "gestures": list(GESTURES),
        "photo_gesture": PHOTO_GESTURE,
        "enabled": node.pipeline.hands is not None,
    }


def _past(node: Node, past_s: float) -> float:
    if past_s > node.ring_s:
        raise InvalidInput(
            f"the ring buffer holds {node.ring_s:g} s: past_s must be at most that",
            slug="past-too-long",
        )
    return past_s


@router.post("/api/record", status_code=201)
async def record(body: RecordIn, actor: Actor, node: TheNode) -> dict[str, Any]:
    """Record `past_s` seconds from the ring buffer and `seconds` more; answers with the
    signed video once it is made."""
    if len(node.pipeline.recordings) >= MAX_RECORDINGS:
        raise TooManyRequests("too many recordings are running", retry_after_s=10)
    recording = node.pipeline.record(past_s=_past(node, body.past_s), seconds=body.seconds)
    video = await node.finish(recording, actor or "operator")
    return video.public()


@router.post("/api/record/start", status_code=201)
async def start_recording(body: StartIn, actor: Actor, node: TheNode) -> dict[str, Any]:
    """Start recording (at most MAX_RECORD_S seconds); `/api/record/stop` makes the video."""
    if len(node.pipeline.recordings) >= MAX_RECORDINGS:
        raise TooManyRequests("too many recordings are running", retry_after_s=10)
    recording = node.pipeline.record(past_s=_past(node, body.past_s), seconds=MAX_RECORD_S)
    recording_id = secrets.token_hex(8)
    node.recordings[recording_id] = (actor or "operator", recording)
    return {"id": recording_id, "started_at": recording.started, "max_s": MAX_RECORD_S}


@router.post("/api/record/stop")
async def stop_recording(body: StopIn, actor: Actor, node: TheNode) -> dict[str, Any]:
    started = node.recordings.get(body.id)
    if started is None or (actor is not None and started[0] != actor):
        raise NotFound("no such recording", slug="no-such-recording")
    del node.recordings[body.id]
    node.pipeline.stop(started[1])
    video = await node.finish(started[1], started[0])
    return video.public()


@router.get("/api/videos")
async def videos(actor: Actor, node: TheNode) -> list[dict[str, Any]]:
    return [r.public() for r in node.media.records(wallet=actor, kind="video")]


def _media(node: Node, record_id: str, kind: str, actor: str | None) -> FileResponse:
    try:
        record = node.media.record(record_id)
    except KeyError:
        raise NotFound(f"no such {kind}", slug=f"no-such-{kind}") from None
    allowed = actor is None or actor == record.taken_by or actor in record.checked_in
    if record.kind != kind or not allowed:
        raise NotFound(f"no such {kind}", slug=f"no-such-{kind}")
    media_type = "image/jpeg" if kind == "photo" else "video/mp4"
    return FileResponse(node.media.path(record_id, kind), media_type=media_type)


@router.get("/api/videos/{record_id}")
async def video(record_id: str, actor: Actor, node: TheNode) -> FileResponse:
    return _media(node, record_id, "video", actor)


def _operator(actor: str | None) -> None:
    if actor is not None:
        raise Forbidden(
            "only the operator may send the camera's stream elsewhere", slug="operator-only"
        )


@router.post("/api/stream/start", status_code=201)
async def push_start(body: PushIn, actor: Actor, node: TheNode) -> dict[str, Any]:
    """Push the stream (overlays, blurring) to an RTMP ingest, restarted whenever it drops,
    until `/api/stream/stop`. The operator's token only: the camera's picture leaves the
    building."""
    _operator(actor)
    if not RTMP_URL.match(body.url):
        raise InvalidInput(
            "the URL must be rtmp:// or rtmps://host[:port]/path", slug="bad-stream-url"
        )
    if node.rtmp is not None:
        await node.rtmp.stop()
    node.rtmp = rtmp_feed(node.pipeline.hub, body.url, node.pipeline.fps)
    node.rtmp.start()
    return node.rtmp.status.public()


@router.post("/api/stream/stop")
async def push_stop(actor: Actor, node: TheNode) -> dict[str, Any]:
    _operator(actor)
    if node.rtmp is None:
        raise Conflict("no stream is being pushed", slug="not-streaming")
    await node.rtmp.stop()
    stopped = node.rtmp.status.public()
    node.rtmp = None
    return stopped


@router.get("/api/stream/status")
async def stream_status(node: TheNode) -> dict[str, Any]:
    hls = node.hls.feed.status.public() if node.hls and node.hls.feed else None
    return {
        "mjpeg": {"url": "/stream", "viewers": node.pipeline.hub.viewers},
        "rtmp": node.rtmp.status.public() if node.rtmp else None,
        "hls": {"url": "/api/stream/hls/index.m3u8", "feed": hls},
    }


@router.get("/api/stream/hls/index.m3u8")
async def hls_playlist(node: TheNode) -> Response:
    """HLS for browsers (started by the first request, stopped when idle)."""
    playlist = await node.hls.playlist() if node.hls else None
    if playlist is None:
        raise ServiceUnavailable("the HLS stream is starting: try again", slug="hls-starting")
    return Response(
        playlist,
        media_type="application/vnd.apple.mpegurl",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/api/stream/hls/{segment}")
async def hls_segment(segment: str, node: TheNode) -> FileResponse:
    path = node.hls.segment(segment) if node.hls else None
    if path is None:
        raise NotFound("no such segment (they last about 12 seconds)", slug="no-such-segment")
    return FileResponse(path, media_type="video/mp2t")


@router.get("/stream")
async def stream(request: Request, node: TheNode) -> StreamingResponse:
    """MJPEG: every viewer gets the one JPEG the pipeline encoded for the frame."""
    hub = node.pipeline.hub
    if hub.viewers >= MAX_VIEWERS:
        raise TooManyRequests(
            f"the stream has {MAX_VIEWERS} viewers already", retry_after_s=10, slug="stream-full"
        )

    async def frames() -> AsyncIterator[bytes]:
        hub.viewers += 1
        seen = -1
        try:
            while not await request.is_disconnected():
                seen, jpeg = await hub.next(seen)
                if jpeg is None:
                    continue
                yield (
                    (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n"
                    ).encode()
                    + jpeg
                    + b"\r\n"
                )
        finally:
            hub.viewers -= 1

    return StreamingResponse(
        frames(),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def page(node: TheNode) -> HTMLResponse:
    html = _templates.get_template("camera.html").render(camera=node.camera)
    return HTMLResponse(html)


@router.get("/static/camera.js", include_in_schema=False)
async def script() -> FileResponse:
    script_file = Path(__file__).parent / "static" / "camera.js"
    return FileResponse(script_file, media_type="text/javascript")


def camera_app(node: Node) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        node.pipeline.bind(asyncio.get_running_loop())
        node.source.start()

        async def sync() -> None:
            try:
                await node.sync_sessions()
            finally:
                if node.hls is not None:
                    await node.hls.stop_when_idle()

        try:
            async with every(SYNC_PERIOD_S, sync, name="session-sync"):
                yield
        finally:
            if node.rtmp is not None:
                await node.rtmp.stop()
            if node.hls is not None:
                await node.hls.stop()
            await asyncio.to_thread(node.source.stop)

    app = edge_app("Atelier camera node", "Capture, faces, check-in, photos, the stream.")
    app.router.lifespan_context = lifespan
    app.state.node = node
    app.include_router(router)
    return app
