"""Which backends this worker machine can offer, from what is installed and configured."""

from __future__ import annotations

from pathlib import Path

from atelier.generators import catalog
from atelier.generators.base import Backend
from atelier.generators.blender import BlenderRenderBackend
from atelier.generators.image import ProceduralImageBackend
from atelier.generators.mesh3d import ProceduralMeshBackend
from atelier.generators.music import SynthMusicBackend
from atelier.generators.onnx_image import OnnxImageBackend
from atelier.generators.speech import EspeakSpeechBackend
from atelier.generators.video import FfmpegVideoBackend


def available_backends(onnx_image_model: Path | None = None) -> tuple[list[Backend], list[str]]:
    """(backends, reasons some are missing) — a missing tool disables only its kind."""
    backends: list[Backend] = [ProceduralImageBackend(), SynthMusicBackend()]
    missing: list[str] = []
    for factory in (EspeakSpeechBackend, FfmpegVideoBackend, BlenderRenderBackend):
        try:
            backends.append(factory())
        except RuntimeError as exc:
            missing.append(str(exc))
    renderer = next((b for b in backends if isinstance(b, BlenderRenderBackend)), None)
    backends.append(ProceduralMeshBackend(renderer))
    if renderer is None:
        missing.append("3d: models are made without their turntable preview (no Blender)")
    if onnx_image_model is not None:
        backends.insert(0, OnnxImageBackend(onnx_image_model))
    return backends, missing


class CatalogLoader:
    """The catalog's versions this machine can run, loaded again when the catalog changes:
    a version is offered only while its weights match the sha256 its manifest pins, and a
    weights file is hashed and loaded once per (size, modification time)."""

    def __init__(self, catalog_dir: Path | None) -> None:
        self.catalog_dir = catalog_dir
        self._loaded: dict[str, tuple[tuple[str, int, int], Backend]] = {}

    def load(self) -> tuple[list[Backend], list[str]]:
        entries, unreadable = catalog.scan(self.catalog_dir)
        problems = [f"catalog manifest {u.path}: {u.reason}" for u in unreadable]
        loaded: dict[str, tuple[tuple[str, int, int], Backend]] = {}
        for entry in entries:
            try:
                stat = entry.weights.stat()
            except OSError:
                problems.append(f"catalog version {entry.model_id}: its weights are missing")
                continue
            key = (entry.sha256, stat.st_size, stat.st_mtime_ns)
            cached = self._loaded.get(entry.model_id)
            if cached is not None and cached[0] == key:
                loaded[entry.model_id] = cached
                continue
            problem = entry.weights_problem()
            if problem is not None:
                problems.append(f"catalog version {entry.model_id}: {problem}")
                continue
            try:
                loaded[entry.model_id] = (key, OnnxImageBackend(entry.weights, entry.model_id))
            except Exception as exc:  # whatever the runtime raises for a file it cannot load
                problems.append(f"catalog version {entry.model_id} does not load: {exc}")
        self._loaded = loaded
        return [backend for _, backend in loaded.values()], problems


def pick(backends: list[Backend], kind: str, model: str | None) -> Backend | None:
    for backend in backends:
        if kind in backend.kinds and (model is None or model in backend.models):
            return backend
    return None
