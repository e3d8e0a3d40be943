"""glTF 2.0 binary (.glb) files from workers: read structurally, bounded, and rewritten.

A GLB is a 12-byte header, a JSON chunk and an optional BIN chunk. What a worker sends is
checked before anything trusts it: the declared lengths agree with the file, the JSON is a
bounded object, every buffer lives in the BIN chunk (no URIs: nothing is ever fetched), every
view lies inside the buffer and every accessor inside its view, images are PNG or JPEG inside
the buffer. The canonical form keeps the JSON (re-serialised) and the BIN chunk, and drops
anything else (extra chunks, trailing bytes).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from atelier.storage.media import MediaRefused

MAGIC = b"glTF"
JSON_CHUNK = 0x4E4F534A
BIN_CHUNK = 0x004E4942
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 10_000  # views, accessors, meshes… each
MAX_IMAGES = 8
COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
TYPE_COUNT = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
IMAGE_TYPES = {"image/png", "image/jpeg"}


@dataclass(frozen=True)
class GlbLayout:
    document: dict[str, Any]
    bin_offset: int
    bin_length: int
    vertices: int  # POSITION elements, over every primitive
    triangles: int
    images: list[tuple[str, int, int]]  # (name, offset in the file, length)


def _items(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = document.get(key, [])
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise MediaRefused(f"the glTF's {key} is not a list of at most {MAX_ITEMS}")
    if not all(isinstance(item, dict) for item in items):
        raise MediaRefused(f"the glTF's {key} holds something that is not an object")
    return items


def _int(item: dict[str, Any], key: str, default: int | None = None) -> int:
    value = item.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MediaRefused(f"the glTF's {key} {value!r} is not a count")
    return value


def _chunks(data: bytes) -> tuple[dict[str, Any], int, int]:
    if len(data) < 20 or data[:4] != MAGIC:
        raise MediaRefused("not a glTF binary")
    version, total = struct.unpack("<II", data[4:12])
    if version != 2:
        raise MediaRefused(f"glTF binary version {version} is not accepted (2 is)")
    if total > len(data):
        raise MediaRefused("the glTF binary is truncated")
    json_length, json_type = struct.unpack("<II", data[12:20])
    if json_type != JSON_CHUNK or json_length > MAX_JSON_BYTES or 20 + json_length > total:
        raise MediaRefused(f"the glTF's JSON chunk is missing or larger than {MAX_JSON_BYTES}")
    try:
        document = json.loads(data[20 : 20 + json_length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MediaRefused(f"the glTF's JSON does not parse: {str(exc)[:100]}") from None
    if not isinstance(document, dict):
        raise MediaRefused("the glTF's JSON is not an object")
    position = 20 + json_length + (-json_length % 4)
    bin_offset = bin_length = 0
    if position + 8 <= total:
        bin_length, bin_type = struct.unpack("<II", data[position : position + 8])
        if bin_type != BIN_CHUNK or position + 8 + bin_length > total:
            raise MediaRefused("the glTF's second chunk is not a whole BIN chunk")
        bin_offset = position + 8
    return document, bin_offset, bin_length


def _views(document: dict[str, Any], bin_length: int) -> list[tuple[int, int, int]]:
    buffers = _items(document, "buffers")
    if len(buffers) > 1 or any("uri" in b for b in buffers):
        raise MediaRefused("a glTF binary keeps its one buffer inside (no URIs)")
    size = _int(buffers[0], "byteLength") if buffers else 0
    if size > bin_length:
        raise MediaRefused("the glTF's buffer is longer than its BIN chunk")
    views = []
    for view in _items(document, "bufferViews"):
        if _int(view, "buffer") != 0:
            raise MediaRefused("a glTF view names a buffer that does not exist")
        offset, length = _int(view, "byteOffset", 0), _int(view, "byteLength")
        stride = _int(view, "byteStride", 0)
        if offset + length > size:
            raise MediaRefused("a glTF view lies outside its buffer")
        views.append((offset, length, stride))
    return views


def _accessor_counts(document: dict[str, Any], views: list[tuple[int, int, int]]) -> list[int]:
    counts = []
    for accessor in _items(document, "accessors"):
        if "sparse" in accessor:
            raise MediaRefused("sparse glTF accessors are not accepted")
        count = _int(accessor, "count")
        width = COMPONENT_BYTES.get(accessor.get("componentType", -1))
        elements = TYPE_COUNT.get(str(accessor.get("type")))
        if width is None or elements is None:
            raise MediaRefused("a glTF accessor has an unknown component type or type")
        if "bufferView" in accessor:
            index = _int(accessor, "bufferView")
            if index >= len(views):
                raise MediaRefused("a glTF accessor names a view that does not exist")
            _, length, stride = views[index]
            element = width * elements
            end = _int(accessor, "byteOffset", 0) + (stride or element) * max(0, count - 1)
            if count and end + element > length:
                raise MediaRefused("a glTF accessor reads past its view")
        counts.append(count)
    return counts


def _geometry(document: dict[str, Any], counts: list[int]) -> tuple[int, int]:
    vertices = triangles = 0
    for mesh in _items(document, "meshes"):
        primitives = mesh.get("primitives", [])
        if not isinstance(primitives, list):
            raise MediaRefused("a glTF mesh's primitives are not a list")
        for primitive in primitives:
            attributes = primitive.get("attributes") if isinstance(primitive, dict) else None
            if not isinstance(attributes, dict) or "POSITION" not in attributes:
                raise MediaRefused("a glTF primitive has no POSITION")
            for index in [*attributes.values(), primitive.get("indices", 0)]:
                if not isinstance(index, int) or not 0 <= index < len(counts):
                    raise MediaRefused("a glTF primitive names an accessor that does not exist")
            vertices += counts[attributes["POSITION"]]
            drawn = counts[primitive["indices"]] if "indices" in primitive else vertices
            if primitive.get("mode", 4) == 4:
                triangles += drawn // 3
    return vertices, triangles


def glb_layout(data: bytes) -> GlbLayout:
    """The checked structure of a GLB; MediaRefused says what is wrong."""
    document, bin_offset, bin_length = _chunks(data)
    asset = document.get("asset")
    if not isinstance(asset, dict) or asset.get("version") != "2.0":
        raise MediaRefused("the glTF's asset.version is not 2.0")
    views = _views(document, bin_length)
    vertices, triangles = _geometry(document, _accessor_counts(document, views))
    images = _items(document, "images")
    if len(images) > MAX_IMAGES:
        raise MediaRefused(f"a glTF model holds at most {MAX_IMAGES} images")
    placed = []
    for index, image in enumerate(images):
        if "uri" in image or image.get("mimeType") not in IMAGE_TYPES:
            raise MediaRefused("glTF images are PNG or JPEG inside the buffer")
        view = _int(image, "bufferView")
        if view >= len(views):
            raise MediaRefused("a glTF image names a view that does not exist")
        offset, length, _ = views[view]
        placed.append((str(image.get("name") or f"image{index}")[:50], bin_offset + offset, length))
    return GlbLayout(document, bin_offset, bin_length, vertices, triangles, placed)


def canonical_glb(data: bytes) -> bytes:
    """The GLB rebuilt from its JSON (re-serialised) and BIN chunk, nothing else."""
    layout = glb_layout(data)
    text = json.dumps(layout.document, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 4)
    binary = data[layout.bin_offset : layout.bin_offset + layout.bin_length]
    binary += b"\0" * (-len(binary) % 4)
    parts = [struct.pack("<II", len(text), JSON_CHUNK), text]
    if layout.bin_offset:
        parts += [struct.pack("<II", len(binary), BIN_CHUNK), binary]
    body = b"".join(parts)
    return struct.pack("<4sII", MAGIC, 2, 12 + len(body)) + body


def first_mesh(data: bytes) -> tuple[NDArray[np.float32], NDArray[np.uint32]]:
    """The first primitive's positions (n, 3) and triangles (m, 3) of a checked GLB whose
    accessors are tightly packed (float VEC3 positions, unsigned int or short indices)."""
    layout = glb_layout(data)
    document = layout.document
    primitive = document["meshes"][0]["primitives"][0]

    def read(index: int, dtype: str, width: int) -> NDArray[Any]:
        accessor = document["accessors"][index]
        view = document["bufferViews"][accessor["bufferView"]]
        start = layout.bin_offset + view.get("byteOffset", 0) + accessor.get("byteOffset", 0)
        count = accessor["count"] * width
        return np.frombuffer(data, dtype=dtype, count=count, offset=start)

    positions = read(primitive["attributes"]["POSITION"], "<f4", 3).reshape(-1, 3)
    indices_type = document["accessors"][primitive["indices"]]["componentType"]
    dtype = {5125: "<u4", 5123: "<u2"}.get(indices_type)
    if dtype is None:
        raise MediaRefused("the model's indices are not unsigned int or short")
    triangles = read(primitive["indices"], dtype, 1).astype(np.uint32).reshape(-1, 3)
    if triangles.size and int(triangles.max()) >= len(positions):
        raise MediaRefused("the model's indices point past its vertices")
    return positions.astype(np.float32), triangles
