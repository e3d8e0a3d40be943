"""What a media file really is, from its bytes, and whether we may decode it.

`sniff` names the format from the first bytes (never from a name or a declared type).
`probe` reads only headers and refuses, before anything decodes, a file whose declared size
would cost more than the limits allow: a 244-byte WAV declaring a 1 GHz sample rate, a
493 KB PNG of 13,000 x 13,000 pixels, an hour-long video. Every route that decodes media
probes first (grid results, /verify, /audit, /index, /embed), and decoding itself runs in a
sandboxed process (`storage.sandbox`) as a second line.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from atelier.core.config import Settings

SNIFF_BYTES = 16
# What Pillow raises for data that is not a whole, sane image: truncated or corrupt files
# (OSError, SyntaxError, ValueError) and headers claiming absurd sizes (a decompression bomb).
IMAGE_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    SyntaxError,
    ValueError,
    Image.DecompressionBombError,
)

MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "exr": "image/x-exr",
    "wav": "audio/wav",
    "mp4": "video/mp4",
    "glb": "model/gltf-binary",
}
DECLARED_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "image/jpg": "image/jpeg",
}


def sniff(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head.startswith(b"\x76\x2f\x31\x01"):
        return "exr"
    if head.startswith(b"glTF"):
        return "glb"
    return None


def sniff_path(path: Path) -> str | None:
    with path.open("rb") as handle:
        return sniff(handle.read(SNIFF_BYTES))


class MediaRefused(Exception):
    """The file is not what it claims, or would cost more to decode than the limits allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaLimits:
    max_pixels: int
    max_duration_s: float
    max_sample_rate: int = 192_000
    max_channels: int = 8

    @classmethod
    def of(cls, settings: Settings) -> MediaLimits:
        """The platform's limits: what any route that decodes media accepts at most."""
        return cls(
            settings.grid_max_pixels, settings.media_max_duration_s, settings.media_max_sample_rate
        )


@dataclass(frozen=True)
class Probe:
    """A file's size as its headers declare it (nothing decoded)."""

    format: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    sample_rate: int | None = None
    channels: int | None = None


def probe(path: Path, fmt: str, limits: MediaLimits) -> Probe:
    """Headers only; MediaRefused when they are unreadable or declare more than `limits`."""
    try:
        if fmt in ("png", "jpeg"):
            found = _image_probe(path, limits)
        elif fmt == "wav":
            found = wav_probe(path)
        elif fmt == "exr":
            layout = exr_layout(path.read_bytes())
            found = Probe("exr", layout.width, layout.height)
        elif fmt == "mp4":
            found = _av_probe(path)
        elif fmt == "glb":
            from atelier.storage.gltf import glb_layout  # it raises this module's MediaRefused

            glb_layout(path.read_bytes())
            found = Probe("glb")
        else:
            raise MediaRefused(f"{fmt!r} is not a media format Atelier reads")
    except MediaRefused:
        raise
    except _HEADER_ERRORS as exc:
        raise MediaRefused(f"the {fmt.upper()} header is unreadable: {exc}") from None
    check_limits(found, limits)
    return found


_HEADER_ERRORS: tuple[type[Exception], ...] = (
    *IMAGE_DECODE_ERRORS,
    struct.error,
    IndexError,
    EOFError,
)


def check_limits(found: Probe, limits: MediaLimits) -> None:
    if found.width is not None and found.height is not None:
        if found.width <= 0 or found.height <= 0:
            raise MediaRefused(f"{found.width}x{found.height} is not a picture size")
        if found.width * found.height > limits.max_pixels:
            raise MediaRefused(
                f"{found.width}x{found.height} exceeds the {limits.max_pixels}-pixel limit"
            )
    if found.duration_s is not None and found.duration_s > limits.max_duration_s:
        raise MediaRefused(
            f"{found.duration_s:.1f} s is longer than the {limits.max_duration_s:g} s limit"
        )
    if found.sample_rate is not None and not 1 <= found.sample_rate <= limits.max_sample_rate:
        raise MediaRefused(
            f"a {found.sample_rate} Hz sample rate is outside 1 to {limits.max_sample_rate} Hz"
        )
    if found.channels is not None and not 1 <= found.channels <= limits.max_channels:
        raise MediaRefused(f"{found.channels} channels (at most {limits.max_channels})")


def _image_probe(path: Path, limits: MediaLimits) -> Probe:
    try:
        with Image.open(path) as image:  # reads the header: nothing is decoded yet
            width, height = image.size
            fmt = "png" if image.format == "PNG" else "jpeg"
    except Image.DecompressionBombError:  # Pillow's own bound, far above ours
        limit = limits.max_pixels
        raise MediaRefused(f"its header declares more than the {limit}-pixel limit") from None
    return Probe(fmt, width, height)


# -- WAV -----------------------------------------------------------------------------------

_PCM_BITS = {8, 16, 24, 32, 64}


@dataclass(frozen=True)
class WavLayout:
    sample_rate: int
    channels: int
    bits: int
    data_offset: int
    data_size: int


def wav_layout(path: Path) -> WavLayout:
    """The RIFF structure: its `fmt ` and `data` chunks, checked against the file's size."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        header = handle.read(12)
        (riff_size,) = struct.unpack("<I", header[4:8])
        if riff_size + 8 > size:
            raise MediaRefused(f"the WAV is truncated: its header promises {riff_size + 8} bytes")
        position, fmt_chunk = 12, None
        while position + 8 <= size:
            handle.seek(position)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"fmt ":
                fmt_chunk = handle.read(min(chunk_size, 40))
            elif chunk_id == b"data":
                if fmt_chunk is None or len(fmt_chunk) < 16:
                    raise MediaRefused("the WAV has no format chunk before its data")
                if position + 8 + chunk_size > size:
                    raise MediaRefused("the WAV is truncated: its data chunk is incomplete")
                _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt_chunk[:16])
                if bits not in _PCM_BITS:
                    raise MediaRefused(f"{bits} bits per sample is not a PCM sample size")
                return WavLayout(rate, channels, bits, position + 8, chunk_size)
            position += 8 + chunk_size + (chunk_size & 1)
    raise MediaRefused("the WAV has no data chunk")


def wav_probe(path: Path) -> Probe:
    layout = wav_layout(path)
    frame = max(1, layout.channels) * layout.bits // 8
    duration = layout.data_size / frame / layout.sample_rate if layout.sample_rate else None
    return Probe(
        "wav", duration_s=duration, sample_rate=layout.sample_rate, channels=layout.channels
    )


# -- OpenEXR -------------------------------------------------------------------------------

# scanlines per chunk, by compression (OpenEXR file layout, "compression" attribute)
_EXR_LINES_PER_CHUNK = {0: 1, 1: 1, 2: 1, 3: 16, 4: 32, 5: 16, 6: 32, 7: 32, 8: 32, 9: 256}


@dataclass(frozen=True)
class ExrLayout:
    width: int
    height: int
    offsets: tuple[int, ...]  # where each chunk starts
    table_offset: int  # where the offset table starts (right after the header)


def exr_layout(data: bytes) -> ExrLayout:
    """A scanline OpenEXR's size and chunk table, read from its header."""
    (version,) = struct.unpack("<I", data[4:8])
    if version & 0x200:
        raise MediaRefused("tiled OpenEXR is not accepted; write scanline images")
    if version & 0x1000:
        raise MediaRefused("multi-part OpenEXR is not accepted; write a single part")
    position, compression, window = 8, None, None
    while position < len(data) and data[position] != 0:
        name_end = data.index(b"\0", position)
        type_end = data.index(b"\0", name_end + 1)
        (length,) = struct.unpack("<i", data[type_end + 1 : type_end + 5])
        if length < 0:
            raise MediaRefused("the EXR header is corrupt")
        value = data[type_end + 5 : type_end + 5 + length]
        name = data[position:name_end]
        if name == b"compression":
            compression = value[0]
        elif name == b"dataWindow":
            window = struct.unpack("<4i", value)
        position = type_end + 5 + length
    if compression not in _EXR_LINES_PER_CHUNK or window is None:
        raise MediaRefused("the EXR header is incomplete")
    width, height = window[2] - window[0] + 1, window[3] - window[1] + 1
    if width <= 0 or height <= 0:
        raise MediaRefused("the EXR's data window is empty")
    chunks = -(-height // _EXR_LINES_PER_CHUNK[compression])
    table = position + 1
    if table + 8 * chunks > len(data):
        raise MediaRefused("the EXR is truncated: its offset table is incomplete")
    offsets = tuple(o for (o,) in struct.iter_unpack("<Q", data[table : table + 8 * chunks]))
    return ExrLayout(width, height, offsets, table)


def exr_end(data: bytes, layout: ExrLayout) -> int:
    """Where the image's last chunk ends; every chunk must lie whole inside `data`."""
    end = layout.table_offset + 8 * len(layout.offsets)
    for offset in layout.offsets:
        if offset < layout.table_offset or offset + 8 > len(data):
            raise MediaRefused("the EXR is truncated: a chunk is missing")
        (chunk_size,) = struct.unpack("<i", data[offset + 4 : offset + 8])
        if chunk_size < 0 or offset + 8 + chunk_size > len(data):
            raise MediaRefused("the EXR is truncated: a chunk is incomplete")
        end = max(end, offset + 8 + chunk_size)
    return end


# -- MP4 -----------------------------------------------------------------------------------


def _av_probe(path: Path) -> Probe:
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            duration = float(container.duration / 1_000_000) if container.duration else None
            return Probe(
                "mp4",
                width=video.codec_context.width if video else None,
                height=video.codec_context.height if video else None,
                duration_s=duration,
                sample_rate=audio.codec_context.sample_rate if audio else None,
                channels=audio.codec_context.channels if audio else None,
            )
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise MediaRefused(f"the MP4 does not open: {exc}") from None
