"""Aggregating validators' scores (pure, numpy): raw means, a Bayesian average, a mean
calibrated for each validator's leniency, and agreement (Krippendorff's alpha, ordinal).

- Raw mean: per criterion, and overall (each validation's overall is its criteria's mean).
- Bayesian average: (PRIOR_WEIGHT x the mean of all validations + the script's sum) /
  (PRIOR_WEIGHT + its count): a script with two enthusiastic reviews does not outrank one
  with twenty good ones.
- Calibrated mean: scores are modelled as script quality + validator bias + noise; quality
  and bias are estimated together by alternating means (a validator's bias shrunk towards 0
  by BIAS_SHRINK pseudo-reviews, so one review says little about its author), and a script's
  calibrated mean is its validations less their validators' biases.
- Agreement: Krippendorff's alpha with the ordinal metric over the script's criteria
  (units) and validators (coders); below TRUST_ALPHA (Krippendorff's 0.667 for tentative
  conclusions) the scores are said to be too discordant to trust.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

RUBRIC = ("story", "characters", "dialogue", "structure", "originality", "feasibility")
PRIOR_WEIGHT = 5.0
BIAS_SHRINK = 3.0
TRUST_ALPHA = 0.667
ITERATIONS = 25

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class Ratings:
    """Every validation: its script's and validator's index, and its scores (one row per
    validation, one column per RUBRIC criterion)."""

    scripts: NDArray[np.int64]
    validators: NDArray[np.int64]
    scores: NDArray[np.float64]
    script_count: int
    validator_count: int


@dataclass(frozen=True)
class Aggregate:
    counts: NDArray[np.int64]  # validations per script
    raw: Floats  # scripts x criteria
    bayesian: Floats  # scripts x criteria
    calibrated: Floats  # scripts x criteria
    bias: Floats  # per validator, in points of the overall score

    def overall(self, table: Floats) -> Floats:
        overall: Floats = table.mean(axis=1)
        return overall


def aggregate(ratings: Ratings) -> Aggregate:
    s, v, x = ratings.scripts, ratings.validators, ratings.scores
    n_scripts = ratings.script_count
    counts = np.bincount(s, minlength=n_scripts)
    safe = np.maximum(counts, 1)[:, None]
    sums = np.stack(
        [np.bincount(s, weights=x[:, c], minlength=n_scripts) for c in range(x.shape[1])], axis=1
    )
    raw = np.where(counts[:, None] > 0, sums / safe, np.nan)
    prior = x.mean(axis=0) if len(x) else np.zeros(x.shape[1])
    bayesian = (PRIOR_WEIGHT * prior[None, :] + sums) / (PRIOR_WEIGHT + counts[:, None])
    overall = x.mean(axis=1)
    per_validator = np.bincount(v, minlength=ratings.validator_count)
    bias: Floats = np.zeros(ratings.validator_count)
    quality: Floats = np.zeros(n_scripts)
    for _ in range(ITERATIONS):
        quality = np.bincount(s, weights=overall - bias[v], minlength=n_scripts) / safe[:, 0]
        spread = np.bincount(v, weights=overall - quality[s], minlength=ratings.validator_count)
        bias = spread / (per_validator + BIAS_SHRINK)
    adjusted = x - bias[v][:, None]
    calibrated_sums = np.stack(
        [np.bincount(s, weights=adjusted[:, c], minlength=n_scripts) for c in range(x.shape[1])],
        axis=1,
    )
    calibrated = np.where(counts[:, None] > 0, calibrated_sums / safe, np.nan)
    return Aggregate(counts, raw, bayesian, calibrated, bias)


def alpha_ordinal(data: list[list[float | None]]) -> float | None:
    """Krippendorff's alpha, ordinal metric, of reliability data given as one row per
    coder and one column per unit (None: that coder did not rate that unit). None when
    fewer than two values are pairable."""
    matrix = np.array([[np.nan if v is None else v for v in row] for row in data], dtype=float)
    if matrix.size == 0:
        return None
    present = matrix[~np.isnan(matrix)]
    values = np.unique(present)
    if len(values) == 0:
        return None
    index = {value: i for i, value in enumerate(values)}
    coincidence = np.zeros((len(values), len(values)))
    for unit in matrix.T:
        rated = unit[~np.isnan(unit)]
        if len(rated) < 2:
            continue
        tally = np.bincount([index[r] for r in rated], minlength=len(values)).astype(float)
        coincidence += (np.outer(tally, tally) - np.diag(tally)) / (len(rated) - 1)
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    if total <= 1:
        return None
    cumulative = np.concatenate([[0.0], np.cumsum(marginals)])
    low, high = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
    first, last = np.minimum(low, high), np.maximum(low, high)
    between = cumulative[last + 1] - cumulative[first]
    distance = (between - (marginals[first] + marginals[last]) / 2) ** 2
    observed = (coincidence * distance).sum()
    expected = (np.outer(marginals, marginals) * distance).sum() / (total - 1)
    if expected == 0:
        return 1.0 if observed == 0 else None
    return float(1 - observed / expected)
