"""3D models from a text prompt, written as glTF 2.0 binary (.glb), for `3d` jobs.

The mesh is procedural and deterministic for a prompt and seed: a surface of revolution
(vases, bottles, towers, lamps…) or a sphere displaced by seeded harmonics (rocks, planets,
blobs…), closed, with UVs and smooth normals, and a texture of `texture` x `texture` pixels
(colours from the prompt's words) as its base colour. Where Blender runs, the model is
rendered from four sides with Cycles and that turntable sheet is stored in the same file as a
second image named `turntable` (any glTF reader finds it; no material uses it).

`glb_bytes` writes the container by the specification (a JSON chunk and a BIN chunk, every
view 4-byte aligned, POSITION with its min/max); the tests read the files back with an
independent glTF library.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from atelier.generators.base import JobUnsuitable, Output, Progress, seed_for

MODEL = "procedural-mesh-v1"
MIME = "model/gltf-binary"
LATHE_WORDS = {"vase", "bottle", "tower", "lamp", "cup", "goblet", "column", "chess", "pawn"}
BLOB_WORDS = {"rock", "stone", "asteroid", "planet", "blob", "egg", "pebble", "boulder"}
COLOURS = {
    "red": (200, 40, 40),
    "orange": (230, 120, 30),
    "yellow": (230, 200, 40),
    "green": (40, 150, 60),
    "blue": (40, 80, 200),
    "purple": (120, 40, 160),
    "white": (230, 230, 230),
    "black": (30, 30, 30),
    "gold": (212, 175, 55),
    "grey": (128, 128, 128),
    "brown": (120, 80, 40),
}
F32 = NDArray[np.float32]
U32 = NDArray[np.uint32]


@dataclass(frozen=True)
class Mesh:
    positions: F32  # (n, 3)
    normals: F32  # (n, 3)
    uvs: F32  # (n, 2)
    triangles: U32  # (m, 3)


def _normals(positions: F32, triangles: U32) -> F32:
    """Area-weighted vertex normals."""
    a, b, c = (positions[triangles[:, i]] for i in range(3))
    face = np.cross(b - a, c - a)
    normals = np.zeros_like(positions)
    for i in range(3):
        np.add.at(normals, triangles[:, i], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    unit = (normals / np.where(length == 0, 1, length)).astype(np.float32)
    unit[length[:, 0] == 0] = (0.0, 1.0, 0.0)  # a vertex no triangle uses (a pole's copy)
    return unit


def _grid(rows: int, columns: int) -> U32:
    """Triangles of a (rows+1) x (columns+1) vertex grid whose last column wraps round."""
    r, c = np.meshgrid(np.arange(rows), np.arange(columns), indexing="ij")
    a = r * (columns + 1) + c
    b = a + 1
    d = a + columns + 1
    e = d + 1
    quads = np.stack([a, d, b, b, d, e], axis=-1).reshape(-1, 3)
    return quads.astype(np.uint32)


def lathe(rng: np.random.Generator, detail: int) -> Mesh:
    """A closed surface of revolution: a seeded profile r(t), capped at both ends."""
    rows, columns = detail, detail * 2
    t = np.linspace(0.0, 1.0, rows + 1)
    harmonics = rng.uniform(-0.25, 0.25, 4)
    radius = 0.45 + 0.1 * np.sin(math.pi * t)
    for k, weight in enumerate(harmonics, start=1):
        radius += weight * 0.5 * np.sin(k * math.pi * t + k)
    radius = np.clip(radius, 0.12, 1.0)
    radius[0] = radius[-1] = 0.0  # closed: the poles are single points
    angle = np.linspace(0.0, 2 * math.pi, columns + 1)
    rr, aa = np.meshgrid(radius, angle, indexing="ij")
    height = np.repeat(t[:, None] * 2.0, columns + 1, axis=1)
    positions = np.stack([rr * np.cos(aa), rr * np.sin(aa), height], -1).reshape(-1, 3)
    uv = np.stack(
        np.meshgrid(np.linspace(0, 1, rows + 1), np.linspace(0, 1, columns + 1), indexing="ij"), -1
    )
    uvs = uv[..., ::-1].reshape(-1, 2)
    return _mesh(positions, uvs, _grid(rows, columns))


def blob(rng: np.random.Generator, detail: int) -> Mesh:
    """A sphere displaced by a few seeded spherical waves (closed, like a pebble)."""
    rows, columns = detail, detail * 2
    theta = np.linspace(0.0, math.pi, rows + 1)
    phi = np.linspace(0.0, 2 * math.pi, columns + 1)
    tt, pp = np.meshgrid(theta, phi, indexing="ij")
    radius = np.ones_like(tt)
    for _ in range(5):
        k, m, phase, weight = (
            rng.integers(1, 5),
            rng.integers(1, 4),
            rng.uniform(0, 6),
            rng.uniform(0.03, 0.1),
        )
        radius += weight * np.sin(k * tt + phase) * np.cos(m * pp)
    positions = np.stack(
        [
            radius * np.sin(tt) * np.cos(pp),
            radius * np.sin(tt) * np.sin(pp),
            1 + radius * np.cos(tt),
        ],
        -1,
    ).reshape(-1, 3)
    uv = np.stack(np.meshgrid(theta / math.pi, phi / (2 * math.pi), indexing="ij"), -1)
    return _mesh(positions, uv[..., ::-1].reshape(-1, 2), _grid(rows, columns))


MAX_IMAGE_BYTES = 512 * 1024  # a 3D job's source picture, base64 in its parameters
RELIEF_DEPTH = 0.6  # the brightest point stands this far above the slab's base


def decode_picture(text: str, *, load: bool = True) -> Image.Image:
    """A job's picture: base64 PNG or JPEG (a `data:` URL prefix is allowed), bounded in
    bytes and pixels before it is decoded (`load=False`: headers only, as the API checks it
    at submit). JobUnsuitable when it is not one."""
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise JobUnsuitable("image is not base64") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise JobUnsuitable(f"image is larger than {MAX_IMAGE_BYTES // 1024} KiB")
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        raise JobUnsuitable("image must be a PNG or a JPEG")
    try:
        picture = Image.open(io.BytesIO(data))
        if picture.width * picture.height > 4096 * 4096:
            raise JobUnsuitable("image is larger than 4096x4096 pixels")
        if not load:
            return picture
        picture.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise JobUnsuitable(f"image does not decode: {exc}") from None
    return picture.convert("RGB")


def relief(picture: Image.Image, detail: int) -> Mesh:
    """A closed slab whose top is the picture as a height field: brightness stands for
    nearness (a depth cue, not a learned depth estimate), walls and a flat base close it."""
    n = detail
    grey = picture.convert("L").resize((n + 1, n + 1), Image.Resampling.BILINEAR)
    height = np.asarray(grey, dtype=np.float64)[::-1] / 255.0 * RELIEF_DEPTH
    aspect = picture.width / picture.height  # the longer side spans [-1, 1]
    half_x, half_y = (1.0, 1 / aspect) if aspect >= 1 else (aspect, 1.0)
    xs, ys = np.linspace(-half_x, half_x, n + 1), np.linspace(-half_y, half_y, n + 1)
    gx, gy = np.meshgrid(xs, ys)
    top = np.stack([gx, gy, 0.2 + height], -1).reshape(-1, 3)
    bottom = np.stack([gx, gy, np.zeros_like(gx)], -1).reshape(-1, 3)
    u, v = np.meshgrid(np.linspace(0, 1, n + 1), np.linspace(1, 0, n + 1))
    uv = np.stack([u, v], -1).reshape(-1, 2)
    grid = _grid_open(n)
    count = (n + 1) ** 2
    triangles = [grid, grid[:, ::-1] + count]
    ring = _boundary(n)
    for a, b in zip(ring, np.roll(ring, -1), strict=True):
        triangles.append(np.array([[a, b, a + count], [b, b + count, a + count]], dtype=np.uint32))
    return _mesh(
        np.vstack([top, bottom]), np.vstack([uv, uv]), np.vstack(triangles).astype(np.uint32)
    )


def _grid_open(n: int) -> U32:
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    a = r * (n + 1) + c
    return (
        np.stack([a, a + 1, a + n + 2, a, a + n + 2, a + n + 1], -1)
        .reshape(-1, 3)
        .astype(np.uint32)
    )


def _boundary(n: int) -> NDArray[np.int64]:
    """The grid's edge vertices, once round, counter-clockwise seen from above."""
    side = np.arange(n)
    bottom = side
    right = n + (n + 1) * side
    top = (n + 1) * (n + 1) - 1 - side
    left = (n + 1) * (n - side)
    return np.concatenate([bottom, right, top, left])


def _mesh(positions: NDArray[Any], uvs: NDArray[Any], triangles: U32) -> Mesh:
    """The mesh in glTF's axes: built Z-up, stored Y-up ((x, y, z) → (x, z, -y), a rotation,
    so the triangles keep their winding)."""
    points = (positions[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0])).astype(np.float32)
    a, b, c = (points[triangles[:, i]] for i in range(3))
    keep = np.linalg.norm(np.cross(b - a, c - a), axis=1) > 1e-9  # no triangles at the poles
    kept = triangles[keep]
    return Mesh(points, _normals(points, kept), uvs.astype(np.float32), kept)


def triangle_quality(positions: F32, triangles: U32) -> F32:
    """Each triangle's shape quality, 4√3·area / (sum of squared edges): 1 equilateral, 0
    degenerate."""
    a, b, c = (positions[triangles[:, i]].astype(np.float64) for i in range(3))
    area = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    edges = ((b - a) ** 2).sum(1) + ((c - b) ** 2).sum(1) + ((a - c) ** 2).sum(1)
    quality: F32 = (4 * math.sqrt(3) * area / np.where(edges == 0, 1, edges)).astype(np.float32)
    return quality


def mesh_quality(mesh: Mesh, good: float = 0.2) -> float:
    """The engine's mesh score: the share of well-shaped triangles (quality ≥ `good`)."""
    return shape_share(mesh.positions, mesh.triangles, good)


def shape_share(positions: F32, triangles: U32, good: float = 0.2) -> float:
    quality = triangle_quality(positions, triangles)
    return float(np.mean(quality >= good)) if len(quality) else 0.0


def texture_png(words: list[str], rng: np.random.Generator, side: int) -> bytes:
    """A smooth texture (low-frequency bands and noise, upscaled) in the prompt's colours."""
    colours: list[NDArray[np.float64]] = [
        np.array(COLOURS[w], dtype=np.float64) for w in words if w in COLOURS
    ] or [rng.integers(40, 220, 3).astype(np.float64) for _ in range(2)]
    if len(colours) == 1:
        colours.append(colours[0] * 0.55)
    small = 64
    y = np.linspace(0, 1, small)[:, None]
    x = np.linspace(0, 1, small)[None, :]
    field = (
        0.5
        + 0.25 * np.sin(2 * math.pi * (3 * y + rng.uniform(0, 1)))
        + 0.25 * np.sin(2 * math.pi * (2 * x + 4 * y * rng.uniform(0.2, 1)))
    )
    field += rng.normal(0, 0.05, field.shape)
    field = np.clip(field, 0, 1)[..., None]
    first, second = colours[0], colours[1]
    pixels = (first * field + second * (1 - field)).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB").resize((side, side), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=False, compress_level=6)
    return out.getvalue()


def _padded(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def glb_bytes(
    mesh: Mesh, images: list[tuple[str, bytes]], name: str, extras: dict[str, Any]
) -> bytes:
    """The glTF 2.0 binary container: the mesh, its material textured with `images[0]`, and
    the other images stored by name."""
    blobs: list[bytes] = []
    views: list[dict[str, Any]] = []

    def view(data: bytes, target: int | None = None) -> int:
        offset = sum(len(b) for b in blobs)
        blobs.append(_padded(data, b"\0"))
        entry: dict[str, Any] = {"buffer": 0, "byteOffset": offset, "byteLength": len(data)}
        if target is not None:
            entry["target"] = target
        views.append(entry)
        return len(views) - 1

    positions = np.ascontiguousarray(mesh.positions, dtype="<f4")
    accessors = [
        {
            "bufferView": view(positions.tobytes(), 34962),
            "componentType": 5126,
            "count": len(positions),
            "type": "VEC3",
            "min": positions.min(axis=0).tolist(),
            "max": positions.max(axis=0).tolist(),
        },
        {
            "bufferView": view(np.ascontiguousarray(mesh.normals, "<f4").tobytes(), 34962),
            "componentType": 5126,
            "count": len(mesh.normals),
            "type": "VEC3",
        },
        {
            "bufferView": view(np.ascontiguousarray(mesh.uvs, "<f4").tobytes(), 34962),
            "componentType": 5126,
            "count": len(mesh.uvs),
            "type": "VEC2",
        },
        {
            "bufferView": view(np.ascontiguousarray(mesh.triangles, "<u4").tobytes(), 34963),
            "componentType": 5125,
            "count": int(mesh.triangles.size),
            "type": "SCALAR",
        },
    ]
    image_entries = [
        {"bufferView": view(data), "mimeType": "image/png", "name": label} for label, data in images
    ]
    document = {
        "asset": {"version": "2.0", "generator": "Atelier procedural-mesh-v1"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [
            {
                "name": name,
                "primitives": [
                    {
                        "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                        "indices": 3,
                        "material": 0,
                    }
                ],
            }
        ],
        "materials": [
            {
                "name": "surface",
                "pbrMetallicRoughness": {
                    "baseColorTexture": {"index": 0},
                    "metallicFactor": 0.0,
                    "roughnessFactor": 0.6,
                },
            }
        ],
        "textures": [{"sampler": 0, "source": 0}],
        "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 10497, "wrapT": 10497}],
        "images": image_entries,
        "accessors": accessors,
        "bufferViews": views,
        "buffers": [{"byteLength": sum(len(b) for b in blobs)}],
        "extras": extras,
    }
    json_chunk = _padded(json.dumps(document, separators=(",", ":")).encode(), b" ")
    bin_chunk = b"".join(blobs)
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    return b"".join(
        [
            struct.pack("<4sII", b"glTF", 2, total),
            struct.pack("<I4s", len(json_chunk), b"JSON"),
            json_chunk,
            struct.pack("<I4s", len(bin_chunk), b"BIN\0"),
            bin_chunk,
        ]
    )


TEXTURE_SIDES = (256, 512, 1024, 2048, 4096)


class ProceduralMeshBackend:
    name = "procedural-mesh"
    kinds: tuple[str, ...] = ("3d",)
    models: tuple[str, ...] = (MODEL,)

    def __init__(self, renderer: Any | None = None) -> None:
        """`renderer`: a BlenderRenderBackend for the turntable preview (None: no preview)."""
        self.renderer = renderer

    def build(self, params: dict[str, Any]) -> tuple[Mesh, bytes, list[str]]:
        side = int(params.get("texture") or 2048)
        if side not in TEXTURE_SIDES:
            raise JobUnsuitable(f"texture must be one of {', '.join(map(str, TEXTURE_SIDES))}")
        detail = int(params.get("detail") or 48)
        if not 8 <= detail <= 256:
            raise JobUnsuitable("detail must be between 8 and 256")
        words = [w.strip(".,!?;:").lower() for w in str(params.get("prompt") or "").split()]
        rng = np.random.default_rng(seed_for(params))
        if params.get("image"):
            picture = decode_picture(str(params["image"]))
            texture = io.BytesIO()
            picture.resize((side, side), Image.Resampling.BICUBIC).save(texture, "PNG")
            return relief(picture, detail), texture.getvalue(), words
        shape = blob if any(w in BLOB_WORDS for w in words) else lathe
        return shape(rng, detail), texture_png(words, rng, side), words

    def turntable(self, model: Path, out_dir: Path, views: int = 4) -> bytes | None:
        """Four Cycles renders of the model from around it, side by side, as one PNG."""
        if self.renderer is None:
            return None
        frames: list[Image.Image] = []
        for index in range(views):
            view_dir = out_dir / f"view-{index}"
            view_dir.mkdir()
            job = self.renderer.job_file(
                {"width": 256, "height": 256, "samples": 16, "format": "png"},
                view_dir,
                gltf=str(model),
                camera_angle_deg=index * 360 / views,
                camera_distance=5.5,
            )
            self.renderer.run(job, view_dir, lambda _: None)
            with Image.open(job["output"]) as rendered:
                frames.append(rendered.convert("RGB"))
        sheet = Image.new("RGB", (256 * views, 256))
        for index, view in enumerate(frames):
            sheet.paste(view, (256 * index, 0))
        out = io.BytesIO()
        sheet.save(out, "PNG")
        return out.getvalue()

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        mesh, texture, words = self.build(params)
        progress(30)
        name = " ".join(words)[:100] or "model"
        extras = {"prompt": name, "seed": seed_for(params), "mesh_quality": mesh_quality(mesh)}
        path = out_dir / "result.glb"
        path.write_bytes(glb_bytes(mesh, [("texture", texture)], name, extras))
        progress(50)
        preview = self.turntable(path, out_dir)
        if preview is not None:
            path.write_bytes(
                glb_bytes(mesh, [("texture", texture), ("turntable", preview)], name, extras)
            )
        progress(100)
        return Output(path, MIME, MODEL)
