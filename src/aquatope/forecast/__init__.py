"""Forecasting per-interval invocation counts as predictive distributions (the only home of torch models).

* :class:`Forecast`, :class:`Forecaster` — the contract (``base.py``).
* Baselines: last value, moving average, seasonal naive, EWMA with residual quantiles.
* :class:`BayesLSTMForecaster` (``bayes-lstm``) — Aquatope's hybrid Bayesian LSTM with calibration.
* :func:`make_forecaster` — by name; :func:`backtest` and metrics; :func:`save_model` / :func:`load_model`.
"""

from __future__ import annotations

from aquatope.forecast.base import Forecast, Forecaster
from aquatope.forecast.baselines import (
    EwmaForecaster,
    LastValueForecaster,
    MovingAverageForecaster,
    SeasonalNaiveForecaster,
)
from aquatope.forecast.bayes import BayesLSTMForecaster, BayesParams, ValidationReport
from aquatope.forecast.metrics import BacktestResult, backtest, coverage, mae, pinball_loss
from aquatope.forecast.persist import FORMAT_VERSION, load_model, save_model
from aquatope.forecast.registry import FORECASTERS, make_forecaster

__all__ = [
    "FORECASTERS",
    "FORMAT_VERSION",
    "BacktestResult",
    "BayesLSTMForecaster",
    "BayesParams",
    "EwmaForecaster",
    "Forecast",
    "Forecaster",
    "LastValueForecaster",
    "MovingAverageForecaster",
    "SeasonalNaiveForecaster",
    "ValidationReport",
    "backtest",
    "coverage",
    "load_model",
    "mae",
    "make_forecaster",
    "pinball_loss",
    "save_model",
]
