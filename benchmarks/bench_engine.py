"""The engine on this machine's CPUs: PSNR and SSIM per 1024x1024 image side by side with
scikit-image's implementations under the same convention (values must agree to 1e-6); the
A/B split's cost per job; the render backend (Blender Cycles, CPU) and the 3D backend (mesh,
2048 texture, four-view Cycles turntable) per job; the stopping rule's false-positive rate
when an A/A test is looked at after every job.

    python -m benchmarks.bench_engine [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from atelier.engine import quality
from atelier.engine.sequential import ArmStats, Verdict, look
from atelier.generators.blender import BlenderRenderBackend
from atelier.generators.mesh3d import ProceduralMeshBackend
from atelier.grid.routing import arm_for
from benchmarks.common import Row, write_results

CONVENTION = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}


def _best(work, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def metrics_rows(repeat: int) -> list[Row]:
    rng = np.random.default_rng(7)
    clean = rng.integers(0, 256, (1024, 1024, 3)).astype(np.float64)
    noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255)
    ref, cand = quality.luma(clean), quality.luma(noisy)
    ours_ssim = quality.ssim(ref, cand)
    peer_ssim = structural_similarity(ref, cand, data_range=255, **CONVENTION)
    ours_psnr = quality.psnr(ref, cand)
    peer_psnr = peak_signal_noise_ratio(ref, cand, data_range=255)
    t_ssim = _best(lambda: quality.ssim(ref, cand), repeat)
    t_peer = _best(lambda: structural_similarity(ref, cand, data_range=255, **CONVENTION), repeat)
    t_psnr = _best(lambda: quality.psnr(ref, cand), repeat)
    t_peer_psnr = _best(lambda: peak_signal_noise_ratio(ref, cand, data_range=255), repeat)
    return [
        Row("SSIM 1024² (ours)", t_ssim * 1000, "ms", "faster than scikit-image"),
        Row("SSIM 1024² (scikit-image 0.26)", t_peer * 1000, "ms"),
        Row("SSIM speed-up over scikit-image", t_peer / t_ssim, "x", "> 1"),
        Row("SSIM |ours - scikit-image| x 1e9", abs(ours_ssim - peer_ssim) * 1e9, "", "≤ 1000"),
        Row("PSNR 1024² (ours)", t_psnr * 1000, "ms"),
        Row("PSNR 1024² (scikit-image 0.26)", t_peer_psnr * 1000, "ms"),
        Row("PSNR speed-up over scikit-image", t_peer_psnr / t_psnr, "x", "> 1"),
        Row("PSNR |ours - scikit-image| x 1e9", abs(ours_psnr - peer_psnr) * 1e9, "dB", "≤ 1000"),
    ]


def split_rows(jobs: int) -> list[Row]:
    experiment = uuid.uuid4()
    ids = [uuid.uuid4() for _ in range(jobs)]
    started = time.perf_counter()
    arms = [arm_for(job, experiment, 0.5) for job in ids]
    per_job = (time.perf_counter() - started) / jobs
    share = arms.count("challenger") / jobs
    return [
        Row("A/B assignment per job", per_job * 1000, "ms", "< 0.1 ms"),
        Row("challenger share of 0.5", share, "", f"{jobs} jobs"),
    ]


def aa_rows(runs: int, jobs: int) -> list[Row]:
    rng = np.random.default_rng(11)
    false = 0
    for _ in range(runs):
        a, b = ArmStats(), ArmStats()
        for x, y in zip(rng.random(jobs) < 0.7, rng.random(jobs) < 0.7, strict=True):
            a, b = a.seen(float(x), not x), b.seen(float(y), not y)
            if look(a, b, 0.05).verdict != Verdict.CONTINUE:
                false += 1
                break
    return [
        Row(
            "A/A false positives, looked at every job",
            false / runs,
            "",
            "≤ alpha = 0.05",
            f"{runs} tests x {jobs} jobs",
        )
    ]


def backend_rows(repeat: int) -> list[Row]:
    try:
        renderer = BlenderRenderBackend()
    except RuntimeError as exc:
        return [Row("render / 3D backends", 0, "", "", f"skipped: {exc}")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for width, height in ((256, 144), (1024, 576)):
            params = {
                "prompt": "three red glass spheres on marble",
                "width": width,
                "height": height,
            }

            def render(params=params) -> None:  # type: ignore[no-untyped-def]
                out = Path(tempfile.mkdtemp(dir=tmp))
                renderer.generate("render", params, out, lambda _: None)

            seconds = _best(render, repeat)
            rows.append(
                Row(
                    f"render {width}x{height}, 32 samples, Cycles CPU",
                    seconds,
                    "s/job",
                    "",
                    renderer.models[0],
                )
            )
        for label, renderer_or_none in (("+ 4-view turntable", renderer), ("no turntable", None)):
            mesh = ProceduralMeshBackend(renderer_or_none)

            def model(mesh=mesh) -> None:  # type: ignore[no-untyped-def]
                out = Path(tempfile.mkdtemp(dir=tmp))
                params = {"prompt": "a twisted blue vase", "texture": 2048}
                mesh.generate("3d", params, out, lambda _: None)

            rows.append(Row(f"3D: mesh + 2048² texture, {label}", _best(model, repeat), "s/job"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    repeat = 1 if quick else 3
    rows = metrics_rows(repeat)
    rows += split_rows(10_000 if quick else 100_000)
    rows += aa_rows(50 if quick else 300, 300 if quick else 600)
    rows += backend_rows(1 if quick else 2)
    path = write_results("engine", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    main()
