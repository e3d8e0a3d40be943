"""Hostile glTF binaries from workers: refused with a clear reason, or stored canonical."""

from __future__ import annotations

import base64
import io
import json
import struct
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from PIL import Image, ImageDraw

from atelier.generators.base import JobUnsuitable
from atelier.generators.mesh3d import (
    ProceduralMeshBackend,
    blob,
    decode_picture,
    glb_bytes,
    lathe,
    mesh_quality,
    texture_png,
)
from atelier.grid.validation import Expectation, inspect
from atelier.storage.gltf import canonical_glb, glb_layout
from atelier.storage.media import MediaLimits, MediaRefused

LIMITS = MediaLimits(max_pixels=4096 * 4096, max_duration_s=600)
EXPECT = Expectation("glb", 64 * 1024 * 1024, LIMITS)


def good_glb() -> bytes:
    rng = np.random.default_rng(1)
    mesh = lathe(rng, 16)
    return glb_bytes(mesh, [("texture", texture_png(["red"], rng, 256))], "vase", {"k": 1})


def with_document(change: object) -> bytes:
    """The good file with its JSON replaced by `change(document)`'s result."""
    data = good_glb()
    layout = glb_layout(data)
    document = json.loads(json.dumps(layout.document))
    change(document)  # type: ignore[operator]
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    binary = data[layout.bin_offset : layout.bin_offset + layout.bin_length]
    body = struct.pack("<II", len(text), 0x4E4F534A) + text
    body += struct.pack("<II", len(binary), 0x004E4942) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


def refused(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "model.glb"
    path.write_bytes(data)
    with pytest.raises(MediaRefused) as caught:
        inspect(path, "model/gltf-binary", EXPECT)
    return caught.value.reason


def test_a_good_model_passes_and_its_canonical_form_drops_what_follows(tmp_path: Path) -> None:
    data = good_glb()
    path = tmp_path / "model.glb"
    path.write_bytes(data + b"<script>smuggled</script>")
    info = inspect(path, "model/gltf-binary", EXPECT)
    assert (info.format, info.width, info.height) == ("glb", 256, 256)
    stored = info.path.read_bytes()
    assert b"smuggled" not in stored
    (tmp_path / "read.glb").write_bytes(stored)
    model = pygltflib.GLTF2().load_binary(str(tmp_path / "read.glb"))
    assert model.accessors[0].count == glb_layout(data).vertices
    assert canonical_glb(stored) == stored  # canonical is a fixed point


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["buffers"][0].update(uri="http://10.0.0.1/steal"), "no URIs"),
        (lambda d: d["images"][0].update(uri="file:///etc/passwd"), "inside the buffer"),
        (lambda d: d["accessors"][0].update(count=10**9), "reads past its view"),
        (lambda d: d["bufferViews"][0].update(byteOffset=10**9), "outside its buffer"),
        (lambda d: d["accessors"][1].update(componentType=1), "unknown component type"),
        (lambda d: d["meshes"][0]["primitives"][0].update(indices=99), "does not exist"),
        (lambda d: d["asset"].update(version="1.0"), "asset.version"),
        (lambda d: d["accessors"][0].update(sparse={}), "sparse"),
        (lambda d: d.update(images=[d["images"][0]] * 9), "at most 8 images"),
        (lambda d: d["buffers"][0].update(byteLength=10**9), "longer than its BIN"),
    ],
)
def test_hostile_documents_are_refused(tmp_path: Path, change: object, reason: str) -> None:
    assert reason in refused(tmp_path, with_document(change))


def test_hostile_containers_are_refused(tmp_path: Path) -> None:
    data = good_glb()
    assert "truncated" in refused(tmp_path, data[: len(data) // 2])
    assert "version 1" in refused(tmp_path, data[:4] + struct.pack("<I", 1) + data[8:])
    depth = b"[" * 100_000 + b"]" * 100_000
    bomb = struct.pack("<4sII", b"glTF", 2, 20 + len(depth)) + struct.pack(
        "<II", len(depth), 0x4E4F534A
    )
    assert "does not parse" in refused(tmp_path, bomb + depth)
    huge = struct.pack("<4sII", b"glTF", 2, 24) + struct.pack("<II", 2**31, 0x4E4F534A) + b"{}  "
    assert "JSON chunk" in refused(tmp_path, huge)
    nul = data.replace(b'"vase"', b'"va\\u0000"', 1)
    assert refused(tmp_path, nul)  # a length no longer matching its chunk, or a bad name
    broken_image = with_document(lambda d: None).replace(b"IDAT", b"IDAX", 1)
    assert "does not decode" in refused(tmp_path, broken_image)


def test_meshes_are_closed_and_well_shaped() -> None:
    """Welded by position (UV seams and poles repeat vertices), every edge of the mesh is
    shared by exactly two triangles: the surface is closed."""
    for shape in (lathe, blob):
        mesh = shape(np.random.default_rng(3), 32)
        assert mesh_quality(mesh) > 0.9
        keys = [tuple(p) for p in np.round(mesh.positions, 5).tolist()]
        welded = [{key: i for i, key in enumerate(keys)}[key] for key in keys]
        edges: dict[tuple[int, int], int] = {}
        for triangle in mesh.triangles.tolist():
            a, b, c = (welded[v] for v in triangle)
            for edge in ((a, b), (b, c), (c, a)):
                key = (min(edge), max(edge))
                edges[key] = edges.get(key, 0) + 1
        assert set(edges.values()) == {2}
        assert np.allclose(np.linalg.norm(mesh.normals, axis=1), 1, atol=1e-4)


def picture_base64(fmt: str = "PNG", size: tuple[int, int] = (200, 120)) -> str:
    picture = Image.new("RGB", size, (20, 20, 20))
    ImageDraw.Draw(picture).ellipse((40, 20, 160, 100), fill=(240, 200, 160))
    out = io.BytesIO()
    picture.save(out, fmt)
    return base64.b64encode(out.getvalue()).decode()


def test_a_picture_becomes_a_closed_relief_textured_with_it(tmp_path: Path) -> None:
    backend = ProceduralMeshBackend(None)  # no turntable: no Blender needed here
    params = {"prompt": "a cameo", "image": picture_base64(), "texture": 256, "detail": 32}
    output = backend.generate("3d", params, tmp_path, lambda _: None)
    model = pygltflib.GLTF2().load_binary(str(output.path))
    blob_bytes = model.binary_blob()
    view = model.bufferViews[model.images[0].bufferView]
    texture = Image.open(
        io.BytesIO(blob_bytes[view.byteOffset : view.byteOffset + view.byteLength])
    )
    assert texture.size == (256, 256)
    assert texture.getpixel((128, 128))[0] > 200  # the picture's bright ellipse, centred
    low, high = model.accessors[0].min, model.accessors[0].max
    assert high[0] - low[0] == pytest.approx(2.0, abs=1e-5)  # the long side spans 2
    assert high[2] - low[2] == pytest.approx(2 * 120 / 200, abs=1e-5)  # the short one 1.2
    mesh, _, _ = backend.build(params)
    assert mesh_quality(mesh) > 0.9
    for bad, reason in (("not base64!", "base64"), (picture_base64("GIF"), "PNG or a JPEG")):
        with pytest.raises(JobUnsuitable, match=reason):
            decode_picture(bad)
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (600 * 1024)).decode()
    with pytest.raises(JobUnsuitable, match="larger than 512 KiB"):
        decode_picture(huge)


def test_a_3d_benchmark_measures_mesh_quality_and_texture_side(tmp_path: Path) -> None:
    """The engine's 3D bars are measured from the GLBs themselves (read back from bytes)."""
    from atelier.engine import suites

    backend = ProceduralMeshBackend(None)
    outputs = []
    for index, texture in enumerate((2048, 1024)):
        folder = tmp_path / str(index)
        folder.mkdir()
        made = backend.generate(
            "3d", {"prompt": "a vase", "texture": texture}, folder, lambda _: None
        )
        outputs.append(suites.Output(made.path, compute_s=0.5))
    suite = suites.load(None, "3d")
    scores = suites.score(suite, outputs[:1], suites.Networks())
    assert scores.mesh_quality is not None and scores.mesh_quality > 0.9
    assert scores.texture_px == 2048
    both = suites.Suite("3d", suite.cases * 2, suite.digest)
    assert suites.score(both, outputs, suites.Networks()).texture_px == 1024  # the smallest
    broken = tmp_path / "broken.glb"
    broken.write_bytes(outputs[0].path.read_bytes()[:200])
    failed = suites.score(suite, [suites.Output(broken)], suites.Networks())
    assert failed.error is not None and "truncated" in failed.error
