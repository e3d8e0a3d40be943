"""The parts of the node that need no faces: a source that vanishes and comes back, and
sessions that end by themselves."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from solders.pubkey import Pubkey

from atelier.camera.capture import FrameSource, _shown
from atelier.camera.edge import every
from atelier.camera.sessions import CheckInRefused, Sessions
from tests.camera.conftest import write_video
from tests.camera.test_vault import Clock

PROGRAM = Pubkey.from_string("Hx5JaUCZXQqvcYzTcdgm9ZE3sqhMWqwAhNXZBrzWm45S")
EVM_WALLET = "0x" + "cd" * 20


def _wait(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_lost_source_is_reopened_when_it_comes_back(tmp_path: Path) -> None:
    video = write_video(tmp_path / "faces.mp4", frames=10)
    moved = tmp_path / "away.mp4"
    frames: list[np.ndarray] = []
    lock = threading.Lock()

    def on_frame(rgb: np.ndarray) -> None:
        with lock:
            frames.append(rgb)

    source = FrameSource(str(video), fps=30, width=320, height=180, on_frame=on_frame)
    source.start()
    try:
        _wait(lambda: source.status.state == "live" and len(frames) > 3)
        assert frames[0].shape == (180, 320, 3)
        shutil.move(video, moved)  # the camera is unplugged
        _wait(lambda: source.status.state == "reconnecting")
        assert source.status.reconnects >= 1
        assert "No such file" in (source.status.error or "")
        before = len(frames)
        video.write_bytes(b"\x00garbage, not a video" * 50)  # a corrupt source
        _wait(lambda: source.status.reconnects >= 3)
        assert len(frames) == before
        shutil.move(moved, video)  # and plugged back in
        _wait(lambda: source.status.state == "live" and len(frames) > before + 3)
        assert source.status.error is None
    finally:
        source.stop()
    assert source.status.state == "stopped"


def test_status_never_shows_a_sources_credentials() -> None:
    assert _shown("rtsp://admin:hunter2@10.0.0.5:554/live") == "rtsp://10.0.0.5:554/live"
    assert _shown("/srv/videos/secret-name.mp4") == "secret-name.mp4"
    assert _shown("/dev/video0") == "/dev/video0"


def test_sessions_end_at_their_ttl_and_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    sessions = Sessions("lobby", PROGRAM, tmp_path / "sessions.json", ttl_s=600, clock=clock)
    challenge = sessions.challenge(EVM_WALLET, "evm")
    session, token = sessions.start(sessions.spend(challenge.nonce), "0xsig")
    assert sessions.by_token(token) == session
    assert token not in (tmp_path / "sessions.json").read_text()  # only its hash is kept

    restarted = Sessions("lobby", PROGRAM, tmp_path / "sessions.json", ttl_s=600, clock=clock)
    assert [s.id for s in restarted.active()] == [session.id]
    clock.now += 601
    assert restarted.by_token(token) is None  # past its TTL even before the sweep
    assert [s.id for s in restarted.expire()] == [session.id]
    assert restarted.active() == [] and restarted.expire() == []
    clock.now += 86400 + 1
    restarted.start(restarted.spend(restarted.challenge(EVM_WALLET, "evm").nonce), "0xsig")
    assert session.id not in (tmp_path / "sessions.json").read_text()  # forgotten after a day


def test_a_challenge_lives_one_minute_and_only_once(tmp_path: Path) -> None:
    clock = Clock()
    sessions = Sessions("lobby", PROGRAM, tmp_path / "sessions.json", ttl_s=600, clock=clock)
    first = sessions.challenge(EVM_WALLET, "evm")
    assert "Camera: lobby" in first.message and str(sessions.pda) in first.message
    sessions.spend(first.nonce)
    with pytest.raises(CheckInRefused) as used:
        sessions.spend(first.nonce)
    assert used.value.slug == "unknown-challenge"
    late = sessions.challenge(EVM_WALLET, "evm")
    clock.now += 61
    with pytest.raises(CheckInRefused) as expired:
        sessions.spend(late.nonce)
    assert expired.value.slug in {"challenge-expired", "unknown-challenge"}


def test_checking_in_again_ends_the_earlier_session(tmp_path: Path) -> None:
    clock = Clock()
    sessions = Sessions("lobby", PROGRAM, tmp_path / "s.json", ttl_s=600, clock=clock)
    first, _ = sessions.start(sessions.spend(sessions.challenge(EVM_WALLET, "evm").nonce), None)
    second, _ = sessions.start(sessions.spend(sessions.challenge(EVM_WALLET, "evm").nonce), None)
    assert first.end_reason == "checked-in-again" and second.active
    assert [s.wallet for s in sessions.active()] == [EVM_WALLET]


async def test_a_failing_round_does_not_end_the_periodic_work() -> None:
    """Expiry and session sync run in `every`: a round that raises (a full disk, a peer that
    is down) is logged, and the next round still runs."""
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) <= 2:
            raise OSError("No space left on device")

    async with every(0.01, work, name="test"):
        deadline = asyncio.get_running_loop().time() + 5
        while len(rounds) < 5:
            assert asyncio.get_running_loop().time() < deadline, rounds
            await asyncio.sleep(0.01)
    count = len(rounds)
    await asyncio.sleep(0.05)
    assert len(rounds) == count  # and it stops with the block
