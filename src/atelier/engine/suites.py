"""Benchmark suites: the cases a candidate runs on the grid, and how its outputs are scored.

A suite is `<catalog>/<capability>/benchmark/cases.json`, a list of job fields (prompt, seed,
size…) each with an optional `reference`: a file beside it that the output should reproduce
(a golden image, a reference render). Without a suite a capability gets a small default one
with no references: then only failures and speed are measured, and quality is the share of
cases that produced a valid output.

Scoring runs in the task process with no transaction open; it reads the accepted outputs
from the blob store.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from atelier.engine import quality
from atelier.engine.decisions import Scores, Thresholds
from atelier.generators.mesh3d import shape_share
from atelier.storage.gltf import first_mesh, glb_layout
from atelier.storage.media import MediaRefused

MAX_CASES = 64
PSNR_CAP_DB = 100.0  # identical images (+inf dB) count as 100 dB, so that means stay finite
MAX_SUITE_BYTES = 256 * 1024
Image.MAX_IMAGE_PIXELS = 64 * 1024 * 1024

DEFAULT_CASES: dict[str, list[dict[str, Any]]] = {
    "image": [
        {"prompt": "a lighthouse at dusk", "seed": 1, "width": 256, "height": 256},
        {"prompt": "a red fox in snow", "seed": 2, "width": 256, "height": 256},
        {"prompt": "an abstract study in blue", "seed": 3, "width": 256, "height": 256},
    ],
    "render": [{"prompt": "a glass sphere on a marble floor", "width": 256, "height": 144}],
    "music": [{"prompt": "a calm piano loop", "duration_s": 2.0, "seed": 1}],
    "speech": [{"prompt": "The quick brown fox jumps over the lazy dog."}],
    "video": [{"prompt": "waves at sunrise", "duration_s": 1.0, "width": 128, "height": 72}],
    "3d": [{"prompt": "a twisted vase"}],
}


@dataclass(frozen=True)
class Case:
    fields: dict[str, Any]
    reference: Path | None = None


@dataclass(frozen=True)
class Suite:
    capability: str
    cases: list[Case]
    digest: str  # what the suite is (cases and reference bytes): scores of other digests differ
    origin: str = "default"


class SuiteError(ValueError):
    """The suite file is not usable (it is reported; the candidate is not blamed)."""


def _digest(cases: list[Case]) -> str:
    hasher = hashlib.sha256()
    for case in cases:
        hasher.update(json.dumps(case.fields, sort_keys=True).encode())
        if case.reference is not None:
            hasher.update(quality.sha256_of(case.reference).encode())
    return hasher.hexdigest()[:16]


def load(catalog_dir: Path | None, capability: str) -> Suite:
    path = None if catalog_dir is None else catalog_dir / capability / "benchmark" / "cases.json"
    if path is None or not path.is_file():
        cases = [Case(dict(fields)) for fields in DEFAULT_CASES.get(capability, [])]
        return Suite(capability, cases, _digest(cases))
    if path.stat().st_size > MAX_SUITE_BYTES:
        raise SuiteError(f"{path} is larger than {MAX_SUITE_BYTES} bytes")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise SuiteError(f"{path} is not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw or len(raw) > MAX_CASES:
        raise SuiteError(f"{path} must be a list of 1 to {MAX_CASES} cases")
    cases = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise SuiteError(f"case {index} is not an object")
        fields = {k: v for k, v in item.items() if k != "reference"}
        reference = None
        if item.get("reference"):
            reference = (path.parent / str(item["reference"])).resolve()
            if path.parent.resolve() not in reference.parents or not reference.is_file():
                raise SuiteError(f"case {index}'s reference is not a file beside cases.json")
        cases.append(Case(fields, reference))
    return Suite(capability, cases, _digest(cases), origin=str(path))


@dataclass
class Networks:
    """LPIPS and FID networks, when the operator configured them."""

    lpips: quality.Lpips | None = None
    fid: quality.FidFeatures | None = None
    problems: list[str] = field(default_factory=list)


def networks(lpips: quality.PinnedWeights | None, fid: quality.PinnedWeights | None) -> Networks:
    found = Networks()
    if lpips is not None:
        try:
            found.lpips = quality.Lpips(lpips)
        except (quality.WeightsMismatch, quality.MetricError) as exc:
            found.problems.append(f"LPIPS not measured: {exc}")
    if fid is not None:
        try:
            found.fid = quality.FidFeatures(fid)
        except (quality.WeightsMismatch, quality.MetricError) as exc:
            found.problems.append(f"FID not measured: {exc}")
    return found


@dataclass(frozen=True)
class Output:
    """What one case produced: the accepted file, or why none was, and its compute time."""

    path: Path | None
    error: str | None = None
    compute_s: float | None = None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _image_metrics(
    pairs: list[tuple[Image.Image, Image.Image]], nets: Networks
) -> dict[str, float | None]:
    psnrs, ssims, lpips = [], [], []
    for reference, candidate in pairs:
        ref, cand = quality.luma(reference), quality.luma(candidate)
        psnrs.append(min(PSNR_CAP_DB, quality.psnr(ref, cand)))
        ssims.append(quality.ssim(ref, cand))
        if nets.lpips is not None:
            lpips.append(nets.lpips.distance(reference, candidate))
    fid = None
    if nets.fid is not None and len(pairs) >= 2:
        fid = nets.fid.fid([r for r, _ in pairs], [c for _, c in pairs])
    return {
        "psnr_db": _mean(psnrs),
        "ssim": _mean(ssims),
        "lpips": _mean(lpips) if lpips else None,
        "fid": fid,
    }


def _model_metrics(paths: list[Path]) -> dict[str, float | None]:
    """3D outputs: the mean share of well-shaped triangles, and the smallest texture side
    (the turntable preview is not a texture)."""
    qualities: list[float] = []
    sides: list[int] = []
    for path in paths:
        data = path.read_bytes()
        positions, triangles = first_mesh(data)
        qualities.append(shape_share(positions, triangles))
        for name, offset, length in glb_layout(data).images:
            if name != "turntable":
                with Image.open(io.BytesIO(data[offset : offset + length])) as texture:
                    sides.append(min(texture.size))
    return {
        "mesh_quality": _mean(qualities),
        "texture_px": min(sides) if sides else None,
    }


def score(suite: Suite, outputs: list[Output], nets: Networks) -> Scores:
    """The suite's scores for one version's outputs (in case order)."""
    failures = sum(1 for o in outputs if o.path is None)
    seconds = [o.compute_s for o in outputs if o.compute_s is not None]
    speed = sum(seconds) / len(seconds) if seconds else None
    pairs = []
    try:
        for case, output in zip(suite.cases, outputs, strict=True):
            if case.reference is None or output.path is None:
                continue
            with Image.open(case.reference) as ref, Image.open(output.path) as out:
                pairs.append((ref.copy(), out.copy()))
        metrics = _image_metrics(pairs, nets) if pairs else {}
        if suite.capability == "3d":
            metrics |= _model_metrics([o.path for o in outputs if o.path is not None])
    except (OSError, quality.MetricError, ValueError, MediaRefused) as exc:
        return Scores(len(outputs), failures, None, seconds_per_job=speed, error=str(exc))
    ssim = metrics.get("ssim")
    done_share = (len(outputs) - failures) / len(outputs) if outputs else 0.0
    return Scores(
        cases=len(outputs),
        failures=failures,
        quality=ssim if ssim is not None else done_share,
        psnr_db=metrics.get("psnr_db"),
        ssim=ssim,
        lpips=metrics.get("lpips"),
        fid=metrics.get("fid"),
        mesh_quality=metrics.get("mesh_quality"),
        texture_px=None if metrics.get("texture_px") is None else int(metrics["texture_px"] or 0),
        seconds_per_job=speed,
        error=next((o.error for o in outputs if o.path is None and o.error), None)
        if failures == len(outputs)
        else None,
    )


def thresholds_for(capability: str, settings: Any) -> Thresholds:
    if capability == "image":
        return Thresholds(
            min_psnr_db=settings.engine_image_min_psnr_db,
            min_ssim=settings.engine_image_min_ssim,
            max_lpips=settings.engine_image_max_lpips,
            max_fid=settings.engine_image_max_fid,
        )
    if capability == "render":
        return Thresholds(
            min_psnr_db=settings.engine_render_min_psnr_db,
            min_ssim=settings.engine_render_min_ssim,
        )
    if capability == "3d":
        return Thresholds(
            min_mesh_quality=settings.engine_3d_min_mesh_quality,
            min_texture_px=settings.engine_3d_min_texture_px,
        )
    return Thresholds()
