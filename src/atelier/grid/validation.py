"""Checks on a worker's result before anyone sees it.

The file's real format comes from its bytes, not from the worker's word; it must match what
the job asked for and decode completely within the size, pixel and duration limits. Images
are decoded fully with Pillow after a header-only pixel check (the decompression-bomb guard);
video and EXR are decoded with PyAV; WAV is parsed, then rebuilt by FFmpeg as OBSIDIAN does,
so what we store is FFmpeg's output, not the worker's bytes.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from atelier.storage.media import (
    DECLARED_ALIASES,
    IMAGE_DECODE_ERRORS,
    MIME,
    SNIFF_BYTES,
    sniff,
)


class ResultRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    max_duration_s: float


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format: str
    mime: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


def inspect(
    path: Path, declared_mime: str | None, expected_format: str, limits: Limits
) -> MediaInfo:
    size = path.stat().st_size
    if size == 0:
        raise ResultRejected("the file is empty")
    if size > limits.max_bytes:
        raise ResultRejected(f"the file is {size} bytes; the limit is {limits.max_bytes}")
    with path.open("rb") as handle:
        real = sniff(handle.read(SNIFF_BYTES))
    if real is None:
        raise ResultRejected("the file is not PNG, JPEG, EXR, WAV or MP4")
    declared = DECLARED_ALIASES.get(declared_mime or "", declared_mime)
    if declared and declared != "application/octet-stream" and declared != MIME[real]:
        raise ResultRejected(f"declared {declared_mime} but the file is {real.upper()}")
    if real != expected_format:
        raise ResultRejected(
            f"the job asked for {expected_format.upper()}, the file is {real.upper()}"
        )
    if real in ("png", "jpeg"):
        return _image(path, real, size, limits)
    if real == "wav":
        return _wav(path, size, limits)
    if real == "exr":
        try:
            _exr_chunks_complete(path, size)
        except (ValueError, struct.error, IndexError):
            raise ResultRejected("the EXR header is unreadable") from None
    return _av(path, real, size, limits)


def _image(path: Path, fmt: str, size: int, limits: Limits) -> MediaInfo:
    try:
        with Image.open(path) as image:
            width, height = image.size  # header only: nothing decoded yet
            if width * height > limits.max_pixels:
                raise ResultRejected(
                    f"{width}x{height} exceeds the {limits.max_pixels}-pixel limit"
                )
            image.load()  # full decode: truncated or corrupt data fails here
    except ResultRejected:
        raise
    except IMAGE_DECODE_ERRORS as exc:
        raise ResultRejected(f"the {fmt.upper()} does not decode: {exc}") from None
    return MediaInfo(path, fmt, MIME[fmt], size, width, height)


_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}


def _exr_chunks_complete(path: Path, size: int) -> None:
    """FFmpeg decodes a truncated OpenEXR without complaint; check every chunk is present."""
    data = path.read_bytes()
    version = struct.unpack("<I", data[4:8])[0]
    if version & 0x200:
        raise ResultRejected("tiled OpenEXR is not accepted; write scanline images")
    position, compression, window = 8, None, None
    while position < len(data) and data[position] != 0:
        name_end = data.index(b"\0", position)
        type_end = data.index(b"\0", name_end + 1)
        (length,) = struct.unpack("<i", data[type_end + 1 : type_end + 5])
        value = data[type_end + 5 : type_end + 5 + length]
        name = data[position:name_end]
        if name == b"compression":
            compression = value[0]
        elif name == b"dataWindow":
            window = struct.unpack("<4i", value)
        position = type_end + 5 + length
    if compression not in _EXR_LINES_PER_CHUNK or window is None:
        raise ResultRejected("the EXR header is incomplete")
    lines = window[3] - window[1] + 1
    chunks = -(-lines // _EXR_LINES_PER_CHUNK[compression])
    table = position + 1
    if table + 8 * chunks > size:
        raise ResultRejected("the EXR is truncated: its offset table is incomplete")
    for (offset,) in struct.iter_unpack("<Q", data[table : table + 8 * chunks]):
        if offset + 8 > size:
            raise ResultRejected("the EXR is truncated: a chunk is missing")
        (chunk_size,) = struct.unpack("<i", data[offset + 4 : offset + 8])
        if chunk_size < 0 or offset + 8 + chunk_size > size:
            raise ResultRejected("the EXR is truncated: a chunk is incomplete")


def _riff_declared_sizes(path: Path, size: int) -> None:
    with path.open("rb") as handle:
        header = handle.read(12)
        riff_size = struct.unpack("<I", header[4:8])[0]
        if riff_size + 8 > size:
            raise ResultRejected(f"the WAV is truncated: its header promises {riff_size + 8} bytes")
        position = 12
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if position + 8 + chunk_size > size:
                    raise ResultRejected("the WAV is truncated: its data chunk is incomplete")
                return
            position += 8 + chunk_size + (chunk_size & 1)
    raise ResultRejected("the WAV has no data chunk")


def _wav(path: Path, size: int, limits: Limits) -> MediaInfo:
    _riff_declared_sizes(path, size)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is required to validate WAV results")
    rebuilt = path.with_name("validated.wav")
    result = subprocess.run(
        [ffmpeg, "-nostdin", "-y", "-v", "error", "-xerror", "-i", str(path),
         "-map", "0:a:0", "-map_metadata", "-1", "-c:a", "pcm_s16le", "-f", "wav", str(rebuilt)],
        capture_output=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise ResultRejected(f"FFmpeg could not rebuild the WAV: {detail[0]}")
    info = _av(rebuilt, "wav", rebuilt.stat().st_size, limits)
    return info


def _av(path: Path, fmt: str, size: int, limits: Limits) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if fmt in ("mp4", "exr") and video is None:
                raise ResultRejected(f"the {fmt.upper()} has no picture")
            if fmt == "wav" and audio is None:
                raise ResultRejected("the WAV has no audio")
            width = video.codec_context.width if video else None
            height = video.codec_context.height if video else None
            if width and height and width * height > limits.max_pixels:
                raise ResultRejected(
                    f"{width}x{height} exceeds the {limits.max_pixels}-pixel limit"
                )
            duration = float(container.duration / 1_000_000) if container.duration else None
            if duration is not None and duration > limits.max_duration_s:
                raise ResultRejected(
                    f"{duration:.1f} s is longer than the {limits.max_duration_s:g} s limit"
                )
            decoded_until = 0.0
            for frame in container.decode(*(s for s in (video, audio) if s is not None)):
                moment = getattr(frame, "time", None)
                if moment is not None:
                    decoded_until = max(decoded_until, float(moment))
                if decoded_until > limits.max_duration_s + 1:
                    raise ResultRejected(f"decodes past the {limits.max_duration_s:g} s limit")
    except ResultRejected:
        raise
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:
        raise ResultRejected(f"the {fmt.upper()} does not decode: {exc}") from None
    return MediaInfo(path, fmt, MIME[fmt], size, width, height, duration or decoded_until or None)
