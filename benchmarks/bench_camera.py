"""The camera node on this machine's CPUs: the whole pipeline's frame rate at 640x360 (motion
gate → BlazeFace → tracking → dlib recognition off-thread → hands → blur/overlay → JPEG), with
the gate doing its work (a still scene) and without it (every frame moves); the models' time
per call, BlazeFace side by side with dlib's HOG detector (what face_recognition uses by
default); the MJPEG fan-out's CPU with 1 and 50 viewers of a real `atelier serve camera`; and
open-set recognition accuracy on faces made from images shipped in packages.

The faces: face_recognition 1.3.0's test images (Obama in five photos, Biden in one) and the
man in npm fingerpose's demo (43 frames); each photo also brightened, darkened, shrunk,
blurred, mirrored and turned a little. One template per person is enrolled (their first
photo, as at a check-in); every other variant is a genuine probe, and every variant of a
person *not* enrolled (each person left out in turn) an impostor probe. TAR = genuine probes
named as their own wallet; FAR = impostor probes named as anyone.

    python -m benchmarks.bench_camera [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps
from tests.camera.conftest import scene, write_video

from atelier.camera.faces import FaceDetector, FaceEncoder
from atelier.camera.hands import HandDetector
from atelier.camera.pipeline import MOTION_LEVEL, Pipeline
from atelier.camera.vault import Vault
from benchmarks.common import Row, free_port, summary_ms, write_results

SHARE = Path(sys.prefix) / "share"


async def _nobody(template: np.ndarray) -> str | None:
    return None


def _pipeline_fps(
    frames: list[np.ndarray], seconds: float, motion_level: float
) -> tuple[float, dict[str, int]]:
    """Frames per second through `Pipeline.process`, recognition running off-thread on an
    event loop of its own (the vault's answer is left out: it is a local HTTP call)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    pipeline = Pipeline(
        FaceDetector(),
        FaceEncoder(),
        _nobody,
        fps=15,
        ring_s=10,
        hands=HandDetector(),
        motion_level=motion_level,
    )
    asyncio.run_coroutine_threadsafe(_bind(pipeline, loop), loop).result()
    pipeline.present = {"someone"}  # recognition runs only while someone is checked in
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        pipeline.process(frames[done % len(frames)])
        done += 1
    elapsed = time.perf_counter() - started
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    return done / elapsed, {k: int(v) for k, v in pipeline.stats.items()}


async def _bind(pipeline: Pipeline, loop: asyncio.AbstractEventLoop) -> None:
    pipeline.bind(loop)


def bench_pipeline(seconds: float) -> list[Row]:
    moving = [scene(step) for step in range(45)]
    still = [scene(0)]
    gated_fps, gated = _pipeline_fps(still, seconds, MOTION_LEVEL)
    ungated_fps, ungated = _pipeline_fps(moving, seconds, -1.0)
    return [
        Row(
            "full pipeline, motion gate working (still scene)",
            gated_fps,
            "frames/s",
            ">= 15",
            f"640x360, 2 faces; {gated['detections']} of {gated['frames']} frames detected",
        ),
        Row(
            "full pipeline, no motion gate (every frame detected)",
            ungated_fps,
            "frames/s",
            "report",
            f"{ungated['detections']} of {ungated['frames']} frames detected",
        ),
    ]


def bench_models(runs: int) -> list[Row]:
    import dlib

    frame = scene(3)
    detector, encoder, hands = FaceDetector(), FaceEncoder(), HandDetector()
    faces = detector.detect(frame)
    hog = dlib.get_frontal_face_detector()

    def timed(call: object) -> dict[str, float]:
        call()  # type: ignore[operator]
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            call()  # type: ignore[operator]
            samples.append(time.perf_counter() - started)
        return summary_ms(samples)

    blaze = timed(lambda: detector.detect(frame))
    dlib_hog = timed(lambda: hog(frame, 0))
    found_by_hog = len(hog(frame, 0))
    encode = timed(lambda: encoder.encode(frame, faces[0].box))
    hand_photo = np.asarray(Image.open(SHARE / "hand-images" / "nocurl.jpg").convert("RGB"))
    hand = timed(lambda: hands.detect(hand_photo))
    return [
        Row(
            "face detection (BlazeFace full range)",
            blaze["p50"],
            "ms p50",
            "",
            f"640x360, {len(faces)} faces found",
        ),
        Row(
            "face detection, dlib HOG (face_recognition's default)",
            dlib_hog["p50"],
            "ms p50",
            "",
            f"same frame, {found_by_hog} faces found",
        ),
        Row(
            "BlazeFace speed-up over dlib HOG",
            dlib_hog["p50"] / blaze["p50"],
            "x",
            "",
            "",
        ),
        Row(
            "face recognition (dlib 5-point + ResNet 128-d)",
            encode["p50"],
            "ms p50",
            "",
            "per face",
        ),
        Row("hands + gesture (palm + landmarks, lite)", hand["p50"], "ms p50", "", "one hand"),
    ]


def _variants(image: Image.Image) -> list[Image.Image]:
    return [
        image,
        ImageEnhance.Brightness(image).enhance(1.4),
        ImageEnhance.Brightness(image).enhance(0.6),
        image.resize((image.width * 2 // 3, image.height * 2 // 3)),
        image.filter(ImageFilter.GaussianBlur(1.2)),
        ImageOps.mirror(image),
        image.rotate(8, resample=Image.Resampling.BILINEAR, expand=True),
    ]


def _people() -> dict[str, list[Image.Image]]:
    faces = SHARE / "face-images"
    people = {
        "obama": [
            Image.open(faces / f"{n}.jpg").convert("RGB")
            for n in ("obama", "obama2", "obama3", "obama_partial_face", "obama_partial_face2")
        ],
        "biden": [Image.open(faces / "biden.jpg").convert("RGB")],
        "fingerpose": [],
    }
    with Image.open(SHARE / "hand-images" / "fingers-lq.gif") as gif:
        for index in range(0, gif.n_frames, 6):
            gif.seek(index)
            people["fingerpose"].append(gif.convert("RGB").resize((640, 480)))
    return people


def _templates(
    detector: FaceDetector, encoder: FaceEncoder, image: Image.Image
) -> np.ndarray | None:
    frame = np.asarray(image)
    found = detector.detect(frame)
    if not found:
        return None
    largest = max(found, key=lambda f: f.size)
    return encoder.encode(frame, largest.box)


def bench_accuracy(distance: float, margin: float) -> list[Row]:
    detector, encoder = FaceDetector(), FaceEncoder()
    encoded: dict[str, list[np.ndarray]] = {}
    missed = 0
    for person, images in _people().items():
        encoded[person] = []
        for image in images:
            for variant in _variants(image):
                template = _templates(detector, encoder, variant)
                if template is None:
                    missed += 1
                else:
                    encoded[person].append(template)
    genuine = accepted = impostors = false_accepts = 0
    for left_out in [None, *encoded]:
        with tempfile.TemporaryDirectory() as home:
            vault = Vault(Path(home), os.urandom(32))
            for person, templates in encoded.items():
                if person != left_out:
                    vault.enrol(person, person, templates[0], ttl_s=3600, actor="bench")
            for person, templates in encoded.items():
                for probe in templates[1:]:
                    found = vault.identify(probe, max_distance=distance, margin=margin, actor="b")
                    if person == left_out:
                        impostors += 1
                        false_accepts += found.wallet is not None
                    elif left_out is None:
                        genuine += 1
                        accepted += found.wallet == person
    counts = ", ".join(f"{p}: {len(t)}" for p, t in encoded.items())
    return [
        Row(
            "true accept rate",
            100 * accepted / max(1, genuine),
            "%",
            "report",
            f"{genuine} genuine probes ({counts} templates; {missed} variants without a face)",
        ),
        Row(
            "false accept rate",
            100 * false_accepts / max(1, impostors),
            "%",
            "report",
            f"{impostors} impostor probes; distance <= {distance}, margin {margin}",
        ),
    ]


async def _viewers(url: str, count: int, seconds: float) -> int:
    received = 0

    async def watch(client: httpx.AsyncClient) -> None:
        nonlocal received
        async with client.stream("GET", f"{url}/stream") as response:
            async for chunk in response.aiter_bytes():
                received += chunk.count(b"--atelier-frame")

    async with httpx.AsyncClient(timeout=seconds + 30) as client:
        tasks = [asyncio.create_task(watch(client)) for _ in range(count)]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return received


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_fanout(seconds: float) -> list[Row]:
    import subprocess

    home = Path(tempfile.mkdtemp())
    video = write_video(home / "faces.mp4")
    port = free_port()
    env = {
        **os.environ,
        "ATELIER_HOME": str(home),
        "ATELIER_LOG_LEVEL": "warning",
        "ATELIER_CAMERA_SOURCE": str(video),
        "ATELIER_CAMERA_PORT": str(port),
        "ATELIER_VAULT_PORT": str(free_port()),
        "ATELIER_CAMERA_SOLANA_PORT": str(free_port()),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "atelier", "serve", "camera"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/status").json()["source"]["state"] == "live":
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the camera did not start"
            time.sleep(0.3)
        rows = []
        for count in (1, 50):
            before = _cpu_s(server.pid)
            frames = asyncio.run(_viewers(url, count, seconds))
            cpu = (_cpu_s(server.pid) - before) / seconds
            rows.append(
                Row(
                    f"camera process CPU, {count} MJPEG viewer(s)",
                    100 * cpu,
                    "% of a core",
                    "flat",
                    f"{frames / seconds / count:.1f} frames/s per viewer",
                )
            )
        return rows
    finally:
        server.terminate()
        server.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 4.0 if args.quick else 15.0
    rows = bench_pipeline(seconds)
    rows += bench_models(10 if args.quick else 50)
    rows += bench_fanout(5.0 if args.quick else 15.0)
    rows += bench_accuracy(0.5, 0.08)
    path = write_results("camera", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
