"""The A/B stopping rule: anytime-valid confidence sequences, so a test may be looked at after
every job without raising its false-positive rate above alpha.

Each job of an experiment scores a reward in [0, 1] (0 for a failure, its quality score for a
success). For each arm, the running sum S_t of (reward - true mean) over t jobs has increments
bounded in an interval of width 1, hence sub-Gaussian with variance proxy 1/4 (Hoeffding), so

    M_t = sqrt(rho / (V_t + rho)) * exp(S_t^2 / (2 (V_t + rho))),  V_t = t / 4,

Robbins' normal mixture, is a nonnegative supermartingale with M_0 = 1. By Ville's inequality
it exceeds 1/a at *any* time with probability at most a, so

    |mean_t - mu| < sqrt((V_t + rho) log((V_t + rho) / (rho a^2))) / t

holds for all t at once with probability 1 - a (Howard, Ramdas, McAuliffe, Sekhon 2021, the
two-sided normal-mixture boundary). Each arm gets a = alpha / 2 (a union bound), so the
difference of the arms lies in [lo_B - hi_A, hi_B - lo_A] at all times with probability
1 - alpha. A test stops as soon as that interval excludes 0; `rho` sets the sample size where
the boundary is tightest (here around 100 jobs per arm).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

VARIANCE_PROXY = 0.25  # rewards in [0, 1]
RHO = 25.0  # V_t where the boundary is tightest: ~100 jobs per arm


@dataclass(frozen=True)
class ArmStats:
    """What an arm has seen: jobs, the sum of their rewards, and how many failed."""

    jobs: int = 0
    reward_sum: float = 0.0
    failures: int = 0

    @property
    def mean(self) -> float | None:
        return self.reward_sum / self.jobs if self.jobs else None

    def seen(self, reward: float, failed: bool) -> ArmStats:
        if not 0.0 <= reward <= 1.0:
            raise ValueError(f"a reward is in [0, 1], not {reward}")
        return ArmStats(self.jobs + 1, self.reward_sum + reward, self.failures + int(failed))


def radius(jobs: int, alpha: float, rho: float = RHO) -> float:
    """Half-width of one arm's (1 - alpha) confidence sequence after `jobs` rewards."""
    if jobs <= 0:
        return math.inf
    v = jobs * VARIANCE_PROXY
    return math.sqrt((v + rho) * math.log((v + rho) / (rho * alpha * alpha))) / jobs


def interval(arm: ArmStats, alpha: float) -> tuple[float, float]:
    """The arm's mean reward's confidence sequence, clipped to [0, 1]."""
    if arm.mean is None:
        return 0.0, 1.0
    r = radius(arm.jobs, alpha)
    return max(0.0, arm.mean - r), min(1.0, arm.mean + r)


class Verdict(StrEnum):
    CONTINUE = "continue"
    CHALLENGER = "challenger"  # the challenger is better: it becomes champion
    CHAMPION = "champion"  # the champion is better: it stays
    INCONCLUSIVE = "inconclusive"  # ran out of time; the champion stays


@dataclass(frozen=True)
class Look:
    """One look at a running test: the difference's interval (challenger - champion) and
    what it means."""

    low: float
    high: float
    verdict: Verdict


def look(champion: ArmStats, challenger: ArmStats, alpha: float, *, expired: bool = False) -> Look:
    """The test's state now: valid whenever it is called, however often."""
    lo_a, hi_a = interval(champion, alpha / 2)
    lo_b, hi_b = interval(challenger, alpha / 2)
    low, high = lo_b - hi_a, hi_b - lo_a
    if low > 0:
        verdict = Verdict.CHALLENGER
    elif high < 0:
        verdict = Verdict.CHAMPION
    else:
        verdict = Verdict.INCONCLUSIVE if expired else Verdict.CONTINUE
    return Look(low, high, verdict)
