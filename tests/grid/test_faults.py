"""Faults and bad results: races, late and duplicate submits, invalid files, dead workers."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import uuid
import zlib
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select, update

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.grid import service
from atelier.grid.client import GridClient, GridError
from atelier.grid.models import Artifact, Attempt, GenerationRequest, Worker
from atelier.grid.schemas import JobPayload
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, caps
from tests.helpers import bearer, drain_tasks

MAX_RESULT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"),
        database_url,
        grid_lease_min_s=1,
        grid_lease_factor=1.0,
        grid_maintenance_after=3,
        grid_max_result_bytes=MAX_RESULT,
        grid_max_attempts=3,
    )


def png_bytes(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, "PNG")
    return buffer.getvalue()


MODELS = {"image": "procedural-v1", "music": "synth-v1", "speech": "espeak-ng"}


async def submit_bytes(
    client: httpx.AsyncClient,
    key: str,
    job: JobPayload,
    data: bytes,
    mime: str,
    name: str = "result.png",
    model: str | None = None,
) -> httpx.Response:
    return await client.post(
        job.submit_url,
        headers=bearer(key),
        files={"file": (name, data, mime)},
        data={"compute_seconds": "0.5", "model": model or MODELS[job.kind]},
    )


def wav_bytes(seconds: float, rate: int = 8000, declared_rate: int | None = None) -> bytes:
    data = b"\x00\x01" * int(seconds * rate)
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack(
            "<IHHIIHH", 16, 1, 1, declared_rate or rate, (declared_rate or rate) * 2, 2, 16
        )
        + b"data"
        + struct.pack("<I", len(data))
    )
    return header + data


async def sweep(runtime: Runtime) -> service.SweepReport:
    async with runtime.sessions() as session, session.begin():
        return await service.sweep(session, runtime.settings)


async def new_job(grid: GridClient, kind: str = "image") -> uuid.UUID:
    body = {"kind": kind, "prompt": f"fault {uuid.uuid4()}"}
    if kind == "image":
        body |= {"width": 64, "height": 64}
    return (await grid.generate(body)).id


async def pop_job(worker: GridClient, name: str) -> JobPayload:
    popped = await worker.pop(caps(name, ["image", "music"]))
    assert popped.job is not None
    return popped.job


@pytest.fixture
async def people(client: httpx.AsyncClient, runtime: Runtime):  # type: ignore[no-untyped-def]
    _, creator_key = await account_with_key(runtime)
    _, volunteer_key = await account_with_key(runtime)
    creator = asgi_client(client, creator_key)
    volunteer = asgi_client(client, volunteer_key)
    # drain anything an earlier test left in the shared queue
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(GenerationRequest)
            .where(GenerationRequest.state.in_(("queued", "assigned", "processing")))
            .values(state="cancelled")
        )
    yield creator, volunteer, creator_key, volunteer_key
    await creator.close()
    await volunteer.close()


async def test_late_worker_loses_to_the_one_holding_the_lease(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, first, _, first_key = people
    _, second_key = await account_with_key(runtime)
    second = asgi_client(client, second_key)
    request_id = await new_job(creator)
    stale = await pop_job(first, "slow")
    await asyncio.sleep(stale.ttl_s + 0.2)
    report = await sweep(runtime)
    assert report.expired >= 1
    assert (await creator.status(request_id)).state == "queued"
    fresh = await pop_job(second, "fast")
    assert fresh.job_id != stale.job_id
    late, current = await asyncio.gather(
        submit_bytes(client, first_key, stale, png_bytes(), "image/png"),
        submit_bytes(client, second_key, fresh, png_bytes(), "image/png"),
    )
    assert current.status_code == 200, current.text
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/job-expired"
    await drain_tasks(runtime)
    final = await creator.status(request_id)
    assert (final.state, final.attempts) == ("done", 2)
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Artifact).where(Artifact.request_id == request_id)
        )
    assert count == 1
    await second.close()


async def test_duplicate_concurrent_submits_one_wins(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "eager")
    responses = await asyncio.gather(
        *(submit_bytes(client, key, job, png_bytes(), "image/png") for _ in range(4))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409, 409, 409]
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {
        "/problems/job-accepted"
    }
    await drain_tasks(runtime)
    assert (await creator.status(request_id)).state == "done"


async def test_submit_after_cancel_or_expiry_is_409(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "w1")
    await creator.cancel(request_id)
    response = await submit_bytes(client, key, job, png_bytes(), "image/png")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/job-cancelled"

    await new_job(creator)
    job = await pop_job(volunteer, "w1")
    await asyncio.sleep(job.ttl_s + 0.2)  # expired, not yet swept
    response = await submit_bytes(client, key, job, png_bytes(), "image/png")
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/lease-expired"


def _truncated_wav() -> bytes:
    data = b"\x00\x01" * 4000
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + len(data))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
        + b"data"
        + struct.pack("<I", len(data))
    )
    return header + data[: len(data) // 3]


def _corrupt_png() -> bytes:
    data = bytearray(png_bytes())
    data[data.index(b"IDAT") + 6] ^= 0xFF
    return bytes(data)


BAD_RESULTS = [
    ("zero-byte", "image", b"", "image/png", "empty"),
    ("truncated png", "image", png_bytes(256, 256)[:300], "image/png", "truncated inside its IDAT"),
    ("corrupt png", "image", _corrupt_png(), "image/png", "IDAT chunk fails its checksum"),
    ("png named .wav", "music", png_bytes(), "audio/wav", "declared audio/wav but the file is PNG"),
    ("not media", "image", b"#!/bin/sh\nrm -rf /\n", "image/png", "not PNG, JPEG"),
    ("truncated wav", "music", _truncated_wav(), "audio/wav", "truncated"),
    ("too many pixels", "image", png_bytes(5000, 4000), "image/png", "pixel limit"),
    ("wrong size", "image", png_bytes(16, 16), "image/png", "asked for 64x64, the file is 16x16"),
    ("too short", "music", wav_bytes(0.1), "audio/wav", "asked for 10 s, the file lasts 0.10 s"),
    (
        "1 GHz sample rate",
        "music",
        wav_bytes(0.01, declared_rate=10**9),
        "audio/wav",
        "sample rate",
    ),
    (
        "undecodable wav",
        "music",
        b"RIFF" + struct.pack("<I", 40) + b"WAVEfmt " + bytes(32),
        "audio/wav",
        "WAV",
    ),
]


@pytest.mark.parametrize(
    ("label", "kind", "data", "mime", "reason"), BAD_RESULTS, ids=[b[0] for b in BAD_RESULTS]
)
async def test_bad_results_fault_the_attempt(
    client: httpx.AsyncClient,
    runtime: Runtime,
    people,
    label: str,
    kind: str,
    data: bytes,
    mime: str,
    reason: str,
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator, kind)
    job = await pop_job(volunteer, f"bad-{uuid.uuid4().hex[:6]}")
    response = await submit_bytes(client, key, job, data, mime)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/result-rejected"
    assert reason in response.json()["detail"]
    assert str(runtime.settings.home) not in response.json()["detail"]  # no server path
    status = await creator.status(request_id)
    assert status.state == "queued"  # back in the queue for another worker
    assert reason in (status.reason or "")
    async with runtime.sessions() as session:
        attempt = await session.get(Attempt, job.lease_id)
    assert attempt is not None and attempt.state == "rejected"


async def test_oversized_upload_is_refused_and_faulted(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "big")
    response = await submit_bytes(
        client, key, job, b"\x89PNG" + b"0" * (MAX_RESULT + 10), "image/png"
    )
    assert response.status_code == 413
    assert (await creator.status(request_id)).state == "queued"


async def test_gives_up_after_max_attempts_and_releases_quota(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, _, creator_key, _ = people
    request_id = await new_job(creator)
    for i in range(3):
        _, key = await account_with_key(runtime)
        worker = asgi_client(client, key)
        job = await pop_job(worker, f"flaky-{i}")
        rejected = await submit_bytes(client, key, job, b"", "image/png")
        assert rejected.status_code == 422
        await worker.close()
    status = await creator.status(request_id)
    assert status.state == "faulted"
    assert "gave up after 3 attempts" in (status.reason or "")
    usage = (await client.get("/api/v1/user/usage", headers=bearer(creator_key))).json()
    assert usage["reserved"] == 0


async def test_failing_worker_goes_to_maintenance_with_reason(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    for _ in range(3):
        await new_job(creator)
        job = await pop_job(volunteer, "broken")
        await volunteer.release(job, "my GPU is on fire", failed=True)
    with pytest.raises(GridError) as refused:
        await volunteer.pop(caps("broken", ["image", "music"]))
    assert refused.value.status == 403
    assert refused.value.slug == "worker-in-maintenance"
    assert "3 jobs in a row" in refused.value.detail
    cluster = await volunteer.cluster()
    broken = next(w for w in cluster.workers if w.name == "broken")
    assert broken.state == "maintenance" and broken.maintenance_reason
    assert broken.jobs_failed == 3
    resumed = await client.post(f"/api/v1/workers/{broken.id}/resume", headers=bearer(key))
    assert resumed.json()["state"] == "active"
    await new_job(creator)  # the three it failed are kept from it for a while
    assert (await volunteer.pop(caps("broken", ["image", "music"]))).job is not None


async def test_graceful_release_requeues_without_penalty(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, _ = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "polite")
    await volunteer.release(job, "shutting down")
    status = await creator.status(request_id)
    assert (status.state, status.attempts) == ("queued", 0)


async def test_silent_workers_go_offline_and_retired_workers_give_jobs_back(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "quiet")
    async with runtime.sessions() as session, session.begin():
        worker = await session.scalar(select(Worker).where(Worker.name == "quiet"))
        assert worker is not None
        await session.execute(  # as if it had been silent for ten minutes
            update(Worker)
            .where(Worker.id == worker.id)
            .values(last_seen_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 10))
        )
    assert (await sweep(runtime)).offline >= 1
    cluster = await volunteer.cluster()
    assert next(w for w in cluster.workers if w.name == "quiet").state == "offline"

    gone = await client.delete(f"/api/v1/workers/{worker.id}", headers=bearer(key))
    assert gone.status_code == 204
    assert (await creator.status(request_id)).state == "queued"
    response = await submit_bytes(client, key, job, png_bytes(), "image/png")
    assert response.status_code == 409


async def test_requests_no_worker_can_serve_fault_after_the_timeout(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, _, _, _ = people
    job = await creator.generate({"kind": "image", "prompt": "x", "model": "imaginary-xl"})
    assert job.is_possible is False
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(GenerationRequest)
            .where(GenerationRequest.id == job.id)
            .values(created_at=func.now() - func.make_interval(0, 0, 0, 0, 1))
        )
    assert (await sweep(runtime)).impossible >= 1
    status = await creator.status(job.id)
    assert status.state == "faulted"
    assert "no live worker" in (status.reason or "")


async def test_the_model_reported_must_be_one_the_worker_offers(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "liar")
    response = await submit_bytes(client, key, job, png_bytes(), "image/png", model="sdxl-turbo")
    assert response.status_code == 422
    assert "a model it does not offer" in response.json()["detail"]
    assert (await creator.status(request_id)).state == "queued"
    missing = await client.post(
        job.submit_url, headers=bearer(key), files={"file": ("r.png", png_bytes(), "image/png")}
    )
    assert missing.status_code == 422  # the model must be named


async def test_a_polyglot_is_stored_without_its_payload(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    """A valid PNG with an HTML page after IEND (and in a text chunk) is stored canonical."""
    creator, volunteer, _, key = people
    request_id = await new_job(creator)
    job = await pop_job(volunteer, "smuggler")
    clean = png_bytes()
    payload = b"<html><script>alert(document.cookie)</script></html>"
    text_chunk = struct.pack(">I", len(payload)) + b"tEXt" + payload
    text_chunk += struct.pack(">I", zlib.crc32(b"tEXt" + payload))
    polyglot = clean[:33] + text_chunk + clean[33:] + payload
    response = await submit_bytes(client, key, job, polyglot, "image/png")
    assert response.status_code == 200, response.text
    assert response.json()["sha256"] == hashlib.sha256(clean).hexdigest()
    async with runtime.sessions() as session:
        artifact = await session.scalar(select(Artifact).where(Artifact.request_id == request_id))
    assert artifact is not None and artifact.size_bytes == len(clean)
    stored = (runtime.settings.blobs_dir / artifact.storage_key).read_bytes()
    assert stored == clean and b"<script>" not in stored


async def test_failures_the_job_causes_do_not_count_against_the_worker(
    client: httpx.AsyncClient, runtime: Runtime, people
) -> None:  # type: ignore[no-untyped-def]
    creator, volunteer, _, _ = people
    for _ in range(4):
        await new_job(creator)
        job = await pop_job(volunteer, "blameless")
        await volunteer.release(job, "unusable job: no such voice", failed=True, job_at_fault=True)
    await new_job(creator)
    assert (await volunteer.pop(caps("blameless", ["image", "music"]))).job is not None
    cluster = await volunteer.cluster()
    blameless = next(w for w in cluster.workers if w.name == "blameless")
    assert (blameless.state, blameless.jobs_failed) == ("active", 0)


async def test_invalid_job_parameters_are_refused_at_submit(people) -> None:  # type: ignore[no-untyped-def]
    creator, _, _, _ = people
    with pytest.raises(GridError) as refused:
        await creator.generate({"kind": "speech", "prompt": "nuqneH", "voice": "klingon"})
    assert refused.value.status == 422
    assert "not a language espeak-ng speaks" in str(refused.value.body)
    accepted = await creator.generate({"kind": "speech", "prompt": "hello", "voice": "EN-GB+f2"})
    assert accepted.params["voice"] == "en-gb+f2"


def test_every_bad_result_kind_is_covered() -> None:
    assert {b[0] for b in BAD_RESULTS} >= {"zero-byte", "truncated png", "png named .wav"}
    assert Path(__file__).exists()
