"""Baselines on hand-made series with exact expected values."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast import EwmaForecaster, LastValueForecaster, MovingAverageForecaster, SeasonalNaiveForecaster


def test_last_value_mean_and_residual_std() -> None:
    history = np.array([[1, 2, 3], [0, 0, 5]])
    forecast = LastValueForecaster().fit(history).predict(history, horizon=2)
    np.testing.assert_array_equal(forecast.mean, [[3, 3], [5, 5]])
    np.testing.assert_allclose(forecast.std[:, 0], [1.0, np.sqrt(12.5)])


def test_moving_average_uses_the_last_window() -> None:
    history = np.array([[1.0, 2.0, 3.0, 4.0]])
    model = MovingAverageForecaster(window=2).fit(history)
    assert model.predict(history).mean[0, 0] == 3.5
    assert model.predict(history[:, :1]).mean[0, 0] == 1.0  # shorter history: mean of what there is
    # in-sample one-step forecasts of intervals 1..3 are 1, 1.5, 2.5: residuals 1, 1.5, 1.5
    np.testing.assert_allclose(model.residual_std_, [np.sqrt((1 + 2.25 + 2.25) / 3)])


def test_seasonal_naive_takes_the_previous_period_else_moving_average() -> None:
    history = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    model = SeasonalNaiveForecaster(period=3, window=2).fit(history)
    assert model.predict(history).mean[0, 0] == 3.0
    assert model.predict(history[:, :2]).mean[0, 0] == 1.5
    np.testing.assert_array_equal(model.in_sample(history, 0)[0, 3:], [1.0, 2.0])


def test_ewma_level_and_in_sample_agree() -> None:
    history = np.array([[2.0, 4.0, 0.0, 8.0]])
    model = EwmaForecaster(alpha=0.5).fit(history)
    assert model.predict(history[:, :2]).mean[0, 0] == 3.0
    assert model.predict(history).mean[0, 0] == 4.75  # levels 2, 3, 1.5, 4.75
    in_sample = model.in_sample(history, 0)
    for t in range(1, 4):
        assert model.point(history[:, :t], 0)[0] == in_sample[0, t]


def test_ewma_intervals_use_residual_quantiles() -> None:
    rng = np.random.default_rng(1)
    history = rng.poisson(20, size=(2, 400))
    forecast = EwmaForecaster(alpha=0.2).fit(history).predict(history)
    lo, hi = forecast.interval(0.9)
    residual_lo = forecast.residual_quantiles[(1 - 0.9) / 2]
    np.testing.assert_allclose(lo, np.maximum(0, forecast.mean + residual_lo))
    assert np.all(hi > forecast.mean) and np.all(lo < forecast.mean)


def test_bad_parameters_and_unfitted_predict_are_input_errors() -> None:
    with pytest.raises(InputError, match="window"):
        MovingAverageForecaster(window=0)
    with pytest.raises(InputError, match="alpha"):
        EwmaForecaster(alpha=0.0)
    with pytest.raises(InputError, match="fit"):
        LastValueForecaster().predict(np.ones((1, 3)))
    with pytest.raises(InputError, match="history"):
        LastValueForecaster().fit(np.array([[1.0, -1.0]]))
    with pytest.raises(InputError, match="horizon"):
        LastValueForecaster().fit(np.ones((1, 3))).predict(np.ones((1, 3)), horizon=0)
