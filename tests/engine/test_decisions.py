"""The seed's update decision as a table; the A/B stopping rule's guarantees by simulation;
the traffic split's determinism and balance."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from atelier.engine.decisions import Action, Scores, Thresholds, decide
from atelier.engine.sequential import ArmStats, Verdict, look, radius
from atelier.generators import catalog
from atelier.grid.routing import CHALLENGER, CHAMPION, arm_for

IMAGE_BARS = Thresholds(min_psnr_db=30, min_ssim=0.85, max_lpips=0.15, max_fid=20)


def scores(quality: float | None = 0.9, **overrides: object) -> Scores:
    base: dict[str, object] = {"cases": 3, "failures": 0, "quality": quality}
    base |= {"psnr_db": 35.0, "ssim": quality, "lpips": 0.05, "fid": 5.0}
    return Scores(**{**base, **overrides})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("candidate", "champion", "action", "why"),
    [
        (scores(error="the backend crashed"), scores(), Action.REJECT, "benchmark failed"),
        (scores(failures=3), scores(), Action.REJECT, "no benchmark case"),
        (scores(failures=1), scores(), Action.REJECT, "1 of 3 benchmark cases failed"),
        (scores(psnr_db=29.0), scores(), Action.REJECT, "PSNR 29 is not > 30"),
        (scores(0.84), scores(0.5), Action.REJECT, "SSIM 0.84 is not > 0.85"),
        (scores(lpips=0.2), scores(), Action.REJECT, "LPIPS 0.2 is not < 0.15"),
        (scores(fid=25.0), scores(), Action.REJECT, "FID 25 is not < 20"),
        (scores(0.86), scores(0.95), Action.AB_TEST, "regressed"),
        (scores(0.99), scores(0.88), Action.ACTIVATE, "improved +12.5%"),
        (scores(0.95), scores(0.90), Action.AB_TEST, "marginal"),
        (scores(0.90), scores(0.90), Action.AB_TEST, "marginal"),
        (scores(0.95), None, Action.ACTIVATE, "no champion"),
        (scores(0.95, ssim=None, psnr_db=None), scores(None), Action.AB_TEST, "not comparable"),
    ],
)
def test_the_seeds_decision_table(
    candidate: Scores, champion: Scores | None, action: Action, why: str
) -> None:
    decision = decide(candidate, champion, IMAGE_BARS)
    assert decision.action == action
    assert why in "; ".join(decision.reasons)


def test_unmeasured_metrics_are_not_judged_and_3d_bars_apply() -> None:
    bars = Thresholds(min_mesh_quality=0.9, min_texture_px=2048)
    mesh = Scores(cases=1, failures=0, quality=1.0, mesh_quality=0.95, texture_px=2048)
    assert decide(mesh, None, bars).action == Action.ACTIVATE
    small = Scores(cases=1, failures=0, quality=1.0, mesh_quality=0.95, texture_px=1024)
    assert "texture side (px) 1024 is not ≥ 2048" in decide(small, None, bars).reasons


def simulate(p_a: float, p_b: float, runs: int, jobs: int, alpha: float, seed: int) -> list[str]:
    """Run `runs` A/B tests of Bernoulli rewards, looking after every pair of jobs."""
    rng = np.random.default_rng(seed)
    verdicts = []
    for _ in range(runs):
        a, b = ArmStats(), ArmStats()
        draws_a, draws_b = rng.random(jobs) < p_a, rng.random(jobs) < p_b
        verdict = Verdict.INCONCLUSIVE
        for x, y in zip(draws_a, draws_b, strict=True):
            a, b = a.seen(float(x), not x), b.seen(float(y), not y)
            found = look(a, b, alpha).verdict
            if found != Verdict.CONTINUE:
                verdict = found
                break
        verdicts.append(verdict)
    return verdicts


def test_peeking_at_an_aa_test_every_job_keeps_false_positives_within_alpha() -> None:
    alpha = 0.05
    verdicts = simulate(0.7, 0.7, runs=300, jobs=600, alpha=alpha, seed=1)
    false_positives = sum(v != Verdict.INCONCLUSIVE for v in verdicts) / len(verdicts)
    assert false_positives <= alpha


def test_a_real_difference_is_found_and_a_failing_challenger_stops_early() -> None:
    verdicts = simulate(0.5, 0.8, runs=40, jobs=600, alpha=0.05, seed=2)
    assert verdicts.count(Verdict.CHALLENGER) >= 36  # power: found nearly always
    champion, challenger = ArmStats(), ArmStats()
    for jobs in range(1, 200):  # noqa: B007 (its last value is asserted)
        champion = champion.seen(0.9, False)
        challenger = challenger.seen(0.0, True)
        if look(champion, challenger, 0.05).verdict == Verdict.CHAMPION:
            break
    assert jobs < 60  # stopped long before a fixed-horizon test of 600 would


def test_the_boundary_shrinks_and_expiry_is_inconclusive() -> None:
    assert radius(0, 0.05) == float("inf")
    assert radius(100, 0.025) > radius(1000, 0.025) > radius(10000, 0.025)
    same = ArmStats(10, 7.0, 3)
    assert look(same, same, 0.05).verdict == Verdict.CONTINUE
    assert look(same, same, 0.05, expired=True).verdict == Verdict.INCONCLUSIVE
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        ArmStats().seen(1.5, False)


def test_the_split_is_deterministic_balanced_and_independent_per_experiment() -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    jobs = [uuid.uuid4() for _ in range(4000)]
    arms = [arm_for(job, first, 0.5) for job in jobs]
    assert arms == [arm_for(job, first, 0.5) for job in jobs]
    assert 0.46 < arms.count(CHALLENGER) / len(arms) < 0.54
    tenth = [arm_for(job, first, 0.1) for job in jobs]
    assert 0.08 < tenth.count(CHALLENGER) / len(jobs) < 0.12
    other = [arm_for(job, second, 0.5) for job in jobs]
    agree = sum(a == b for a, b in zip(arms, other, strict=True)) / len(jobs)
    assert 0.45 < agree < 0.55  # another experiment's split is unrelated to this one's
    assert set(arms) == {CHAMPION, CHALLENGER}


def test_catalog_manifests_are_checked(tmp_path: Path) -> None:
    """A manifest must name a backend that serves its capability, weights beside it, and a
    sha256; the others are reported, never loaded."""
    cases = {
        "wrong-capability": {"capability": "music", "backend": "onnx-image"},
        "outside": {"weights": "../../../../etc/passwd"},
        "short-sha": {"sha256": "abc"},
        "bad-name": {"name": "../x"},
    }
    for label, change in cases.items():
        folder = tmp_path / "image" / label / "1"
        folder.mkdir(parents=True)
        manifest = {"name": label, "version": "1", "capability": "image", "backend": "onnx-image"}
        manifest |= {"weights": "model.onnx", "sha256": "ab" * 32, **change}
        (folder / "model.json").write_text(json.dumps(manifest))
    (tmp_path / "image" / "junk" / "1").mkdir(parents=True)
    (tmp_path / "image" / "junk" / "1" / "model.json").write_bytes(b"\0" * 10)
    entries, unreadable = catalog.scan(tmp_path)
    assert entries == []
    reasons = {u.path.parent.parent.name: u.reason for u in unreadable}
    assert "runs image models" in reasons["wrong-capability"]
    assert "beside the manifest" in reasons["outside"]
    assert "64 hex" in reasons["short-sha"]
    assert "not a name" in reasons["bad-name"]
    assert "junk" in reasons
