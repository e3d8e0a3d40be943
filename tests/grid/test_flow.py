"""Submitting, running and following jobs through the real API, client and worker loop."""

from __future__ import annotations

import asyncio
import hashlib
import json
import wave
from pathlib import Path

import av
import httpx
import pytest
from PIL import Image

from atelier.core.runtime import Runtime
from tests.grid.helpers import account_with_key, asgi_client, caps, session_for, worker_loop
from tests.helpers import bearer, drain_tasks, eth_sign

MODELS = {
    "image": "procedural-v1",
    "music": "synth-v1",
    "speech": "espeak-ng",
    "video": "ffmpeg-procedural-v1",
}


async def test_job_without_workers_says_it_is_not_possible(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    submitted = await client.post(
        "/api/v1/generate",
        headers=bearer(key),
        json={"kind": "image", "prompt": "x", "model": "no-such-model"},
    )
    assert submitted.status_code == 202, submitted.text
    body = submitted.json()
    assert body["state"] == "queued"
    assert body["is_possible"] is False
    assert "no live worker" in body["reason"]
    assert body["queue_position"] == 1
    usage = (await client.get("/api/v1/user/usage", headers=bearer(key))).json()
    assert usage["reserved"] == 1


async def test_job_is_possible_once_a_capable_worker_is_live(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    worker = caps("w-capable", ["image"])
    registered = await client.post(
        "/api/v1/workers/register", headers=bearer(volunteer), json=worker.__dict__
    )
    assert registered.status_code == 200, registered.text
    possible = await client.post(
        "/api/v1/generate",
        headers=bearer(key),
        json={"kind": "image", "prompt": "x", "model": worker.models[0]},
    )
    assert possible.json()["is_possible"] is True
    other_kind = await client.post(
        "/api/v1/generate", headers=bearer(key), json={"kind": "music", "prompt": "x"}
    )
    assert other_kind.json()["is_possible"] is False
    for job in (possible, other_kind):  # leave no queued work for the next tests' workers
        cancelled = await client.delete(
            f"/api/v1/generate/status/{job.json()['id']}", headers=bearer(key)
        )
        assert cancelled.json()["state"] == "cancelled"


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        ("image", {"format": "jpeg", "width": 320, "height": 240}),
        ("music", {"duration_s": 3, "bpm": 120, "genre": "hip-hop"}),
        ("speech", {"voice": "en-us"}),
        ("video", {"duration_s": 2, "width": 256, "height": 144}),
    ],
)
async def test_worker_runs_each_kind_and_results_open(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, kind: str, extra: dict
) -> None:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate({"kind": kind, "prompt": "Hello from the grid.", **extra})
    async with worker_loop(client, volunteer, f"w-{kind}", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), timeout=120)
    accepted = await grid.status(job.id)
    # accepted, not yet signed: not done for its creator, and no unsigned file handed out
    assert (accepted.state, accepted.result_url) == ("signing", None), accepted.reason
    early = await client.get(f"/api/v1/generate/{job.id}/result", headers=bearer(creator))
    assert early.status_code == 409 and early.json()["type"] == "/problems/result-signing"
    await drain_tasks(runtime)
    final = await grid.status(job.id)
    assert final.state == "done", final.reason
    assert final.progress == 100
    assert final.result is not None and final.result["signing"] == "signed"
    assert final.result["model"] == MODELS[kind]  # the model that ran, not the worker's first
    path = await grid.download(job.id, tmp_path / "out")
    await grid.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == final.result["sha256"]
    if kind == "image":
        with Image.open(path) as image:
            assert (image.format, image.size) == ("JPEG", (320, 240))
    elif kind in ("music", "speech"):
        with wave.open(str(path)) as audio:
            assert audio.getnframes() > 0
            if kind == "music":
                assert abs(audio.getnframes() / audio.getframerate() - 3) < 0.1
    else:
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.width == 256
            assert container.streams.audio
    usage = (await client.get("/api/v1/user/usage", headers=bearer(creator))).json()
    assert (usage["used"], usage["reserved"]) == (1, 0)


async def test_soulvan_render_job_with_linked_wallet(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    from eth_account import Account

    creator_id, creator = await account_with_key(runtime)
    signed_in = await session_for(runtime, creator_id)
    account = Account.create()
    body = {
        "scene": "Assets/Scenes/cinematic_main.unity",
        "camera": "MainCamera",
        "format": "EXR",
        "wallet": account.address,
        "sign": True,
        "clip_embed": True,
    }
    refused = await client.post("/api/jobs", headers=bearer(creator), json=body)
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/wallet-not-linked"

    challenge = (
        await client.post(
            "/api/v1/user/wallets/challenge",
            headers=bearer(signed_in),
            json={"chain": "evm", "address": account.address},
        )
    ).json()["message"]
    linked = await client.post(
        "/api/v1/user/wallets",
        headers=bearer(signed_in),
        json={"chain": "evm", "message": challenge, "signature": eth_sign(account, challenge)},
    )
    assert linked.status_code == 201
    submitted = await client.post("/api/jobs", headers=bearer(creator), json=body)
    assert submitted.status_code == 202
    job_id = submitted.json()["job_id"]
    _, volunteer = await account_with_key(runtime)
    async with worker_loop(client, volunteer, "renderer", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), timeout=60)
    await drain_tasks(runtime)
    status = (await client.get(f"/api/jobs/{job_id}", headers=bearer(creator))).json()
    assert status["state"] == "done"
    assert status["result"]["mime"] == "image/x-exr"
    assert status["result_url"] == f"/api/jobs/{job_id}/result"
    download = await client.get(status["result_url"], headers=bearer(creator))
    assert download.content[:4] == b"\x76\x2f\x31\x01"
    assert download.headers["x-atelier-manifest"] == "sidecar"
    # OpenEXR cannot embed a manifest: it comes as a sidecar, bound to the file's bytes
    assert status["result"]["manifest_url"] == f"/api/jobs/{job_id}/manifest"
    sidecar = await client.get(status["result"]["manifest_url"], headers=bearer(creator))
    assert sidecar.status_code == 200 and sidecar.headers["content-type"] == "application/c2pa"
    exr = tmp_path / "render.exr"
    exr.write_bytes(download.content)
    exr.with_suffix(".c2pa").write_bytes(sidecar.content)
    verified = await client.post(
        "/verify",
        files={"file": ("render.exr", download.content), "manifest": ("r.c2pa", sidecar.content)},
    )
    assert verified.json()["manifest"]["state"] == "Trusted", verified.text
    alone = await client.post("/verify", files={"file": ("render.exr", download.content)})
    assert alone.json()["manifest"]["state"] == "none"
    assert "cannot carry an embedded C2PA manifest" in alone.json()["manifest"]["note"]
    png_job = await client.post("/api/jobs", headers=bearer(creator), json={"scene": "s"})
    assert png_job.status_code == 202


async def test_payload_to_workers_carries_no_identity(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    user_id, creator = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    await grid.generate({"kind": "speech", "prompt": "private words"})
    _, volunteer = await account_with_key(runtime)
    worker = asgi_client(client, volunteer)
    popped = await worker.pop(caps("snoop", ["speech"]))
    assert popped.job is not None
    raw = json.dumps(popped.model_dump(mode="json"))
    assert str(user_id) not in raw
    assert "@example.org" not in raw
    assert set(popped.job.model_dump()) == {
        "lease_id",
        "job_id",  # deprecated: the same id, sent until 2027-06-01
        "kind",
        "model",
        "params",
        "expires_at",
        "ttl_s",
        "submit_url",
        "progress_url",
        "release_url",
    }
    await worker.release(popped.job, "test done")
    await grid.close()
    await worker.close()


async def test_status_is_private_and_cancel_releases_quota(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, alice = await account_with_key(runtime)
    _, bob = await account_with_key(runtime)
    job = (
        await client.post(
            "/api/v1/generate", headers=bearer(alice), json={"kind": "music", "prompt": "x"}
        )
    ).json()
    assert (
        await client.get(f"/api/v1/generate/status/{job['id']}", headers=bearer(bob))
    ).status_code == 404
    assert (
        await client.delete(f"/api/v1/generate/status/{job['id']}", headers=bearer(bob))
    ).status_code == 404
    cancelled = await client.delete(f"/api/v1/generate/status/{job['id']}", headers=bearer(alice))
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    again = await client.delete(f"/api/v1/generate/status/{job['id']}", headers=bearer(alice))
    assert again.json()["state"] == "cancelled"
    usage = (await client.get("/api/v1/user/usage", headers=bearer(alice))).json()
    assert (usage["used"], usage["reserved"]) == (0, 0)
    no_result = await client.get(f"/api/v1/generate/{job['id']}/result", headers=bearer(alice))
    assert no_result.status_code == 409


async def test_events_stream_until_done(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate({"kind": "music", "prompt": "lofi", "duration_s": 2})
    seen: list[str] = []
    async with worker_loop(client, volunteer, "streamer", tmp_path) as loop:
        running = asyncio.create_task(loop.run())  # also drains what earlier tests left queued
        waiting = asyncio.create_task(grid.wait(job.id, lambda s: seen.append(s.state)))
        # (the in-process transport delivers the stream whole, when it ends: poll meanwhile)
        while (await grid.status(job.id)).state != "signing":
            await asyncio.sleep(0.1)
        await drain_tasks(runtime)
        final = await asyncio.wait_for(waiting, 60)
        loop.request_stop()
        await running
    await grid.close()
    assert final.state == "done"
    assert seen[0] in ("queued", "assigned", "processing") and seen[-2:] == ["signing", "done"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "hologram", "prompt": "x"}, ["kind"]),
        ({"kind": "image", "prompt": "x", "width": 100000, "height": 7}, ["height", "width"]),
        ({"kind": "music", "prompt": "x", "duration_s": 99999, "bpm": 9000}, ["bpm", "duration_s"]),
        ({"kind": "video", "prompt": "x", "format": "gif"}, ["format"]),
        ({"kind": "speech", "prompt": "x", "width": 512}, ["width"]),
        ({"kind": "image"}, ["prompt"]),
    ],
)
async def test_bad_requests_list_the_fields(
    client: httpx.AsyncClient, runtime: Runtime, body: dict, fields: list[str]
) -> None:
    _, key = await account_with_key(runtime)
    response = await client.post("/api/v1/generate", headers=bearer(key), json=body)
    assert response.status_code == 422, response.text
    named = {".".join(map(str, e["loc"][1:])) for e in response.json()["errors"]}
    assert set(fields) <= named
    usage = (await client.get("/api/v1/user/usage", headers=bearer(key))).json()
    assert usage["reserved"] == 0  # nothing reserved for a refused request


async def test_quota_exhausted_is_429_with_reset(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, key = await account_with_key(runtime)
    codes = []
    for _ in range(26):
        response = await client.post(
            "/api/v1/generate", headers=bearer(key), json={"kind": "music", "prompt": "x"}
        )
        codes.append(response.status_code)
    assert codes == [202] * 25 + [429]
    problem = response.json()
    assert problem["type"] == "/problems/quota-exceeded"
    assert problem["resets_at"] and int(response.headers["Retry-After"]) > 0


async def test_cluster_status_is_public_and_has_no_owners(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner_id, key = await account_with_key(runtime)
    worker = asgi_client(client, key)
    registered = await worker.register(caps("public-view"))
    await worker.close()
    status = await client.get("/api/v1/workers/status")
    assert status.status_code == 200
    assert any(w["id"] == str(registered.id) for w in status.json()["workers"])
    assert str(owner_id) not in status.text and "@example.org" not in status.text


def test_a_lease_is_read_from_old_and_new_payloads() -> None:
    """Workers read `lease_id`; a payload from a server that sends only `job_id` (the old
    name of the same id) still parses, and ours sends both for the deprecation period."""
    import uuid

    from atelier.grid.schemas import JobPayload

    lease = uuid.uuid4()
    common = {
        "kind": "image",
        "model": None,
        "params": {},
        "expires_at": "2026-12-01T00:00:00Z",
        "ttl_s": 30.0,
        "submit_url": "/s",
        "progress_url": "/p",
        "release_url": "/r",
    }
    assert JobPayload.model_validate({**common, "job_id": str(lease)}).lease_id == lease
    both = JobPayload(lease_id=lease, job_id=lease, **common)
    sent = both.model_dump(mode="json")
    assert sent["lease_id"] == sent["job_id"] == str(lease)
    assert JobPayload.model_validate(sent).lease_id == lease
