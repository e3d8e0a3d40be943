"""Media that costs more to decode than it weighs: refused from its headers on every route
that decodes, and decoding itself sandboxed (memory, time, crashes)."""

from __future__ import annotations

import os
import struct
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from atelier.core.runtime import Runtime
from atelier.storage.media import MediaLimits, MediaRefused, probe
from atelier.storage.sandbox import Budget, call_limited
from tests.grid.helpers import account_with_key
from tests.helpers import bearer
from tests.provenance.test_originality import _bomb_png


def gigahertz_wav() -> bytes:
    """244 bytes that declare a 1 GHz sample rate (fpcalc took 1 GB and 15 s on it)."""
    data = bytes(200)
    rate = 1_000_000_000
    return (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", len(data))
        + data
    )


def test_headers_are_judged_before_anything_decodes(tmp_path: Path) -> None:
    limits = MediaLimits(max_pixels=4096 * 4096, max_duration_s=600)
    wav = tmp_path / "x.wav"
    wav.write_bytes(gigahertz_wav())
    assert len(gigahertz_wav()) == 244
    with pytest.raises(MediaRefused, match="1000000000 Hz sample rate"):
        probe(wav, "wav", limits)
    png = tmp_path / "x.png"
    png.write_bytes(_bomb_png())
    with pytest.raises(MediaRefused, match="pixel limit"):
        probe(png, "png", limits)
    long = tmp_path / "long.wav"
    frames = 8000 * 700  # 700 s declared, 11 MB of silence
    long.write_bytes(
        b"RIFF"
        + struct.pack("<I", 36 + frames * 2)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        + b"data"
        + struct.pack("<I", frames * 2)
        + bytes(frames * 2)
    )
    with pytest.raises(MediaRefused, match="longer than the 600 s limit"):
        probe(long, "wav", limits)


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes << 20))


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _spawn_and_sleep(marker: str) -> None:
    subprocess.Popen(["sleep", "30", marker])
    time.sleep(30)


def _crash() -> None:
    os.abort()


def test_the_sandbox_bounds_memory_time_and_crashes() -> None:
    assert call_limited(_allocate, 16, budget=Budget(256 << 20, 30)) == 16 << 20
    with pytest.raises(MediaRefused, match="needs more than 256 MiB"):
        call_limited(_allocate, 2048, budget=Budget(256 << 20, 30))
    with pytest.raises(MediaRefused, match=r"longer than 0\.5 s"):
        call_limited(_sleep, 10, budget=Budget(256 << 20, 0.5))
    with pytest.raises(MediaRefused, match="crashed"):
        call_limited(_crash, budget=Budget(256 << 20, 30))


def test_a_timeout_also_ends_what_the_decoder_started() -> None:
    marker = f"atelier-test-{os.getpid()}-{time.monotonic_ns()}"
    with pytest.raises(MediaRefused):
        call_limited(_spawn_and_sleep, marker, budget=Budget(256 << 20, 1.0))
    time.sleep(0.2)
    left = [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    assert left == []


async def test_every_route_that_decodes_refuses_them(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, validator = await account_with_key(runtime, ["validator"])
    for name, data, reason in (
        ("ghz.wav", gigahertz_wav(), "sample rate"),
        ("bomb.png", _bomb_png(), "pixel limit"),
    ):
        started = time.monotonic()
        audited = await client.post("/audit", files={"file": (name, data)})
        assert audited.status_code == 422, audited.text
        assert reason in audited.json()["detail"]
        indexed = await client.post(
            "/index", headers=bearer(validator), files={"file": (name, data)}
        )
        assert indexed.status_code == 422 and reason in indexed.json()["detail"]
        verified = await client.post("/verify", files={"file": (name, data)})
        assert verified.status_code == 200  # its ids and manifest are still reported
        assert reason in verified.json()["originality_note"]
        assert time.monotonic() - started < 30  # judged from headers, not decoded
    embedded = await client.post("/embed", files={"file": ("bomb.png", _bomb_png())})
    assert embedded.status_code in (422, 503)  # refused before CLIP is even consulted


async def test_a_file_that_does_not_decode_gets_no_originality_score(
    client: httpx.AsyncClient,
) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    audited = await client.post("/audit", files={"file": ("broken.png", broken)})
    assert audited.status_code == 422
    assert audited.json()["type"] == "/problems/undecodable"
