"""ArtifactAccepted → hash → fingerprint → originality → sign → publish, then verification of
what comes out."""

from __future__ import annotations

import asyncio
import json
import shutil
import stat
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from typer.testing import CliRunner

from atelier.cli import app
from atelier.core.events import OutboxEvent
from atelier.core.flows import FlowRun, FlowStep
from atelier.core.runtime import Runtime
from atelier.core.startup import close_runtime, open_runtime
from atelier.grid.events import ArtifactAccepted
from atelier.provenance import service, signing
from atelier.provenance.fingerprints import pdq_of_file
from atelier.provenance.flows import SIGN_ARTIFACT
from atelier.provenance.models import ProvenanceRecord
from atelier.provenance.tasks import process_artifact
from atelier.server.app import create_app
from atelier.server.modules import task_blueprints
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.helpers import drain_tasks
from tests.servers import running_server

IPFS_CID = shutil.which("ipfs_cid")


async def finished_job(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, body: dict
) -> tuple[str, Path]:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate(body)
    async with worker_loop(
        client, volunteer, f"prov-{job.id.hex[:6]}", tmp_path, max_jobs=1
    ) as loop:
        await asyncio.wait_for(loop.run(), 60)
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    path = await grid.download(job.id, tmp_path / "out")
    await grid.close()
    assert status.state == "done"
    assert status.result is not None
    # the provenance trail, with the CID of the file downloaded (the signed copy)
    return json.dumps({**status.result["provenance"], "cid": status.result["cid"]}), path


async def test_accepted_artifacts_are_signed_and_verifiable(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    raw, path = await finished_job(
        client, runtime, tmp_path, {"kind": "image", "prompt": "a red fox in snow"}
    )
    trail = json.loads(raw)
    for private in ("blobs", "uploads", "mailbox", "secrets"):  # theirs, not the machine's
        directory = runtime.settings.home / private
        if directory.exists():
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, private
    assert trail["manifest_state"] == "signed"
    assert trail["steps"] == {
        **dict.fromkeys(("hash", "fingerprint", "originality", "sign"), "done"),
        "publish": "skipped (no publish targets)",
    }
    assert trail["signer"] == "Atelier Content Signer"
    identity = service.signing_identity(runtime.settings)
    report = signing.read(path, "image/png", identity.root_pem)  # c2pa's own Reader
    assert report.state == "Trusted"
    assert report.generation is not None
    assert report.generation["sha256"] == trail["original_sha256"]
    if IPFS_CID:
        reference = json.loads(
            subprocess.run([IPFS_CID, str(path)], capture_output=True, text=True, check=True).stdout
        )
        assert reference["CIDv1"] == trail["cid"]

    verified = await client.post("/verify", files={"file": ("x.png", path.read_bytes())})
    assert verified.status_code == 200, verified.text
    body = verified.json()
    assert body["manifest"]["state"] == "Trusted"
    assert body["known_artifact"]["copy"] == "signed"
    assert body["known_artifact"]["cid_matches"] is True
    assert body["cid"] == trail["cid"]

    tampered = bytearray(path.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    broken = await client.post("/verify", files={"file": ("x.png", bytes(tampered))})
    assert broken.json()["manifest"]["state"] == "Invalid"
    assert broken.json()["manifest"]["failures"]
    assert broken.json()["known_artifact"] is None


async def test_redelivered_event_signs_once(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    """The event delivered again finds the run it started: nothing runs twice."""
    await finished_job(
        client, runtime, tmp_path, {"kind": "music", "prompt": "lofi", "duration_s": 1}
    )
    async with runtime.sessions() as session:
        event = await _latest_accepted(session)
        before = await session.get(ProvenanceRecord, event.artifact_id)
        assert before is not None and before.signed_sha256 is not None
        steps_before = await _step_times(session, event.artifact_id)
    async with runtime.sessions() as session, session.begin():
        await process_artifact(session, event)  # the handler, as a redelivery runs it
    await drain_tasks(runtime)
    async with runtime.sessions() as session:
        after = await session.get(ProvenanceRecord, event.artifact_id)
        assert after is not None and after.signed_sha256 == before.signed_sha256
        assert await _step_times(session, event.artifact_id) == steps_before


async def _latest_accepted(session: AsyncSession) -> ArtifactAccepted:
    """The grid's newest ArtifactAccepted, as its subscribers receive it."""
    stored = await session.scalar(
        select(OutboxEvent)
        .where(OutboxEvent.topic == ArtifactAccepted.topic)
        .order_by(OutboxEvent.id.desc())
    )
    assert stored is not None
    return ArtifactAccepted.model_validate(stored.payload)


async def _step_times(session: AsyncSession, artifact_id: uuid.UUID) -> dict[str, object]:
    rows = await session.execute(
        select(FlowStep.name, FlowStep.finished_at)
        .join(FlowRun, FlowRun.id == FlowStep.run_id)
        .where(FlowRun.flow == SIGN_ARTIFACT.name, FlowRun.key == str(artifact_id))
    )
    return dict(rows.tuples().all())


async def test_an_image_is_decoded_once_for_its_fingerprint(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    """The grid's validation hashes the image it decodes (PDQ) and sends it with the event;
    the fingerprint step records exactly what a decode of the stored original gives."""
    await finished_job(client, runtime, tmp_path, {"kind": "image", "prompt": "a blue kite"})
    async with runtime.sessions() as session:
        event = await _latest_accepted(session)
        record = await session.get(ProvenanceRecord, event.artifact_id)
    assert event.pdq is not None and len(event.pdq.variants) == 8
    original = runtime.settings.blobs_dir / event.storage_key
    expected = pdq_of_file(original)
    assert event.pdq.hash == expected.hex and event.pdq.quality == expected.quality
    assert record is not None and record.fingerprint == expected.hex


async def test_verify_bad_and_unknown_files(client: httpx.AsyncClient, tmp_path: Path) -> None:
    not_media = await client.post("/verify", files={"file": ("x.txt", b"hello world")})
    assert not_media.status_code == 422
    assert not_media.json()["type"] == "/problems/not-media"
    truncated = await client.post(
        "/verify", files={"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00")}
    )
    assert truncated.status_code == 200
    assert truncated.json()["manifest"]["state"] in ("none", "Invalid")
    from PIL import Image

    Image.new("RGB", (32, 32), "blue").save(tmp_path / "plain.png")
    plain = await client.post(
        "/verify", files={"file": ("p.png", (tmp_path / "plain.png").read_bytes())}
    )
    assert plain.json()["manifest"]["state"] == "none"
    assert plain.json()["known_artifact"] is None


async def test_media_files_beyond_the_json_body_cap_are_taken_up_to_their_own_limit(
    database_url: str, tmp_path: Path
) -> None:
    """Request bodies are capped at 1 MiB, but the file endpoints take whole media files
    up to ATELIER_MAX_VERIFY_BYTES (here 1.5 MB): a 1.2 MB PNG is checked, a 2 MB one is 413."""
    import numpy as np
    from PIL import Image

    settings = make_settings(tmp_path / "home", database_url, max_verify_bytes=1_500_000)
    runtime = await open_runtime(settings, database_url, blueprints=task_blueprints())
    noise = np.random.default_rng(7)

    def png(side: int) -> bytes:
        pixels = noise.integers(0, 256, (side, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(tmp_path / "noise.png")
        return (tmp_path / "noise.png").read_bytes()

    big, too_big = png(640), png(820)
    assert settings.max_body_bytes < len(big) < settings.max_verify_bytes < len(too_big)
    try:
        app = create_app(settings, runtime=runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.origin) as http:
            for route in ("/verify", "/audit"):
                taken = await http.post(route, files={"file": ("big.png", big)})
                assert taken.status_code == 200, (route, taken.text)
                refused = await http.post(route, files={"file": ("huge.png", too_big)})
                assert refused.status_code == 413, (route, refused.text)
                assert refused.json()["type"] == "/problems/payload-too-large"
        assert taken.json()["score"] is not None
    finally:
        await close_runtime(runtime)
    assert not any((settings.uploads_dir).iterdir())  # nothing left behind


@pytest.fixture(scope="module")
def provenance_server(database_url: str, tmp_path_factory: pytest.TempPathFactory, settings) -> str:  # type: ignore[no-untyped-def]
    # same home as the test runtime: the same CA, so our root is the trust anchor
    with running_server(settings.home, database_url, ["provenance"]) as url:
        yield url


def test_verify_cli(provenance_server: str, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (16, 16), "red").save(tmp_path / "plain.png")
    result = CliRunner().invoke(
        app, ["verify", str(tmp_path / "plain.png"), "--server", provenance_server, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"state": "none"' in result.output
    text = tmp_path / "notes.txt"
    text.write_text("not media")
    refused = CliRunner().invoke(app, ["verify", str(text), "--server", provenance_server])
    assert refused.exit_code == 2
    assert "not a media file" in refused.output


def test_verify_cli_exit_codes_and_sidecars(
    provenance_server: str,
    tmp_path: Path,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    """Invalid exits 1 with --json too; an EXR is checked with its sidecar (found beside it),
    and without one the CLI says plainly why there is no manifest (exit 0, not Invalid)."""
    from atelier.generators.image import ProceduralImageBackend

    identity = service.signing_identity(settings)
    backend = ProceduralImageBackend()
    png = backend.generate("image", {"width": 64, "height": 64}, tmp_path, lambda _: None)
    signed = tmp_path / "signed.png"
    signing.sign(identity, png.path, png.mime, signed, signing.manifest_for("s", "m", {}))
    tampered = bytearray(signed.read_bytes())
    tampered[len(tampered) // 2] ^= 0xFF
    (tmp_path / "tampered.png").write_bytes(bytes(tampered))
    for flags in ([], ["--json"]):
        invalid = CliRunner().invoke(
            app, ["verify", str(tmp_path / "tampered.png"), "--server", provenance_server, *flags]
        )
        assert invalid.exit_code == 1, invalid.output

    exr_dir = tmp_path / "exr"
    exr_dir.mkdir()
    exr = backend.generate(
        "render", {"format": "exr", "width": 64, "height": 64}, exr_dir, lambda _: None
    )
    render = exr_dir / "render.exr"
    sidecar = signing.sign(
        identity, exr.path, "image/x-exr", render, signing.manifest_for("render.exr", "m", {})
    )
    assert sidecar is not None
    alone = CliRunner().invoke(
        app, ["verify", str(render), "--server", provenance_server], env={"COLUMNS": "300"}
    )
    assert alone.exit_code == 0, alone.output
    assert "cannot carry an embedded C2PA manifest" in alone.output
    render.with_suffix(".c2pa").write_bytes(sidecar)
    paired = CliRunner().invoke(
        app, ["verify", str(render), "--server", provenance_server], env={"COLUMNS": "300"}
    )
    assert paired.exit_code == 0, paired.output
    assert "Trusted (sidecar)" in paired.output
