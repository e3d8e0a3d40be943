"""Fountain parsing, side by side with screenplain and jouvence in one run; the join of a
film's clips by stream copy against re-encoding the same clips with libx264; and the
aggregation of validators' scores.

The script is tests/films/samples.feature(): a generated feature-length screenplay (~142 KB,
150 scenes, ~880 speeches, every element type; no copyrighted script is shipped), without
its multi-line boneyard, which jouvence 0.4.2 never finishes parsing. Each parser turns the
text into its own structure; the counts of scene headings and speeches are compared, and
the time per parse reported with the ratio to the faster peer.

The film is 20 shots of 6 s (2 minutes) at 768x432: moving clips made by the grid's own
video backend (what `video: true` films get from workers), espeak-ng lines and a tone per
scene, each clip encoded once by films.assembly (timed apart: it is the shot's own encode).
Timed: `assembly.concat` (the concat demuxer, stream copy) against FFmpeg's concat demuxer
into libx264 and AAC, as a pipeline that re-encodes when joining would: at libx264's
default preset (the target's ratio) and at veryfast (the clips' own preset, for
reference). The joined film's picture length is compared with the sum of the clips.

    python -m benchmarks.bench_films [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tests.films.samples import feature

from atelier.films import assembly, fountain, scoring
from benchmarks.common import Row, summary_ms, write_results


def _timed(parse: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    result = parse()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        result = parse()
        samples.append(time.perf_counter() - started)
    return samples, result


def bench(runs: int) -> list[Row]:
    from jouvence.document import TYPE_CHARACTER
    from jouvence.parser import JouvenceParser
    from screenplain.parsers import fountain as screenplain
    from screenplain.types import Dialog, DualDialog, Slug

    source = feature(boneyard=False)
    ours, play = _timed(lambda: fountain.parse(source), runs)
    theirs, paragraphs = _timed(lambda: screenplain.parse(io.StringIO(source)).paragraphs, runs)
    jouv, scenes = _timed(lambda: JouvenceParser().parseString(source).scenes, runs)
    counts = {
        "atelier": (play.count("scene_heading"), play.count("dialogue")),
        "screenplain": (
            sum(isinstance(p, Slug) for p in paragraphs),
            sum(isinstance(p, Dialog) for p in paragraphs)
            + 2 * sum(isinstance(p, DualDialog) for p in paragraphs),
        ),
        "jouvence": (
            sum(1 for s in scenes if s.header),
            sum(p.type == TYPE_CHARACTER for s in scenes for p in s.paragraphs),
        ),
    }
    ms = {
        name: summary_ms(s)["p50"]
        for name, s in (("atelier", ours), ("screenplain", theirs), ("jouvence", jouv))
    }
    faster = min(ms["screenplain"], ms["jouvence"])
    size = f"{len(source.encode()) / 1024:.0f} KiB"
    note = "; ".join(f"{name}: {h} headings, {d} speeches" for name, (h, d) in counts.items())
    return [
        Row("Atelier's Fountain parser", ms["atelier"], "ms p50", "", f"{size}, {runs} runs"),
        Row("screenplain 0.12 (same script)", ms["screenplain"], "ms p50", "", size),
        Row("jouvence 0.4.2 (same script)", ms["jouvence"], "ms p50", "", size),
        Row("speed-up over the faster peer", faster / ms["atelier"], "x", ">= 3x", note),
    ]


def bench_aggregation(scripts: int, per_script: int, runs: int) -> list[Row]:
    """Scores of every script at once: raw means, Bayesian averages, calibration."""
    rng = np.random.default_rng(1)
    validators = max(50, scripts * per_script // 200)
    ratings = scoring.Ratings(
        np.repeat(np.arange(scripts), per_script),
        rng.integers(0, validators, scripts * per_script),
        rng.integers(1, 11, (scripts * per_script, len(scoring.RUBRIC))).astype(float),
        scripts,
        validators,
    )
    samples, _ = _timed(lambda: scoring.aggregate(ratings), runs)
    note = f"{scripts:,} scripts x {per_script} validations, {validators:,} validators, 6 criteria"
    return [
        Row(
            "aggregate every script's scores", summary_ms(samples)["p50"] / 1000, "s", "< 1 s", note
        )
    ]


def _film_inputs(root: Path, shots: int) -> list[assembly.Segment]:
    from atelier.generators.video import FfmpegVideoBackend

    backend = FfmpegVideoBackend()
    segments = []
    for n in range(shots):
        shot_dir = root / f"shot{n}"
        shot_dir.mkdir()
        params = {"prompt": f"shot {n}", "seed": n, "width": 768, "height": 432}
        params |= {"duration_s": 6.0, "format": "mp4"}
        picture = backend.generate("video", params, shot_dir, lambda _: None).path
        line = root / f"line{n}.wav"
        said = f"This is line number {n} of the film, spoken over its shot."
        subprocess.run(["espeak-ng", "-w", str(line), said], check=True)
        with wave.open(str(line)) as audio:
            seconds = audio.getnframes() / audio.getframerate()
        scene = n // 4
        music = root / f"music{scene}.wav"
        if not music.exists():
            tone = f"sine=f={220 + 40 * scene}:d=30"
            _ffmpeg("-f", "lavfi", "-i", tone, "-ar", "44100", str(music))
        spoken = (assembly.Line(line, seconds, said, "NARRATOR"),)
        segments.append(assembly.Segment(scene, picture, False, spoken, 6.0, music))
    return segments


def _ffmpeg(*arguments: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error", *arguments], check=True)


def bench_assembly(shots: int, runs: int) -> list[Row]:
    fmt = assembly.Format()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        segments = assembly.with_music_offsets(_film_inputs(root, shots), fmt)
        clips = assembly.clips_of(segments, 0.0)
        paths = []
        started = time.perf_counter()
        for n, clip in enumerate(clips):
            path = root / f"clip{n}.mp4"
            assembly.render_clip(clip, fmt, path, root)
            paths.append(path)
        normalise_s = time.perf_counter() - started
        copied = root / "film.mp4"
        copy_samples, _ = _timed(lambda: assembly.concat(paths, copied, root), runs)
        listing = root / "clips.txt"

        def reencode(*preset: str) -> list[float]:
            arguments = ["-f", "concat", "-safe", "0", "-i", str(listing), "-c:v", "libx264"]
            arguments += [*preset, "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k"]
            return _timed(lambda: _ffmpeg(*arguments, str(root / "encoded.mp4")), 1)[0]

        encode_samples = reencode()
        fast_samples = reencode("-preset", "veryfast")
        expected = sum(clip.frames(fmt) for clip in clips) / fmt.fps
        length = assembly.probe_clip(copied).duration_s
        video = _video_seconds(copied)
    copy_s = summary_ms(copy_samples)["p50"] / 1000
    encode_s = summary_ms(encode_samples)["p50"] / 1000
    fast_s = summary_ms(fast_samples)["p50"] / 1000
    film = f"{shots} moving shots, {expected:.1f} s at {fmt.width}x{fmt.height}"
    off_frames = abs(video - expected) * fmt.fps
    return [
        Row("encode each clip once (not in the ratio)", normalise_s, "s", "", film),
        Row("join by stream copy", copy_s, "s", "", film),
        Row("re-encode the same clips (libx264, default preset)", encode_s, "s", "", film),
        Row("stream copy speed-up", encode_s / copy_s, "x", ">= 100x", "against the default"),
        Row("re-encode the same clips (libx264 veryfast)", fast_s, "s", "", film),
        Row("stream copy speed-up over veryfast", fast_s / copy_s, "x", "", "for reference"),
        Row(
            "joined picture length - sum of the clips",
            off_frames,
            "frames",
            "<= 1 frame",
            f"picture {video:.3f} s, container {length:.3f} s, clips {expected:.3f} s",
        ),
    ]


def _video_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.duration * stream.time_base) if stream.duration else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = bench(5 if args.quick else 30)
    rows += bench_assembly(20, 5 if args.quick else 10)
    rows += bench_aggregation(10_000, 20, 3 if args.quick else 10)
    path = write_results("films", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
