"""The aggregation, checked on its own: Krippendorff's alpha against his published example
and the `krippendorff` package, the Bayesian average's pull, and calibration recovering
validators' planted leniency."""

from __future__ import annotations

import numpy as np
import pytest

from atelier.films import scoring

KRIPPENDORFF_2011 = [  # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability"
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


def test_alpha_matches_the_published_example_and_an_independent_package() -> None:
    krippendorff = pytest.importorskip("krippendorff")
    assert scoring.alpha_ordinal(KRIPPENDORFF_2011) == pytest.approx(0.815, abs=5e-4)
    rng = np.random.default_rng(3)
    for _ in range(20):
        matrix = rng.integers(1, 11, (rng.integers(2, 7), rng.integers(2, 12))).astype(float)
        matrix[rng.random(matrix.shape) < 0.2] = np.nan
        data = [[None if np.isnan(v) else float(v) for v in row] for row in matrix]
        ours = scoring.alpha_ordinal(data)
        try:
            theirs = krippendorff.alpha(reliability_data=matrix, level_of_measurement="ordinal")
        except ValueError:  # fewer than two distinct values: undefined for them too
            continue
        if ours is not None and np.isfinite(theirs):
            assert ours == pytest.approx(theirs, abs=1e-9)


def test_alpha_edge_cases() -> None:
    assert scoring.alpha_ordinal([[5, 5, 5]]) is None  # one coder: nothing pairable
    assert scoring.alpha_ordinal([[5, 5], [5, 5]]) == 1.0  # full agreement, no variation
    assert scoring.alpha_ordinal([]) is None


def _ratings(rows: list[tuple[int, int, float]], scripts: int, validators: int) -> scoring.Ratings:
    return scoring.Ratings(
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([[r[2]] * len(scoring.RUBRIC) for r in rows], dtype=float),
        scripts,
        validators,
    )


def test_the_bayesian_average_pulls_few_reviews_towards_the_mean() -> None:
    rows = [(0, v, 10.0) for v in range(2)] + [(1, v, 8.0) for v in range(20)]
    result = scoring.aggregate(_ratings(rows, 2, 20))
    assert result.raw[0, 0] == 10.0 and result.raw[1, 0] == 8.0
    pulled = result.bayesian[0, 0] - result.bayesian[1, 0]
    assert 0 < pulled < (10.0 - 8.0) / 2  # two 10s lead far less than their raw mean says
    assert result.bayesian[1, 0] == pytest.approx(8.0, abs=0.2)  # twenty reviews barely move


def test_calibration_recovers_planted_leniency() -> None:
    rng = np.random.default_rng(5)
    quality = rng.uniform(4, 9, 200)
    leniency = rng.normal(0, 1.5, 30)
    rows = []
    for script in range(200):
        for validator in rng.choice(30, 8, replace=False):
            score = quality[script] + leniency[validator] + rng.normal(0, 0.3)
            rows.append((script, int(validator), float(score)))
    result = scoring.aggregate(_ratings(rows, 200, 30))
    # scores are quality + leniency up to a constant (the validators' mean leniency cannot
    # be told from the scripts' mean quality): compare centred
    centred_quality = quality - quality.mean()
    raw = result.raw[:, 0] - result.raw[:, 0].mean()
    calibrated = result.calibrated[:, 0] - result.calibrated[:, 0].mean()
    assert np.abs(calibrated - centred_quality).mean() < np.abs(raw - centred_quality).mean() / 3
    centred = leniency - leniency.mean()
    assert np.corrcoef(result.bias, centred)[0, 1] > 0.95
