"""What a benchmarked candidate becomes: the seed's update decision, as a pure function.

1. It failed its benchmarks (crashed, produced nothing comparable, or missed an absolute
   threshold) → **reject**, and alert.
2. Its quality regressed against the champion's on the same suite → **A/B test** (a live test
   may still show it is better where it matters: speed, failures, votes).
3. It improved quality by more than `activate_gain` (10 %) → **activate**.
4. Anything between (a marginal gain, or no champion score to compare with) → **A/B test**.

Quality is one number per run: the mean SSIM against the suite's references when the suite has
references, else the share of cases that succeeded. With no champion at all the candidate
passing its thresholds is simply activated (there is nothing to test it against).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    REJECT = "reject"
    AB_TEST = "ab_test"
    ACTIVATE = "activate"


@dataclass(frozen=True)
class Thresholds:
    """Absolute bars a candidate must clear (None: not measured for this capability)."""

    min_psnr_db: float | None = None
    min_ssim: float | None = None
    max_lpips: float | None = None
    max_fid: float | None = None
    min_mesh_quality: float | None = None
    min_texture_px: int | None = None


@dataclass(frozen=True)
class Scores:
    """A benchmark run's results: None where a metric was not measured."""

    cases: int
    failures: int
    quality: float | None
    psnr_db: float | None = None
    ssim: float | None = None
    lpips: float | None = None
    fid: float | None = None
    mesh_quality: float | None = None
    texture_px: int | None = None
    seconds_per_job: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: list[str] = field(default_factory=list)
    gain: float | None = None  # relative quality change against the champion


def _missed(scores: Scores, bars: Thresholds) -> list[str]:
    """Each threshold the scores miss, as a sentence; unmeasured metrics are not judged."""
    checks: list[tuple[str, float | None, float | None, str]] = [
        ("PSNR", scores.psnr_db, bars.min_psnr_db, ">"),
        ("SSIM", scores.ssim, bars.min_ssim, ">"),
        ("LPIPS", scores.lpips, bars.max_lpips, "<"),
        ("FID", scores.fid, bars.max_fid, "<"),
        ("mesh quality", scores.mesh_quality, bars.min_mesh_quality, ">"),
        ("texture side (px)", scores.texture_px, bars.min_texture_px, "≥"),
    ]
    passes = {
        ">": lambda value, bar: value > bar,
        "<": lambda value, bar: value < bar,
        "≥": lambda value, bar: value >= bar,
    }
    return [
        f"{name} {value:.4g} is not {relation} {bar:g}"
        for name, value, bar, relation in checks
        if value is not None and bar is not None and not passes[relation](value, bar)
    ]


def decide(
    candidate: Scores,
    champion: Scores | None,
    bars: Thresholds,
    *,
    activate_gain: float = 0.10,
) -> Decision:
    if candidate.error is not None:
        return Decision(Action.REJECT, [f"the benchmark failed: {candidate.error}"])
    if candidate.cases == 0 or candidate.failures == candidate.cases:
        return Decision(Action.REJECT, ["no benchmark case produced an output"])
    if candidate.failures:
        return Decision(
            Action.REJECT, [f"{candidate.failures} of {candidate.cases} benchmark cases failed"]
        )
    missed = _missed(candidate, bars)
    if missed:
        return Decision(Action.REJECT, missed)
    if champion is None:
        return Decision(Action.ACTIVATE, ["no champion to compare with; every threshold met"])
    if candidate.quality is None or champion.quality is None or champion.quality <= 0:
        return Decision(Action.AB_TEST, ["quality is not comparable offline; a live test decides"])
    gain = (candidate.quality - champion.quality) / champion.quality
    if gain < 0:
        return Decision(
            Action.AB_TEST, [f"quality regressed {gain:+.1%}; a live test decides"], gain
        )
    if gain > activate_gain:
        return Decision(Action.ACTIVATE, [f"quality improved {gain:+.1%}"], gain)
    return Decision(Action.AB_TEST, [f"a marginal change ({gain:+.1%}); a live test decides"], gain)
