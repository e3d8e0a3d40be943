"""Canonical forms: what we keep of a file a worker made is the picture or sound, and no
byte the format does not need.

A valid PNG with an HTML page after its IEND chunk decodes, hashes, signs and serves like any
other; whoever downloads it holds a polyglot. So results are rebuilt before anything else
sees them: PNG keeps its image chunks up to IEND (text, EXIF, private chunks and anything
after IEND go), JPEG keeps its coding segments and colour markers up to EOI (comments, EXIF,
XMP, embedded manifests and trailing bytes go), OpenEXR ends where its last chunk ends and may
not hide bytes between chunks, MP4 is remuxed by FFmpeg without metadata (stream copy: the
coded video and audio are untouched), WAV is rebuilt by FFmpeg (grid/validation.py). A file
that was already canonical comes out byte for byte the same.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

from atelier.storage.gltf import canonical_glb
from atelier.storage.media import MediaRefused, exr_end, exr_layout

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Critical chunks and the ancillary ones that change how pixels look; everything else (tEXt,
# zTXt, iTXt, eXIf, tIME, caBX, private chunks) is dropped.
PNG_KEPT = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"iCCP",
    b"sBIT",
    b"pHYs",
    b"bKGD",
}
# JPEG: APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour transform) affect the
# picture; other APPn (EXIF, XMP, C2PA's JUMBF) and COM do not.
JPEG_KEPT_APP = {0xE0, 0xE2, 0xEE}


def canonicalize(source: Path, fmt: str, target: Path) -> Path:
    """Write the canonical form of `source` (a file of format `fmt`) to `target`."""
    if fmt == "png":
        target.write_bytes(canonical_png(source.read_bytes()))
    elif fmt == "jpeg":
        target.write_bytes(canonical_jpeg(source.read_bytes()))
    elif fmt == "exr":
        target.write_bytes(canonical_exr(source.read_bytes()))
    elif fmt == "mp4":
        remux_mp4(source, target)
    elif fmt == "glb":
        target.write_bytes(canonical_glb(source.read_bytes()))
    else:
        raise MediaRefused(f"no canonical form for {fmt}")
    return target


def canonical_png(data: bytes) -> bytes:
    if not data.startswith(PNG_SIGNATURE):
        raise MediaRefused("not a PNG")
    out = [PNG_SIGNATURE]
    position = len(PNG_SIGNATURE)
    while True:
        if position + 12 > len(data):
            raise MediaRefused("the PNG is truncated: it has no IEND chunk")
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        end = position + 12 + length
        name = kind.decode("latin-1")
        if end > len(data):
            raise MediaRefused(f"the PNG is truncated inside its {name} chunk")
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(data[position + 4 : end - 4]) != crc:
            raise MediaRefused(f"the PNG's {name} chunk fails its checksum")
        if kind in PNG_KEPT:
            out.append(data[position:end])
        position = end
        if kind == b"IEND":
            return b"".join(out)


def canonical_jpeg(data: bytes) -> bytes:
    if not data.startswith(b"\xff\xd8"):
        raise MediaRefused("not a JPEG")
    out = [b"\xff\xd8"]
    position = 2
    while True:
        position = _next_marker(data, position)
        marker = data[position + 1]
        if marker == 0xD9:  # EOI: the image ends here, whatever follows
            out.append(b"\xff\xd9")
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            out.append(data[position : position + 2])
            position += 2
            continue
        if position + 4 > len(data):
            raise MediaRefused("the JPEG is truncated")
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        end = position + 2 + length
        if length < 2 or end > len(data):
            raise MediaRefused("the JPEG is truncated inside a segment")
        if marker == 0xDA:  # SOS: the entropy-coded scan runs to the next real marker
            end = _scan_end(data, end)
        if not (0xE0 <= marker <= 0xEF and marker not in JPEG_KEPT_APP) and marker != 0xFE:
            out.append(data[position:end])
        position = end


def _next_marker(data: bytes, position: int) -> int:
    if position >= len(data) or data[position] != 0xFF:
        raise MediaRefused("the JPEG is corrupt: a segment does not start with a marker")
    while position + 1 < len(data) and data[position + 1] == 0xFF:  # fill bytes
        position += 1
    if position + 1 >= len(data):
        raise MediaRefused("the JPEG is truncated: it has no end marker")
    return position


def _scan_end(data: bytes, position: int) -> int:
    """The first marker after entropy-coded data (0xFF00 is a stuffed byte, RSTn continue)."""
    while True:
        found = data.find(b"\xff", position)
        if found < 0 or found + 1 >= len(data):
            raise MediaRefused("the JPEG is truncated inside its image data")
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            position = found + 1 if following == 0xFF else found + 2
            continue
        return found


def canonical_exr(data: bytes) -> bytes:
    layout = exr_layout(data)
    end = exr_end(data, layout)
    expected = layout.table_offset + 8 * len(layout.offsets)
    for offset in sorted(layout.offsets):
        if offset != expected:
            raise MediaRefused("the EXR holds bytes between its chunks")
        (size,) = struct.unpack("<i", data[offset + 4 : offset + 8])
        expected = offset + 8 + size
    return data[:end]


def remux_mp4(source: Path, target: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is required to check MP4 results")
    result = subprocess.run(  # noqa: S603 - fixed binary, list argv
        [
            ffmpeg,
            "-nostdin",
            "-y",
            "-v",
            "error",
            "-i",
            str(source),
            "-map",
            "0:v:0",
            "-map",
            "0:a:0?",
            "-c",
            "copy",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(target),
        ],
        capture_output=True,
        timeout=300,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise MediaRefused(f"FFmpeg could not remux the MP4: {detail[0]}")
