"""Path-traced rendering with Blender's Cycles, headless (`blender -b`), for `render` jobs.

Blender runs our scene script (generators/blender_scene.py) in its own process with the job's
parameters as a JSON data file: a scene built from the prompt's words, or a glTF binary
imported (the 3D backend's turntable), rendered to PNG or OpenEXR. The process is bounded by
a timeout and killed with its group when it runs over. Cycles picks OptiX/CUDA/HIP where the
machine has a GPU, else the CPU; what it used (device, denoiser, samples) is logged with the
job. A worker offers `render` only when `blender --version` answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from atelier.core.logging import get_logger
from atelier.generators.base import MIME_BY_FORMAT, JobUnsuitable, Output, Progress, seed_for

log = get_logger("atelier.generators.blender")

SCENE_SCRIPT = Path(__file__).with_name("blender_scene.py")
DEFAULT_SAMPLES = 32
MAX_SAMPLES = 4096
# a render's budget: pixels x samples (1024x576 at 64 samples is ~38M); beyond it the job is
# refused as unsuitable rather than tying a worker up for hours
MAX_PIXEL_SAMPLES = 4096 * 4096 * 64
SAMPLE_LINE = re.compile(rb"(?:Sample|Rendered|Rendering)\s+(\d+)\s*/\s*(\d+)")


def blender_version(binary: str) -> str:
    """`Blender 3.4.1` → "3.4.1"; RuntimeError when it does not run."""
    try:
        done = subprocess.run(
            [binary, "--version"], capture_output=True, timeout=60, check=True, text=True
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(f"render: {binary} does not run ({exc})") from None
    match = re.search(r"Blender (\d+\.\d+(?:\.\d+)?)", done.stdout)
    if match is None:
        raise RuntimeError(f"render: {binary} --version printed no Blender version")
    return match.group(1)


class BlenderRenderBackend:
    name = "blender-cycles"
    kinds: tuple[str, ...] = ("render",)

    def __init__(self, binary: str | None = None, timeout_s: float = 900.0) -> None:
        found = binary or shutil.which("blender")
        if found is None:
            raise RuntimeError("render: Blender is not installed (Debian: apt-get install blender)")
        self.binary = found
        self.version = blender_version(found)
        self.models: tuple[str, ...] = (f"blender-cycles-{self.version}",)
        self.timeout_s = timeout_s

    def job_file(self, params: dict[str, Any], out_dir: Path, **extra: Any) -> dict[str, Any]:
        """The data Blender's script reads (never code): size, samples, seed, paths."""
        width, height = int(params.get("width") or 1024), int(params.get("height") or 576)
        samples = int(params.get("samples") or DEFAULT_SAMPLES)
        if not 1 <= samples <= MAX_SAMPLES:
            raise JobUnsuitable(f"samples must be between 1 and {MAX_SAMPLES}")
        if width * height * samples > MAX_PIXEL_SAMPLES:
            raise JobUnsuitable(
                f"{width}x{height} at {samples} samples is beyond a render's budget; "
                "lower the samples or the size"
            )
        fmt = str(params.get("format") or "png")
        prompt = " ".join(str(params.get(k) or "") for k in ("prompt", "scene")).strip()
        return {
            "prompt": prompt,
            "width": width,
            "height": height,
            "samples": samples,
            "seed": seed_for(params) % 2**31,  # Cycles takes a signed 32-bit seed
            "format": fmt,
            "output": str(out_dir / f"result.{fmt}"),
            "meta": str(out_dir / "render.json"),
            **extra,
        }

    def run(self, job: dict[str, Any], out_dir: Path, progress: Progress) -> dict[str, Any]:
        """Render `job` in a Blender process of its own; its metadata (device, denoiser…)."""
        job_path = out_dir / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        command = [
            self.binary,
            "-b",
            "--factory-startup",
            "-noaudio",
            "--python-exit-code",
            "3",
            "--python",
            str(SCENE_SCRIPT),
            "--",
            str(job_path),
        ]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env["HOME"] = str(out_dir)  # Blender writes its preferences nowhere else
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=out_dir,
            env=env,
            start_new_session=True,
        )
        assert process.stdout is not None
        tail: list[bytes] = []
        deadline = time.monotonic() + self.timeout_s
        try:
            for line in process.stdout:
                tail = [*tail[-20:], line]
                match = SAMPLE_LINE.search(line)
                if match and int(match.group(2)):
                    progress(min(95.0, 5 + 90 * int(match.group(1)) / int(match.group(2))))
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(command, self.timeout_s)
            code = process.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"Blender ran over {self.timeout_s:.0f} s") from None
        output = Path(job["output"])
        if code != 0 or not output.is_file():
            said = b"".join(tail).decode(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"Blender failed (exit {code}): {' | '.join(said)}"[:400])
        meta: dict[str, Any] = json.loads(Path(job["meta"]).read_text(encoding="utf-8"))
        return meta

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        job = self.job_file(params, out_dir)
        progress(2)
        meta = self.run(job, out_dir, progress)
        log.info("render.done", **meta)
        progress(100)
        fmt = job["format"]
        return Output(Path(job["output"]), MIME_BY_FORMAT[fmt], self.models[0])
