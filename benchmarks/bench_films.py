"""Fountain parsing, side by side with screenplain and jouvence in one run; and the
aggregation of validators' scores.

The script is tests/films/samples.feature(): a generated feature-length screenplay (~142 KB,
150 scenes, ~880 speeches, every element type; no copyrighted script is shipped), without
its multi-line boneyard, which jouvence 0.4.2 never finishes parsing. Each parser turns the
text into its own structure; the counts of scene headings and speeches are compared, and
the time per parse reported with the ratio to the faster peer.

    python -m benchmarks.bench_films [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from tests.films.samples import feature

from atelier.films import fountain, scoring
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = bench(5 if args.quick else 30)
    rows += bench_aggregation(10_000, 20, 3 if args.quick else 10)
    path = write_results("films", rows, {"cores": os.cpu_count() or 0})
    print(path.read_text())


if __name__ == "__main__":
    sys.exit(main())
