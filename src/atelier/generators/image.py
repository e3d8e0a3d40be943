"""Procedural images from a prompt's seed: layered sinusoidal fields coloured by a palette
drawn from the seed, with shapes on top. Deterministic: same parameters, same pixels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

from atelier.generators.base import MIME_BY_FORMAT, Output, Progress, seed_for

MODEL = "procedural-v1"


def field(rng: np.random.Generator, width: int, height: int, t: float = 0.0) -> NDArray[np.float32]:
    """A smooth scalar field in [0, 1]: a sum of random plane waves, animated by `t`."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs /= max(width, height)
    ys /= max(width, height)
    total = np.zeros((height, width), dtype=np.float32)
    for octave in range(5):
        frequency = 2.0 * (1.7**octave)
        angle = rng.uniform(0, np.pi)
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.sin(
            frequency * 2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle))
            + phase
            + t * (octave + 1)
        )
        total += wave.astype(np.float32) / (octave + 1)
    total -= total.min()
    peak = float(total.max())
    return total / peak if peak > 0 else total


def palette(rng: np.random.Generator, size: int = 256) -> NDArray[np.uint8]:
    stops = rng.integers(0, 256, size=(4, 3)).astype(np.float32)
    positions = np.linspace(0, 1, len(stops))
    ramp = np.linspace(0, 1, size)
    channels = [np.interp(ramp, positions, stops[:, c]) for c in range(3)]
    return np.stack(channels, axis=1).astype(np.uint8)


def render_frame(seed: int, width: int, height: int, t: float = 0.0) -> Image.Image:
    rng = np.random.default_rng(seed)
    colours = palette(rng)
    values = field(rng, width, height, t)
    pixels = colours[(values * 255).astype(np.uint8)]
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image, "RGBA")
    for _ in range(int(rng.integers(3, 9))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.03, 0.18) * min(width, height)
        cx += np.sin(t + cx) * radius * 0.5
        colour = (*(int(c) for c in rng.integers(0, 256, 3)), int(rng.integers(60, 160)))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colour)
    return image.filter(ImageFilter.SMOOTH)


def save_image(image: Image.Image, path: Path, fmt: str) -> None:
    if fmt == "png":
        image.save(path, "PNG", optimize=False)
    elif fmt == "jpeg":
        image.save(path, "JPEG", quality=92)
    elif fmt == "exr":
        staging = path.with_suffix(".staging.png")
        image.save(staging, "PNG")
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise RuntimeError("EXR output needs ffmpeg on PATH")
        subprocess.run(
            [
                ffmpeg,
                "-nostdin",
                "-y",
                "-v",
                "error",
                "-i",
                str(staging),
                "-pix_fmt",
                "gbrpf32le",
                "-c:v",
                "exr",
                "-frames:v",
                "1",
                str(path),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        staging.unlink()
    else:
        raise ValueError(f"unsupported image format {fmt}")


class ProceduralImageBackend:
    name = "procedural-image"
    kinds: tuple[str, ...] = ("image",)
    models: tuple[str, ...] = (MODEL,)

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        fmt = str(params.get("format") or "png")
        width, height = int(params.get("width") or 512), int(params.get("height") or 512)
        progress(5)
        image = render_frame(seed_for(params), width, height)
        progress(80)
        path = out_dir / f"result.{fmt}"
        save_image(image, path, fmt)
        progress(100)
        return Output(path, MIME_BY_FORMAT[fmt], MODEL)
