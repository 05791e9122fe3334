"""Forecasting per-interval invocation counts as predictive distributions (the only home of torch models).

* :class:`Forecast`, :class:`Forecaster` — the contract (``base.py``).
* Baselines: last value, moving average, seasonal naive, EWMA with residual quantiles.
* :class:`BayesLSTMForecaster` (``bayes-lstm``) — Aquatope's hybrid Bayesian LSTM with calibration.
* :func:`make_forecaster` — by name; :func:`backtest` and metrics (per rate class: :func:`rate_classes`);
  :func:`save_model` / :func:`load_model` / :func:`match_functions`.

Importing this package does not import torch: the networks (``lstm.py``) are loaded when a model is trained or
read from a file.
"""

from __future__ import annotations

from aquatope.forecast.base import Forecast, Forecaster
from aquatope.forecast.baselines import (
    EwmaForecaster,
    LastValueForecaster,
    MovingAverageForecaster,
    SeasonalNaiveForecaster,
)
from aquatope.forecast.bayes import BayesLSTMForecaster
from aquatope.forecast.metrics import (
    RATE_CLASSES,
    BacktestResult,
    backtest,
    coverage,
    forecast_accuracy,
    grouped_figures,
    mae,
    pinball_loss,
    rate_classes,
)
from aquatope.forecast.params import BayesParams
from aquatope.forecast.persist import FORMAT_VERSION, load_model, match_functions, save_model
from aquatope.forecast.registry import FORECASTERS, make_forecaster
from aquatope.forecast.validation import COMPONENTS, ValidationReport

__all__ = [
    "COMPONENTS",
    "FORECASTERS",
    "FORMAT_VERSION",
    "RATE_CLASSES",
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
    "forecast_accuracy",
    "grouped_figures",
    "load_model",
    "mae",
    "make_forecaster",
    "match_functions",
    "pinball_loss",
    "rate_classes",
    "save_model",
]
