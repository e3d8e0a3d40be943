"""The engine's generation routes end to end on the grid with the real backends: Cycles
renders through Blender, 3D models as glTF binary read back by an independent reader."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pygltflib
import pytest
from PIL import Image

from atelier.core.runtime import Runtime
from atelier.generators.registry import available_backends
from tests.grid.helpers import account_with_key, session_for, worker_loop
from tests.helpers import bearer, drain_tasks

pytestmark = pytest.mark.skipif(
    not any(b.name == "blender-cycles" for b in available_backends()[0]),
    reason="Blender is not installed (make installs it)",
)


async def made(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, route: str, body: dict[str, Any]
) -> tuple[dict[str, Any], bytes, str, uuid.UUID]:
    """Submit to `route`, let one worker run the job, and download the signed result."""
    creator_id, creator = await account_with_key(runtime)
    submitted = await client.post(route, headers=bearer(creator), json=body)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]
    _, volunteer = await account_with_key(runtime)
    async with worker_loop(client, volunteer, f"box-{job_id[:6]}", tmp_path, max_jobs=1) as loop:
        await asyncio.wait_for(loop.run(), timeout=240)
    await drain_tasks(runtime)
    status_url = f"/api/v1/generate/status/{job_id}"
    status = (await client.get(status_url, headers=bearer(creator))).json()
    assert status["state"] == "done", status
    download = await client.get(status["result_url"], headers=bearer(creator))
    assert download.status_code == 200
    return status, download.content, creator, creator_id


async def test_render_rtx_is_path_traced_by_blender_on_a_worker(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    body = {"prompt": "two gold metal spheres on marble", "width": 256, "height": 144}
    status, content, _, _ = await made(
        client, runtime, tmp_path, "/api/render/rtx", body | {"samples": 8}
    )
    assert status["result"]["model"].startswith("blender-cycles-")
    with Image.open(io.BytesIO(content)) as image:
        assert image.size == (256, 144) and image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    assert pixels.std() > 10  # a lit scene, not a flat fill
    exr = body | {"format": "exr", "samples": 4, "prompt": "a glass torus"}
    (tmp_path / "exr").mkdir()
    status, content, _, _ = await made(client, runtime, tmp_path / "exr", "/api/render/rtx", exr)
    assert content[:4] == b"\x76\x2f\x31\x01" and status["result"]["mime"] == "image/x-exr"


async def test_generate_3d_makes_a_glb_with_its_turntable(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    body = {"prompt": "a twisted blue vase", "texture": 512, "detail": 24}
    status, content, creator, creator_id = await made(
        client, runtime, tmp_path, "/api/generate/3d", body
    )
    assert status["result"]["mime"] == "model/gltf-binary"
    assert status["result"]["model"] == "procedural-mesh-v1"
    path = tmp_path / "vase.glb"
    path.write_bytes(content)
    model = pygltflib.GLTF2().load_binary(str(path))  # an independent reader
    blob = model.binary_blob()
    positions = model.accessors[model.meshes[0].primitives[0].attributes.POSITION]
    assert positions.count > 100 and len(positions.max) == 3
    names = {image.name: image for image in model.images}
    assert set(names) == {"texture", "turntable"}

    def image(name: str) -> Image.Image:
        view = model.bufferViews[names[name].bufferView]
        return Image.open(io.BytesIO(blob[view.byteOffset : view.byteOffset + view.byteLength]))

    assert image("texture").size == (512, 512)
    assert image("turntable").size == (1024, 256)  # four Cycles views side by side
    assert model.extras["mesh_quality"] > 0.9
    sidecar = await client.get(status["result"]["manifest_url"], headers=bearer(creator))
    assert sidecar.status_code == 200  # glTF cannot embed C2PA: its manifest is a sidecar
    cookies = {"atelier_session": await session_for(runtime, creator_id)}
    page = await client.get(f"/jobs/{status['job_id']}", cookies=cookies)
    assert 'id="result-turntable"' in page.text
    preview = await client.get(f"/jobs/{status['job_id']}/turntable", cookies=cookies)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (1024, 256)


async def test_capabilities_and_bad_parameters(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, creator = await account_with_key(runtime)
    async with worker_loop(client, creator, "caps-box", tmp_path) as loop:
        await loop.client.pop(loop.caps)  # registers the worker and what it runs
    kinds = {k["kind"]: k for k in (await client.get("/api/capabilities")).json()["kinds"]}
    assert kinds["render"]["backends"][0]["name"] == "blender-cycles"
    assert kinds["3d"]["backends"][0]["models"] == ["procedural-mesh-v1"]
    too_many = {"prompt": "x", "width": 4096, "height": 4096, "samples": 4096}
    answer = await client.post("/api/render/rtx", headers=bearer(creator), json=too_many)
    assert answer.status_code == 422 and "samples" in answer.text
    texture = {"prompt": "a vase", "texture": 300}
    answer = await client.post("/api/generate/3d", headers=bearer(creator), json=texture)
    assert answer.status_code == 422
    empty = await client.post("/api/generate/3d", headers=bearer(creator), json={"prompt": " "})
    assert empty.status_code == 422 and "prompt" in empty.text
    for image, reason in (("not base64!", "not base64"), ("R0lGODlhAQABAAAAACw=", "PNG or a JPEG")):
        picture = {"prompt": "a relief", "image": image}
        answer = await client.post("/api/generate/3d", headers=bearer(creator), json=picture)
        assert answer.status_code == 422 and reason in answer.text, answer.text
        assert answer.json()["errors"][0]["loc"] == ["body", "image"]
    unsigned = await client.post("/api/generate/image", json={"prompt": "x"})
    assert unsigned.status_code == 401
