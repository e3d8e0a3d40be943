"""Hands and gestures on real photos of hands (the ones npm's fingerpose package ships), a
photo taken by a gesture, and recordings that reach back into the ring buffer."""

from __future__ import annotations

import asyncio
import io
import math
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import c2pa
import httpx
import numpy as np
import pytest
from PIL import Image
from solders.keypair import Keypair

from atelier.camera import keys
from atelier.camera.hands import HandDetector, gesture_of
from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from tests.camera.conftest import CameraNode, running_node
from tests.camera.test_node import check_in, until

HANDS = Path(sys.prefix) / "share" / "hand-images"


def hand_photo(name: str) -> np.ndarray:
    path = HANDS / name
    assert path.exists(), f"{path} is missing: `make test` extracts fingerpose's images"
    return np.asarray(Image.open(path).convert("RGB"))


def gif_frames() -> list[np.ndarray]:
    """The fingerpose demo: a man making peace signs and thumbs-ups (43 frames, 320x240)."""
    frames = []
    with Image.open(HANDS / "fingers-lq.gif") as gif:
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    return frames


@pytest.fixture(scope="module")
def hands() -> HandDetector:
    return HandDetector()


def largest_gesture(detector: HandDetector, frame: np.ndarray) -> str | None:
    found = detector.detect(frame)
    largest = max(found, key=lambda h: (h.box[2] - h.box[0]) * (h.box[3] - h.box[1]), default=None)
    return largest.gesture if largest else None


@pytest.mark.parametrize(("photo", "gesture"), [("nocurl.jpg", "point"), ("fullcurl.jpg", "fist")])
def test_a_hand_in_a_photo_makes_its_gesture(hands: HandDetector, photo: str, gesture: str) -> None:
    found = hands.detect(hand_photo(photo))
    assert len(found) == 1 and found[0].score > 0.9
    assert found[0].gesture == gesture
    left, top, right, bottom = found[0].box
    assert 120 < left < right < 420 and 80 < top < bottom <= 640  # the hand, not the wall


def test_a_half_bent_hand_is_no_command(hands: HandDetector) -> None:
    assert [h.gesture for h in hands.detect(hand_photo("halfcurl.jpg"))] == [None]


def test_peace_and_thumbs_up_in_a_video(hands: HandDetector) -> None:
    """Frames 2-11 and 25-34 show a peace sign, 16-23 and 36-42 a thumbs-up (the demo's
    own emoji say so); the moves between them may be anything but the other gesture."""
    seen = [largest_gesture(hands, frame) for frame in gif_frames()]
    peace = [*range(2, 12), *range(25, 35)]
    thumbs = [*range(16, 24), *range(36, 43)]
    assert sum(seen[i] == "peace" for i in peace) >= 0.9 * len(peace)
    assert sum(seen[i] == "thumbs_up" for i in thumbs) >= 0.9 * len(thumbs)
    assert all(seen[i] != "thumbs_up" for i in peace) and all(seen[i] != "peace" for i in thumbs)


def _hand(fingers: dict[str, float], *, thumb_out: bool) -> tuple[tuple[float, float], ...]:
    """An upright right hand, palm to the camera (image y grows downwards): each finger bent
    by an angle spread over its three joints (0 = straight up, pi = folded onto the palm);
    the thumb straight out to the side, or folded across the palm."""
    points: list[tuple[float, float]] = [(200.0, 400.0)] + [(0.0, 0.0)] * 20
    thumb_tip = (315.0, 295.0) if thumb_out else (235.0, 330.0)
    points[1:5] = [(240.0, 380.0), (270.0, 350.0), (292.0, 322.0), thumb_tip]
    bases = {"index": (5, 230.0), "middle": (9, 200.0), "ring": (13, 172.0), "pinky": (17, 148.0)}
    for name, (base, x) in bases.items():
        position, heading = (x, 300.0), -math.pi / 2
        points[base] = position
        for joint, length in zip(range(base + 1, base + 4), (55.0, 35.0, 28.0), strict=True):
            heading += fingers[name] / 3
            position = (
                position[0] + length * math.cos(heading),
                position[1] + length * math.sin(heading),
            )
            points[joint] = position
    return tuple(points)


def test_the_gesture_rules() -> None:
    straight = {"index": 0.0, "middle": 0.0, "ring": 0.0, "pinky": 0.0}
    folded = dict.fromkeys(straight, math.pi * 0.95)
    assert gesture_of(_hand(straight, thumb_out=True)) == "open_palm"
    assert gesture_of(_hand(straight, thumb_out=False)) is None  # four fingers: no gesture
    assert gesture_of(_hand({**folded, "index": 0.0, "middle": 0.0}, thumb_out=False)) == "peace"
    assert gesture_of(_hand({**folded, "index": 0.0}, thumb_out=False)) == "point"
    assert gesture_of(_hand(folded, thumb_out=False)) == "fist"
    assert gesture_of(_hand(dict.fromkeys(straight, math.pi / 3), thumb_out=False)) is None


def write_gesture_video(path: Path) -> Path:
    """The demo scaled up to 480x360 in a 640x360 frame, at 15 frames a second."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in gif_frames():
            canvas = Image.new("RGB", (640, 360), (200, 200, 200))
            canvas.paste(Image.fromarray(frame).resize((480, 360)), (80, 0))
            picture = av.VideoFrame.from_ndarray(np.asarray(canvas), format="rgb24")
            container.mux(stream.encode(picture))
        container.mux(stream.encode(None))
    return path


@pytest.fixture(scope="module")
async def gesture_node(
    settings: Settings,
    runtime: Runtime,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[CameraNode]:
    video = write_gesture_video(tmp_path_factory.mktemp("hands") / "hands.mp4")
    async with running_node(settings, runtime, video, database_url, "hands-camera") as node:
        yield node


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=90) as client:
        yield client


async def test_a_peace_sign_takes_a_photo_for_whoever_is_checked_in(
    gesture_node: CameraNode, http: httpx.AsyncClient
) -> None:
    node = gesture_node
    seen: set[str] = set()

    async def both() -> bool:
        current = (await http.get(f"{node.camera}/api/gesture/current")).json()
        if current["gesture"]:
            seen.add(current["gesture"])
        return {"peace", "thumbs_up"} <= seen

    await until(both, "a peace sign and a thumbs-up", timeout_s=60)
    operator = {"Authorization": f"Bearer {keys.service_token(node.settings)}"}
    before = (await http.get(f"{node.camera}/api/photos", headers=operator)).json()
    assert [p for p in before if p["trigger"].startswith("gesture")] == []  # nobody checked in

    wallet = Keypair()
    me = {"Authorization": f"Bearer {(await check_in(http, node, wallet))['token']}"}

    async def gesture_photo() -> list[dict[str, Any]]:
        mine = (await http.get(f"{node.camera}/api/photos", headers=me)).json()
        return [p for p in mine if p["trigger"] == "gesture:peace"]

    taken = (await until(gesture_photo, "a photo taken by the peace sign", timeout_s=60))[0]
    assert taken["taken_by"] == "gesture" and str(wallet.pubkey()) in taken["checked_in"]
    picture = await http.get(f"{node.camera}/api/photos/{taken['id']}", headers=me)
    assert picture.status_code == 200 and picture.content.startswith(b"\xff\xd8")
    await http.post(f"{node.camera}/api/session/checkout", headers=me)


async def test_a_recording_reaches_into_the_past_and_is_signed(
    gesture_node: CameraNode, http: httpx.AsyncClient
) -> None:
    node = gesture_node

    async def two_seconds_kept() -> bool:
        status = (await http.get(f"{node.camera}/api/status")).json()
        return bool(status["ring_frames"] >= 2 * node.settings.camera_fps)

    await until(two_seconds_kept, "two seconds in the ring buffer")
    wallet = Keypair()
    me = {"Authorization": f"Bearer {(await check_in(http, node, wallet))['token']}"}
    made = await http.post(
        f"{node.camera}/api/record", json={"seconds": 1, "past_s": 2}, headers=me
    )
    assert made.status_code == 201, made.text
    video = made.json()
    assert video["kind"] == "video" and video["c2pa"] is True
    assert video["taken_by"] == str(wallet.pubkey())
    assert 2.5 <= video["duration_s"] <= 4.0 and video["frames"] >= 20
    file = await http.get(f"{node.camera}/api/videos/{video['id']}", headers=me)
    assert file.status_code == 200 and file.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(file.content)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        duration = float(container.duration or 0) / av.time_base
    assert len(decoded) == video["frames"] and decoded[0].shape == (360, 640, 3)
    assert 2.5 <= duration <= 4.5
    with c2pa.Reader("video/mp4", io.BytesIO(file.content)) as reader:
        assert "hands-camera" in reader.json()
    listed = (await http.get(f"{node.camera}/api/videos", headers=me)).json()
    assert [v["id"] for v in listed] == [video["id"]]
    assert (
        await http.get(f"{node.camera}/api/photos/{video['id']}", headers=me)
    ).status_code == 404

    started = await http.post(f"{node.camera}/api/record/start", json={}, headers=me)
    assert started.status_code == 201, started.text
    stopped = await http.post(
        f"{node.camera}/api/record/stop", json={"id": started.json()["id"]}, headers=me
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["frames"] >= 1
    again = await http.post(
        f"{node.camera}/api/record/stop", json={"id": started.json()["id"]}, headers=me
    )
    assert again.status_code == 404

    started_ids = [
        (await http.post(f"{node.camera}/api/record/start", json={}, headers=me)).json()["id"]
        for _ in range(2)
    ]
    waiting = [
        asyncio.create_task(http.post(f"{node.camera}/api/record", json={"seconds": 3}, headers=me))
        for _ in range(2)
    ]
    await asyncio.sleep(1)
    for route, body in (("record", {"seconds": 1}), ("record/start", {})):
        full = await http.post(f"{node.camera}/api/{route}", json=body, headers=me)
        assert full.status_code == 429, full.text  # four at once at most, of either kind
    for recording in started_ids:
        done = await http.post(f"{node.camera}/api/record/stop", json={"id": recording}, headers=me)
        assert done.status_code == 200, done.text
    assert [(await task).status_code for task in waiting] == [201, 201]

    for bad in ({"seconds": 0}, {"seconds": 61}, {"past_s": 11}, {"seconds": "x"}):
        refused = await http.post(f"{node.camera}/api/record", json=bad, headers=me)
        assert refused.status_code == 422, (bad, refused.text)
    stranger = await http.get(
        f"{node.camera}/api/videos/{video['id']}", headers={"Authorization": "Bearer nobody"}
    )
    assert stranger.status_code == 401
    await http.post(f"{node.camera}/api/session/checkout", headers=me)
