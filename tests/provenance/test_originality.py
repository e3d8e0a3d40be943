"""PDQ fingerprints, the in-process index, and originality through the pipeline and API."""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from atelier.core.runtime import Runtime
from atelier.generators.image import render_frame
from atelier.provenance.fingerprints import hamming, pdq_of_image, pdq_of_video
from atelier.provenance.originality import PdqIndex
from tests.grid.helpers import account_with_key, asgi_client, worker_loop
from tests.helpers import bearer, drain_tasks


def jpeg_copy(image: Image.Image, size: int, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.resize((size, size)).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_pdq_survives_edits_and_tells_images_apart() -> None:
    original = render_frame(11, 512, 512)
    reference = pdq_of_image(original)
    assert reference.quality >= 50
    altered = pdq_of_image(Image.open(io.BytesIO(jpeg_copy(original, 300, 40))))
    assert hamming(reference.hash, altered.hash) <= 31
    rotated = pdq_of_image(original.rotate(90))
    assert min(hamming(v, reference.hash) for v in rotated.variants) <= 31
    other = pdq_of_image(render_frame(12, 512, 512))
    assert hamming(reference.hash, other.hash) > 31


def test_index_search_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    stored = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)) for _ in range(2000)]
    index = PdqIndex()
    index.add(list(range(2000)), stored)
    query = bytearray(stored[1234])
    for bit in (0, 9, 77, 200):  # four bits away from item 1234
        query[bit // 8] ^= 1 << (bit % 8)
    expected = sorted(
        (i, hamming(bytes(query), h))
        for i, h in enumerate(stored)
        if hamming(bytes(query), h) <= 31
    )
    assert index.search([bytes(query)], 31, limit=100) == sorted(expected, key=lambda x: x[1])
    assert index.search([bytes(query)], 31)[0] == (1234, 4)


def test_video_keyframes_are_fingerprinted(tmp_path: Path) -> None:
    from atelier.generators.video import FfmpegVideoBackend

    output = FfmpegVideoBackend().generate(
        "video", {"duration_s": 2, "width": 128, "height": 72}, tmp_path, lambda _: None
    )
    hashes = pdq_of_video(output.path)
    assert hashes
    assert all(len(h.hash) == 32 for h in hashes)


async def _image_job(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, seed: int
) -> dict:
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate({"kind": "image", "prompt": "harbour at dusk", "seed": seed})
    async with worker_loop(
        client, volunteer, f"orig-{job.id.hex[:6]}", tmp_path, max_jobs=1
    ) as loop:
        await loop.run()
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    path = await grid.download(job.id, tmp_path / job.id.hex)
    await grid.close()
    assert status.result is not None
    return {
        "id": str(job.id),
        "path": path,
        "provenance": status.result["provenance"],
        "artifact_id": status.result["artifact_id"],
    }


async def test_originality_through_the_pipeline_and_audit(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    first = await _image_job(client, runtime, tmp_path, seed=4242)
    assert first["provenance"]["originality"]["score"] == 1.0
    assert first["provenance"]["fingerprint"]["quality"] >= 50
    assert "not configured" in first["provenance"]["originality"]["semantic"]

    again = await _image_job(client, runtime, tmp_path, seed=4242)  # same seed: same bytes
    evidence = again["provenance"]["originality"]
    assert evidence["score"] == 0.0
    assert evidence["neighbours"][0]["tier"] == "exact"
    assert evidence["neighbours"][0]["artifact_id"] == first["artifact_id"]

    # a slightly altered re-upload is a near-duplicate of the original
    altered = jpeg_copy(Image.open(first["path"]), 400, 50)
    audited = await client.post("/audit", files={"file": ("copy.jpg", altered)})
    assert audited.status_code == 200, audited.text
    near = audited.json()
    assert near["neighbours"][0]["tier"] == "perceptual"
    assert near["neighbours"][0]["artifact_id"] in (first["artifact_id"], again["artifact_id"])
    assert near["score"] < 1.0

    verified = await client.post("/verify", files={"file": ("copy.jpg", altered)})
    assert verified.json()["manifest"]["state"] == "none"  # re-encoding stripped the manifest
    assert verified.json()["originality"]["neighbours"]

    fresh = await client.post(
        "/audit", files={"file": ("new.png", _png(render_frame(999, 256, 256)))}
    )
    assert fresh.json() == {"score": 1.0, "neighbours": [], "semantic": fresh.json()["semantic"]}


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


async def test_indexing_known_works_needs_a_validator(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    work = _png(render_frame(31337, 256, 256))
    _, creator = await account_with_key(runtime)
    refused = await client.post("/index", headers=bearer(creator), files={"file": ("w.png", work)})
    assert refused.status_code == 403
    _, validator = await account_with_key(runtime, ["validator"])
    indexed = await client.post(
        "/index",
        headers=bearer(validator),
        files={"file": ("w.png", work)},
        data={"label": "Known work"},
    )
    assert indexed.status_code == 201, indexed.text
    audit = await client.post("/audit", files={"file": ("w.png", work)})
    assert audit.json()["neighbours"][0]["label"] == "Known work"
    assert audit.json()["score"] == 0.0
    junk = await client.post(
        "/index", headers=bearer(validator), files={"file": ("x.bin", os.urandom(100))}
    )
    assert junk.status_code == 422


def test_corpus_import_cli(database_url: str, tmp_path: Path, runtime: Runtime) -> None:
    from typer.testing import CliRunner

    from atelier.cli import app
    from tests.servers import atelier_env

    works = tmp_path / "works"
    works.mkdir()
    for seed in (1, 2, 3):
        render_frame(seed, 128, 128).save(works / f"work-{seed}.png")
    (works / "readme.txt").write_text("not media")
    result = CliRunner().invoke(
        app,
        ["corpus", "import", str(works), "--label-prefix", "museum/"],
        env=atelier_env(tmp_path, database_url),
    )
    assert result.exit_code == 0, result.output
    assert "indexed 3 file(s), skipped 1" in result.output
    assert "readme.txt" in result.output


async def test_re_encoded_audio_is_a_near_duplicate(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    import shutil
    import subprocess

    import pytest

    if shutil.which("fpcalc") is None:
        pytest.skip("Chromaprint's fpcalc is not installed (make test installs it)")
    _, creator = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    grid = asgi_client(client, creator)
    job = await grid.generate(
        {"kind": "music", "prompt": "synthwave night", "duration_s": 12, "seed": 5}
    )
    async with worker_loop(client, volunteer, "audio-prints", tmp_path, max_jobs=1) as loop:
        await loop.run()
    await drain_tasks(runtime)
    status = await grid.status(job.id)
    original = await grid.download(job.id, tmp_path / "music")
    await grid.close()
    assert status.result is not None
    assert status.result["provenance"]["fingerprint"]["pdq"].startswith("chromaprint:")
    copy = tmp_path / "copy.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(original), "-ac", "1", "-ar", "22050", str(copy)],
        check=True,
    )
    audit = (await client.post("/audit", files={"file": ("c.wav", copy.read_bytes())})).json()
    assert audit["neighbours"][0]["tier"] == "perceptual-audio"
    assert audit["neighbours"][0]["artifact_id"] == status.result["artifact_id"]
    assert audit["neighbours"][0]["similarity"] >= 0.8
    assert audit["score"] < 1.0


async def test_embed_without_a_model_says_so(client: httpx.AsyncClient) -> None:
    response = await client.post("/embed", files={"file": ("x.png", _png(render_frame(1, 64, 64)))})
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/clip-not-configured"


def _bomb_png(side: int = 30_000) -> bytes:
    """A ~100 kB PNG that claims 30,000 x 30,000 pixels (1-bit, all zero)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


async def test_a_30000_pixel_square_is_refused_not_decoded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    bomb = _bomb_png()
    assert len(bomb) < 2_000_000
    audited = await client.post("/audit", files={"file": ("bomb.png", bomb)})
    assert audited.status_code == 422  # refused from its header: nothing is decoded
    assert audited.json()["type"] == "/problems/undecodable"
    assert "pixel limit" in audited.json()["detail"]
    verified = await client.post("/verify", files={"file": ("bomb.png", bomb)})
    assert verified.status_code == 200  # its ids and manifest still stand
    assert verified.json()["manifest"]["state"] == "none"
    assert verified.json()["originality"] is None
    assert "pixel limit" in verified.json()["originality_note"]
    _, validator = await account_with_key(runtime, ["validator"])
    indexed = await client.post(
        "/index", headers=bearer(validator), files={"file": ("bomb.png", bomb)}
    )
    assert indexed.status_code == 422
    assert indexed.json()["type"] == "/problems/undecodable"


async def test_unknown_artifact_ids(client: httpx.AsyncClient, runtime: Runtime) -> None:
    import uuid

    _, key = await account_with_key(runtime)
    for route in ("/sign", "/upload"):
        response = await client.post(
            route, headers=bearer(key), json={"artifact_id": str(uuid.uuid4())}
        )
        assert response.status_code in (404, 503), (route, response.text)
    missing = await client.post(
        "/sign", headers=bearer(key), json={"artifact_id": str(uuid.uuid4())}
    )
    assert missing.json()["type"] == "/problems/artifact-not-found"
    malformed = await client.post("/sign", headers=bearer(key), json={"artifact_id": "nope"})
    assert malformed.status_code == 422


async def test_index_refresh_catches_out_of_order_commits(runtime: Runtime) -> None:
    from sqlalchemy import text

    from atelier.provenance.fingerprints import pdq_of_image
    from atelier.provenance.originality import PdqIndex, add_to_corpus

    index = PdqIndex()
    early = pdq_of_image(render_frame(501, 256, 256))
    late = pdq_of_image(render_frame(502, 256, 256))
    async with runtime.sessions() as slow:
        await slow.begin()
        # the slow writer takes its id first but commits last
        slow_id = await slow.scalar(text("SELECT nextval('pdq_hashes_id_seq')"))
        async with runtime.sessions() as fast, fast.begin():
            await add_to_corpus(
                fast, sha256="f" * 64, media="image", fingerprints=[late], source="import"
            )
        async with runtime.sessions() as reader:
            await index.refresh(reader)
        assert index.search([late.hash], 0)
        item = await add_to_corpus(
            slow, sha256="e" * 64, media="image", fingerprints=[], source="import"
        )
        await slow.execute(
            text("INSERT INTO pdq_hashes (id, item_id, hash, quality) VALUES (:i, :t, :h, :q)"),
            {"i": slow_id, "t": item.id, "h": early.hash, "q": early.quality},
        )
        await slow.commit()
    async with runtime.sessions() as reader:
        await index.refresh(reader)
    assert [item_id for item_id, _ in index.search([early.hash], 0)] == [item.id]
    before = len(index.words)
    async with runtime.sessions() as reader:
        await index.refresh(reader)
    assert len(index.words) == before  # nothing loaded twice
