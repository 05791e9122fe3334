"""One contract test over every registered forecaster: shapes, quantiles, determinism, registry errors."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast import FORECASTERS, Forecast, Forecaster, make_forecaster

SMALL = {
    "bayes-lstm": {
        "hidden": 8,
        "width": 16,
        "epochs": 2,
        "n_windows": 400,
        "mc_passes": 8,
        "window": 24,
        "min_steps": 0,
    }
}
LEVELS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975)


def _history() -> np.ndarray:
    """3 functions x 300 intervals: sporadic, mid-rate periodic, high-rate."""
    rng = np.random.default_rng(0)
    t = np.arange(300)
    rates = np.stack([np.full(300, 0.1), 5 + 4 * np.sin(2 * np.pi * t / 60), np.full(300, 200.0)])
    return rng.poisson(rates).astype(np.int64)


def _fit_predict(name: str, history: np.ndarray) -> Forecast:
    model = make_forecaster(name, **SMALL.get(name, {}))
    assert isinstance(model, Forecaster)
    assert model.name == name
    return model.fit(history[:, :250], start_interval=10).predict(history, horizon=3, start_interval=10)


@pytest.mark.parametrize("name", sorted(FORECASTERS))
def test_forecaster_contract(name: str) -> None:
    history = _history()
    forecast = _fit_predict(name, history)
    assert forecast.mean.shape == (3, 3) and forecast.std.shape == (3, 3)
    assert np.all(forecast.mean >= 0) and np.all(forecast.std >= 0)
    quantiles = np.stack([forecast.quantile(q) for q in LEVELS])
    assert quantiles.shape == (len(LEVELS), 3, 3)
    assert np.all(quantiles >= 0)
    assert np.all(np.diff(quantiles, axis=0) >= -1e-9), "quantiles must be monotone in q"
    lower, upper = forecast.interval(0.9)
    assert np.all(lower <= upper)
    again = _fit_predict(name, history)
    np.testing.assert_array_equal(forecast.mean, again.mean)
    np.testing.assert_array_equal(forecast.std, again.std)


def test_unknown_forecaster_name_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown forecaster 'prophet'"):
        make_forecaster("prophet")
    with pytest.raises(InputError, match="moving-average"):
        make_forecaster("moving-average", windw=3)
