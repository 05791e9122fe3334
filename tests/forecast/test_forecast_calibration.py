"""Row-wise calibration: one bisection per function at once, the same answer as one function at a time."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.forecast.calibration import (
    FACTOR_BOUNDS,
    bisect_factor,
    bisect_rows,
    calibrate_scale,
    own_factors,
    working_pit_coverage,
)
from aquatope.forecast.features import to_working


def test_bisect_rows_solves_each_row_and_stops_at_the_bounds() -> None:
    """cover_i(s) = min(1, s / t_i): the smallest s reaching 0.9 is 0.9 t_i, or a bound outside them."""
    t = np.array([1.0, 0.01, 100.0, 2.5])
    got = bisect_rows(lambda s: np.minimum(1.0, s / t), len(t), 0.9)
    assert got[1] == FACTOR_BOUNDS[0] and got[2] == FACTOR_BOUNDS[1]
    np.testing.assert_allclose(got[[0, 3]], 0.9 * t[[0, 3]], rtol=1e-9)
    assert got[0] == bisect_factor(lambda s: min(1.0, s / t[0]), 0.9)


@pytest.mark.parametrize("calibration", ["pit", "plain"])
def test_own_factors_equal_one_function_at_a_time(calibration: str) -> None:
    """Each row's factor is the one its own calibration finds alone (as bayes-lstm did function by function)."""
    rng = np.random.default_rng(0)
    actual = rng.poisson([[3.0], [40.0], [0.2]], (3, 60)).astype(float)
    scale = np.ones(3)
    center = to_working(np.full_like(actual, 1.0) * actual.mean(axis=1, keepdims=True), scale, "log")
    std = np.full_like(actual, 0.2)
    got = own_factors(actual, center, std, scale, "log", calibration)
    for f in range(3):
        a, c, sd = actual[f : f + 1], center[f : f + 1], std[f : f + 1]
        if calibration == "pit":
            alone = bisect_factor(
                lambda s, a=a, c=c, sd=sd: float(np.mean(working_pit_coverage(a, c, s * sd, scale[:1], "log")))
            )
        else:
            alone = calibrate_scale(to_working(a, scale[:1], "log"), c, sd, 0.9, 0.0)
        assert got[f] == alone
