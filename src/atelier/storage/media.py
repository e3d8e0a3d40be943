"""What a file really is, from its first bytes (never from its name or a declared type)."""

from __future__ import annotations

from PIL import Image

SNIFF_BYTES = 16
# What Pillow raises for data that is not a whole, sane image: truncated or corrupt files
# (OSError, SyntaxError, ValueError) and headers claiming absurd sizes (a decompression bomb).
IMAGE_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError, SyntaxError, ValueError, Image.DecompressionBombError,
)  # fmt: skip

MIME = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "exr": "image/x-exr",
    "wav": "audio/wav",
    "mp4": "video/mp4",
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
    return None
