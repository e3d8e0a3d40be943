"""Checks on a worker's result before anyone sees it.

The file's real format comes from its bytes, not from the worker's word; it must be what the
job asked for, declare no more than the limits allow (headers are read before anything is
decoded), be rebuilt into its canonical form (storage/canonical.py: nothing smuggled after
the image's end or in metadata; WAV rebuilt by FFmpeg as OBSIDIAN does), decode completely,
and match the job: the exact width and height asked for, and the duration asked for within
`duration_tolerance`. What we store is the canonical file, not the worker's bytes.

`inspect` runs inside the media sandbox (storage/sandbox.py), never on the event loop.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from atelier.provenance.fingerprints import Pdq, pdq_of_image
from atelier.storage.canonical import canonicalize
from atelier.storage.gltf import glb_layout
from atelier.storage.media import (
    DECLARED_ALIASES,
    IMAGE_DECODE_ERRORS,
    MIME,
    MediaLimits,
    MediaRefused,
    probe,
    sniff_path,
)
from atelier.storage.sandbox import preload

preload(__name__)  # `inspect` runs in the media sandbox


@dataclass(frozen=True)
class Expectation:
    """What the job asked for. `duration_s` is a target (music, video); `max_duration_s`
    only bounds results whose length the job cannot fix (speech)."""

    format: str
    max_bytes: int
    limits: MediaLimits
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


def duration_tolerance(target_s: float) -> float:
    """How far a result's length may be from the length asked for: 0.5 s or 5%."""
    return max(0.5, 0.05 * target_s)


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    format: str
    mime: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    pdq: Pdq | None = None  # PNG and JPEG: the perceptual hash of the decoded image


def inspect(path: Path, declared_mime: str | None, expected: Expectation) -> MediaInfo:
    """The checked, canonical result; MediaRefused says why not (naming no server path)."""
    try:
        return _inspect(path, declared_mime, expected)
    except MediaRefused as exc:
        raise MediaRefused(exc.reason.replace(f"{path.parent}/", "")) from None


def _inspect(path: Path, declared_mime: str | None, expected: Expectation) -> MediaInfo:
    size = path.stat().st_size
    if size == 0:
        raise MediaRefused("the file is empty")
    if size > expected.max_bytes:
        raise MediaRefused(f"the file is {size} bytes; the limit is {expected.max_bytes}")
    real = sniff_path(path)
    if real is None:
        raise MediaRefused("the file is not PNG, JPEG, EXR, WAV, MP4 or glTF binary")
    declared = DECLARED_ALIASES.get(declared_mime or "", declared_mime)
    if declared and declared != "application/octet-stream" and declared != MIME[real]:
        raise MediaRefused(f"declared {declared_mime} but the file is {real.upper()}")
    if real != expected.format:
        raise MediaRefused(
            f"the job asked for {expected.format.upper()}, the file is {real.upper()}"
        )
    probe(path, real, expected.limits)
    if real == "wav":
        info = _decoded(_rebuilt_wav(path), "wav", expected.limits)
    else:
        canonical = canonicalize(path, real, path.with_name(f"canonical.{real}"))
        info = _decoded(canonical, real, expected.limits)
    _check_against_job(info, expected)
    return info


def _decoded(path: Path, fmt: str, limits: MediaLimits) -> MediaInfo:
    if fmt in ("png", "jpeg"):
        return _image(path, fmt)
    if fmt == "glb":
        return _model(path, limits)
    return _av(path, fmt, limits)


MAX_MODEL_VERTICES = 4_000_000


def _model(path: Path, limits: MediaLimits) -> MediaInfo:
    """A 3D model: its structure checked (storage.gltf) and each image in it decoded within
    the pixel limit; its width and height are its largest texture's."""
    data = path.read_bytes()
    layout = glb_layout(data)
    if layout.vertices > MAX_MODEL_VERTICES:
        raise MediaRefused(f"the model has more than {MAX_MODEL_VERTICES} vertices")
    if not layout.triangles:
        raise MediaRefused("the model has no triangles")
    width = height = 0
    for name, offset, length in layout.images:
        try:
            with Image.open(io.BytesIO(data[offset : offset + length])) as image:
                if image.width * image.height > limits.max_pixels:
                    raise MediaRefused(f"the model's image {name!r} exceeds the pixel limit")
                image.load()
                if image.width * image.height > width * height and name != "turntable":
                    width, height = image.size
        except IMAGE_DECODE_ERRORS as exc:
            raise MediaRefused(f"the model's image {name!r} does not decode: {exc}") from None
    return MediaInfo(path, "glb", MIME["glb"], len(data), width or None, height or None)


def _check_against_job(info: MediaInfo, expected: Expectation) -> None:
    if expected.width is not None and (info.width, info.height) != (
        expected.width,
        expected.height,
    ):
        raise MediaRefused(
            f"the job asked for {expected.width}x{expected.height}, "
            f"the file is {info.width}x{info.height}"
        )
    if expected.duration_s is not None:
        length = info.duration_s or 0.0
        if abs(length - expected.duration_s) > duration_tolerance(expected.duration_s):
            raise MediaRefused(
                f"the job asked for {expected.duration_s:g} s, the file lasts {length:.2f} s "
                f"(tolerance {duration_tolerance(expected.duration_s):g} s)"
            )


def _image(path: Path, fmt: str) -> MediaInfo:
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.load()  # full decode: truncated or corrupt data fails here
            # The image is decoded here anyway: its PDQ now saves provenance a second decode.
            pdq = pdq_of_image(image)
    except IMAGE_DECODE_ERRORS as exc:
        raise MediaRefused(f"the {fmt.upper()} does not decode: {exc}") from None
    return MediaInfo(path, fmt, MIME[fmt], path.stat().st_size, width, height, pdq=pdq)


def _rebuilt_wav(path: Path) -> Path:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is required to validate WAV results")
    rebuilt = path.with_name("canonical.wav")
    result = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-y",
            "-v",
            "error",
            "-xerror",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-map_metadata",
            "-1",
            "-fflags",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-c:a",
            "pcm_s16le",
            "-f",
            "wav",
            str(rebuilt),
        ],
        capture_output=True,
        timeout=300,
    )
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
        raise MediaRefused(f"FFmpeg could not rebuild the WAV: {detail[0]}")
    return rebuilt


def _av(path: Path, fmt: str, limits: MediaLimits) -> MediaInfo:
    import av

    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio else None
            if fmt in ("mp4", "exr") and video is None:
                raise MediaRefused(f"the {fmt.upper()} has no picture")
            if fmt == "wav" and audio is None:
                raise MediaRefused("the WAV has no audio")
            width = video.codec_context.width if video else None
            height = video.codec_context.height if video else None
            duration = float(container.duration / 1_000_000) if container.duration else None
            decoded_until = 0.0
            for frame in container.decode(*(s for s in (video, audio) if s is not None)):
                if isinstance(frame, av.VideoFrame | av.AudioFrame) and frame.time is not None:
                    end = float(frame.time)
                    if isinstance(frame, av.AudioFrame) and frame.sample_rate:
                        end += frame.samples / frame.sample_rate
                    decoded_until = max(decoded_until, end)
                if decoded_until > limits.max_duration_s + 1:
                    raise MediaRefused(f"decodes past the {limits.max_duration_s:g} s limit")
    except MediaRefused:
        raise
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as exc:
        raise MediaRefused(f"the {fmt.upper()} does not decode: {exc}") from None
    return MediaInfo(
        path, fmt, MIME[fmt], path.stat().st_size, width, height, duration or decoded_until or None
    )
