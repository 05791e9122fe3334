"""Forecast evaluation: small pure metric functions and a rolling one-step (or h-step) backtest.

Arrays are per function and interval, shape ``(n_functions, n_steps)`` (any matching shapes work). Metrics
return a scalar over all entries, or per function with ``axis=1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast, Forecaster
from aquatope.forecast.baselines import CENTRAL_LEVELS, as_history, check_horizon

#: Quantile levels a backtest records: the tails of the central 50/80/90/95% intervals plus the median.
BACKTEST_QUANTILES: tuple[float, ...] = tuple(
    sorted({0.5, *((1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS), *(1.0 - (1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS)})
)


def mae(actual: np.ndarray, predicted: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean absolute error ``mean(|actual - predicted|)`` in count units."""
    return np.asarray(np.mean(np.abs(np.asarray(actual, float) - np.asarray(predicted, float)), axis=axis))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Fraction of ``actual`` inside the closed interval ``[lower, upper]``."""
    y = np.asarray(actual, float)
    return np.asarray(np.mean((y >= lower) & (y <= upper), axis=axis))


def pinball_loss(actual: np.ndarray, quantile_pred: np.ndarray, q: float, axis: int | None = None) -> np.ndarray:
    """Quantile (pinball) loss of the ``q``-quantile prediction: ``max(q * e, (q - 1) * e)``, ``e = actual - pred``."""
    if not 0.0 < q < 1.0:
        raise InputError(f"q must be in (0, 1), got {q}", field="q")
    err = np.asarray(actual, float) - np.asarray(quantile_pred, float)
    return np.asarray(np.mean(np.maximum(q * err, (q - 1.0) * err), axis=axis))


def tail_levels(level: float) -> tuple[float, float]:
    """The quantile levels bounding the central ``level`` interval, computed exactly as ``Forecast.interval``."""
    tail = (1.0 - level) / 2.0
    return tail, 1.0 - tail


@dataclass(frozen=True)
class BacktestResult:
    """Rolling forecasts against what happened.

    ``actual``, ``mean``, ``std`` and every ``quantiles[q]`` have shape ``(n_functions, n_steps)``; column j is
    the forecast of interval ``targets[j]`` made ``horizon`` intervals ahead.
    """

    actual: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    targets: np.ndarray
    quantiles: dict[float, np.ndarray] = field(default_factory=dict)

    def coverage(self, level: float, axis: int | None = None) -> np.ndarray:
        """Coverage of the central ``level`` interval (levels in :data:`~aquatope.forecast.baselines.CENTRAL_LEVELS`)."""
        lo, hi = tail_levels(level)
        return coverage(self.actual, self.quantiles[lo], self.quantiles[hi], axis=axis)

    def mae(self, axis: int | None = None) -> np.ndarray:
        """MAE of the mean forecast."""
        return mae(self.actual, self.mean, axis=axis)

    def pinball(self, axis: int | None = None) -> np.ndarray:
        """Mean pinball loss over all recorded quantile levels."""
        losses = [pinball_loss(self.actual, v, q, axis=axis) for q, v in self.quantiles.items()]
        return np.asarray(np.mean(losses, axis=0))


def backtest(
    forecaster: Forecaster,
    counts: np.ndarray,
    train_end: int,
    horizon: int = 1,
    *,
    start_interval: int = 0,
    fit: bool = True,
) -> BacktestResult:
    """Fit on ``counts[:, :train_end]`` (unless ``fit=False``), then at every origin ``t`` in
    ``[train_end, n_intervals - horizon]`` call ``predict(counts[:, :t], horizon)`` once for all functions and keep
    its last column (the forecast of interval ``t + horizon - 1``)."""
    check_horizon(horizon)
    data = as_history(counts)
    n_intervals = data.shape[1]
    if not 1 <= train_end <= n_intervals - horizon:
        raise InputError(f"train_end must be in [1, {n_intervals - horizon}], got {train_end}", field="train_end")
    if fit:
        forecaster.fit(data[:, :train_end], start_interval=start_interval)
    origins = np.arange(train_end, n_intervals - horizon + 1)
    steps: list[Forecast] = [forecaster.predict(data[:, :t], horizon, start_interval=start_interval) for t in origins]
    targets = origins + horizon - 1
    quantiles = {q: np.stack([f.quantile(q)[:, -1] for f in steps], axis=1) for q in BACKTEST_QUANTILES}
    return BacktestResult(
        actual=data[:, targets],
        mean=np.stack([f.mean[:, -1] for f in steps], axis=1),
        std=np.stack([f.std[:, -1] for f in steps], axis=1),
        targets=targets,
        quantiles=quantiles,
    )
