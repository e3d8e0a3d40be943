"""Which backends this worker machine can offer, from what is installed and configured."""

from __future__ import annotations

from pathlib import Path

from atelier.generators.base import Backend
from atelier.generators.image import ProceduralImageBackend
from atelier.generators.music import SynthMusicBackend
from atelier.generators.onnx_image import OnnxImageBackend
from atelier.generators.speech import EspeakSpeechBackend
from atelier.generators.video import FfmpegVideoBackend


def available_backends(onnx_image_model: Path | None = None) -> tuple[list[Backend], list[str]]:
    """(backends, reasons some are missing) — a missing tool disables only its kind."""
    backends: list[Backend] = [ProceduralImageBackend(), SynthMusicBackend()]
    missing: list[str] = []
    for factory in (EspeakSpeechBackend, FfmpegVideoBackend):
        try:
            backends.append(factory())
        except RuntimeError as exc:
            missing.append(str(exc))
    if onnx_image_model is not None:
        backends.insert(0, OnnxImageBackend(onnx_image_model))
    return backends, missing


def pick(backends: list[Backend], kind: str, model: str | None) -> Backend | None:
    for backend in backends:
        if kind in backend.kinds and (model is None or model in backend.models):
            return backend
    return None
