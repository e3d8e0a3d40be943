"""Perceptual fingerprints: PDQ for images and video keyframes.

PDQ (Meta's 256-bit perceptual hash) survives re-encoding, resizing and small edits; two
images within Hamming distance 31 are near-duplicates when both hashes have quality >= 50.
We hash the 8 dihedral variants of a query (rotations and flips), so a rotated or mirrored
copy still matches the stored canonical hash. Images are shrunk to 512 px first, as the
reference implementation does, which is also what makes hashing fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash
from numpy.typing import NDArray
from PIL import Image

MAX_SIDE = 512
NEAR_DUPLICATE_DISTANCE = 31
MIN_QUALITY = 50
KEYFRAMES = 5


@dataclass(frozen=True)
class Pdq:
    hash: bytes  # 32 bytes, bit 0 first
    quality: int
    variants: tuple[bytes, ...]  # the 8 dihedral hashes, canonical first

    @property
    def hex(self) -> str:
        return self.hash.hex()


def _pack(bits: NDArray[np.int64]) -> bytes:
    return bytes(np.packbits(bits.astype(np.uint8)))


def pdq_of_array(rgb: NDArray[np.uint8]) -> Pdq:
    hashes, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
    packed = tuple(_pack(h) for h in hashes)
    return Pdq(packed[0], int(quality), packed)


def pdq_of_image(image: Image.Image) -> Pdq:
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return pdq_of_array(np.asarray(image))


def pdq_of_file(path: Path) -> Pdq:
    with Image.open(path) as image:
        return pdq_of_image(image)


def pdq_of_video(path: Path, frames: int = KEYFRAMES) -> list[Pdq]:
    """PDQ of up to `frames` keyframes spread over the video."""
    import av

    hashes: list[Pdq] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        for frame in container.decode(stream):
            hashes.append(pdq_of_image(frame.to_image()))  # type: ignore[no-untyped-call]
            if len(hashes) >= frames:
                break
    return hashes


def hamming(a: bytes, b: bytes) -> int:
    return int.from_bytes(a, "big").__xor__(int.from_bytes(b, "big")).bit_count()


def fingerprints_of(path: Path, fmt: str) -> tuple[str, list[Pdq]]:
    """(media kind, PDQ hashes) of a file of a known format. Audio has no PDQ (Chromaprint
    comes with the audio tier)."""
    if fmt in ("png", "jpeg"):
        return "image", [pdq_of_file(path)]
    if fmt == "exr":
        return "image", pdq_of_video(path, frames=1)
    if fmt == "mp4":
        return "video", pdq_of_video(path)
    return "audio", []
