"""Metrics, backtest and calibration on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast import LastValueForecaster, backtest, coverage, mae, pinball_loss
from aquatope.forecast.calibration import calibrate_scale, normal_coverage
from aquatope.forecast.metrics import local_rate, poisson_mae


def test_mae_coverage_and_pinball_by_hand() -> None:
    assert float(mae(np.array([1.0, 2.0]), np.array([2.0, 2.0]))) == 0.5
    np.testing.assert_allclose(mae(np.array([[1.0, 3.0], [0.0, 0.0]]), np.zeros((2, 2)), axis=1), [2.0, 0.0])
    actual = np.array([1.0, 5.0, 3.0, 10.0])
    assert float(coverage(actual, np.full(4, 1.0), np.full(4, 5.0))) == 0.75  # bounds are inclusive
    point = np.expm1(np.log1p(140.0))  # 140.00000000000003: a zero-width interval at a constant count
    assert point != 140.0 and float(coverage(np.array([140.0]), np.array([point]), np.array([point]))) == 1.0
    assert float(coverage(np.array([140.0]), np.array([140.001]), np.array([141.0]))) == 0.0
    assert float(pinball_loss(np.array([10.0]), np.array([8.0]), 0.9)) == pytest.approx(1.8)
    assert float(pinball_loss(np.array([10.0]), np.array([12.0]), 0.9)) == pytest.approx(0.2)
    with pytest.raises(InputError, match="q"):
        pinball_loss(actual, actual, 1.0)


def test_backtest_rolls_one_predict_per_step() -> None:
    counts = np.array([[0.0, 1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0, 5.0]])
    result = backtest(LastValueForecaster(), counts, train_end=2)
    np.testing.assert_array_equal(result.targets, [2, 3, 4])
    np.testing.assert_array_equal(result.mean, [[1, 2, 3], [5, 5, 5]])
    np.testing.assert_allclose(result.mae(axis=1), [1.0, 0.0])
    two = backtest(LastValueForecaster(), counts, train_end=2, horizon=2)
    np.testing.assert_array_equal(two.targets, [3, 4])
    np.testing.assert_array_equal(two.mean[0], [1, 2])
    assert set(result.quantiles) >= {(1 - 0.9) / 2, 1 - (1 - 0.9) / 2, 0.5}
    assert 0.0 <= float(result.coverage(0.9)) <= 1.0
    with pytest.raises(InputError, match="train_end"):
        backtest(LastValueForecaster(), counts, train_end=5)


@pytest.mark.parametrize("true_std", [3.0, 0.3])
def test_calibration_moves_coverage_toward_target(true_std: float) -> None:
    rng = np.random.default_rng(0)
    actual = 100.0 + true_std * rng.standard_normal(4000)
    mean, std = np.full(4000, 100.0), np.ones(4000)
    before = normal_coverage(actual, mean, std, 0.9)
    scale = calibrate_scale(actual, mean, std, level=0.9, tolerance=0.03)
    after = normal_coverage(actual, mean, scale * std, 0.9)
    assert abs(after - 0.9) < abs(before - 0.9)
    assert abs(after - 0.9) <= 0.03
    assert calibrate_scale(actual, mean, true_std * std) == 1.0  # already calibrated: untouched


def test_rate_classes_and_grouped_figures() -> None:
    from aquatope.forecast import grouped_figures, rate_classes

    counts = np.array([[0.5] * 4, [1.0] * 4, [100.0] * 4, [100.5] * 4, [0.0] * 4])
    assert rate_classes(counts).tolist() == [0, 1, 1, 2, 0]  # < 1 sporadic, 1..100 mid, > 100 high
    out = grouped_figures(["b", "a", "b"], {"x": np.array([1.0, 2.0, np.nan])}, order=("a",))
    assert out == {"a": {"functions": 1, "x": 2.0}, "b": {"functions": 2, "x": 1.0}}  # NaN left out of a mean


def test_pit_coverage_by_hand() -> None:
    from aquatope.forecast.metrics import pit_coverage

    # PIT uniform on [0, 0.97] (a zero count under a forecast with P(0) = 0.97): 0.9 / 0.97 of it is inside
    assert float(pit_coverage(np.array([0.0]), np.array([0.0]), np.array([0.97]))[0]) == pytest.approx(0.9 / 0.97)
    # entirely in the upper tail, entirely inside, and a point PIT (no width) inside
    got = pit_coverage(np.zeros(3), np.array([0.96, 0.2, 0.5]), np.array([0.99, 0.3, 0.5]))
    np.testing.assert_allclose(got, [0.0, 1.0, 1.0])


def test_pit_coverage_of_a_calibrated_count_forecast_is_the_level() -> None:
    from scipy.stats import poisson

    from aquatope.forecast.base import Forecast
    from aquatope.forecast.metrics import forecast_pit_coverage

    rng = np.random.default_rng(0)
    lam = rng.uniform(0.02, 0.5, size=(4000, 1))  # mostly zeros: plain coverage cannot be 90%
    y = rng.poisson(lam).astype(float)
    levels = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999)
    quantiles = {q: poisson.ppf(q, lam) - lam for q in levels}
    exact = Forecast(lam, np.sqrt(lam), residual_quantiles=quantiles)
    lower, upper = exact.interval(0.9)
    plain = float(np.mean((y >= lower) & (y <= upper)))
    assert plain > 0.95  # every interval from 0 covers the zeros
    cdf = lambda x: poisson.cdf(np.floor(x), lam)  # noqa: E731
    pit = forecast_pit_coverage(_with_cdf(exact, cdf), y)
    assert float(pit.mean()) == pytest.approx(0.9, abs=0.02)


def _with_cdf(forecast: object, cdf: object) -> object:
    """The forecast with its CDF replaced by the exact Poisson CDF (the quantile grid is too coarse for it)."""

    class Exact:
        def cdf(self, x: np.ndarray) -> np.ndarray:
            return np.where(x < 0, 0.0, cdf(x))  # type: ignore[operator]

    return Exact()


def test_poisson_mae_is_the_least_absolute_error_of_a_forecast_that_knows_the_rate() -> None:
    rng = np.random.default_rng(0)
    rates = np.array([[0.0, 0.3, 3.0], [40.0, 800.0, 2.5]])
    floor = poisson_mae(rates)
    assert floor.shape == rates.shape and floor[0, 0] == 0.0
    for lam, expected in zip(rates.ravel()[1:], floor.ravel()[1:], strict=True):
        draws = rng.poisson(lam, 200_000)
        best = min(np.abs(draws - c).mean() for c in np.arange(max(0, int(lam) - 3), int(lam) + 4))
        assert expected == pytest.approx(best, rel=0.02)  # no constant forecast does better on the draws
    assert floor[1, 1] == pytest.approx(np.sqrt(2 * 800 / np.pi), rel=0.01)  # the normal limit


def test_local_rate_averages_the_neighbours_on_both_sides_without_the_minute_itself() -> None:
    counts = np.array([[0.0, 1.0, 100.0, 3.0, 4.0, 5.0]])
    rate = local_rate(counts, start=2, half=1)
    assert rate.tolist() == [[2.0, 52.0, 4.0, 4.0]]  # minute 2: (1 + 3) / 2; the last minute has one neighbour
