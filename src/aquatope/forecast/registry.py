"""``make_forecaster(name, **kw)``: every forecaster by its registered name."""

from __future__ import annotations

from collections.abc import Callable

from aquatope.errors import InputError
from aquatope.forecast.base import Forecaster
from aquatope.forecast.baselines import (
    EwmaForecaster,
    LastValueForecaster,
    MovingAverageForecaster,
    SeasonalNaiveForecaster,
)
from aquatope.forecast.bayes import BayesLSTMForecaster

FORECASTERS: dict[str, Callable[..., Forecaster]] = {
    "last-value": LastValueForecaster,
    "moving-average": MovingAverageForecaster,
    "seasonal-naive": SeasonalNaiveForecaster,
    "ewma": EwmaForecaster,
    "bayes-lstm": BayesLSTMForecaster,
}


def make_forecaster(name: str, **kw: object) -> Forecaster:
    """A new forecaster ``name`` (one of :data:`FORECASTERS`) built with keyword arguments ``kw``."""
    if name not in FORECASTERS:
        raise InputError(f"unknown forecaster {name!r}; choose one of {', '.join(FORECASTERS)}", field="forecaster")
    try:
        return FORECASTERS[name](**kw)
    except TypeError as exc:
        raise InputError(f"{name}: {exc}", field="forecaster") from exc
