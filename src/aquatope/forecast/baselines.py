"""Baseline forecasters, vectorized over functions: last value, moving average, seasonal naive, EWMA.

Each baseline has a one-step point rule ``point(history) -> (n_functions,)`` and the same rule applied at every
past interval (``in_sample``), whose one-step residuals on the ``fit`` history give the uncertainty:
a per-function residual std (all baselines) and, for :class:`EwmaForecaster`, empirical residual quantiles
(an additive offset per function, see :class:`~aquatope.forecast.base.Forecast`). Multi-step forecasts are
flat: every future interval gets the one-step point forecast and the one-step uncertainty.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast

#: Quantile levels for which EWMA stores empirical residual quantiles, including the exact float tails that
#: ``Forecast.interval(level)`` asks for (``(1 - 0.9) / 2`` is 0.04999..., not 0.05).
CENTRAL_LEVELS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
_BASE_QUANTILES: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.8, 0.9, 0.95, 0.99)
RESIDUAL_QUANTILE_LEVELS: tuple[float, ...] = tuple(
    sorted(
        {
            *_BASE_QUANTILES,
            *((1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS),
            *(1.0 - (1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS),
        }
    )
)


def as_history(history: np.ndarray, *, min_intervals: int = 1) -> np.ndarray:
    """Validate a count history: finite, >= 0, shape ``(n_functions, n_intervals)``; returned as float64."""
    arr = np.asarray(history, dtype=float)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise InputError(f"history must have shape (n_functions, n_intervals), got {arr.shape}", field="history")
    if arr.shape[1] < min_intervals:
        raise InputError(f"history needs at least {min_intervals} intervals, got {arr.shape[1]}", field="history")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InputError("history counts must be finite and >= 0", field="history")
    return arr


def check_horizon(horizon: int) -> None:
    """Refuse a horizon below 1."""
    if int(horizon) < 1:
        raise InputError(f"horizon must be >= 1, got {horizon}", field="horizon")


def trailing_mean(history: np.ndarray, window: int) -> np.ndarray:
    """Mean of the last ``min(window, n_intervals)`` intervals per function, shape ``(n_functions,)``."""
    return np.asarray(history[:, -window:].mean(axis=1))


def rolling_trailing_mean(history: np.ndarray, window: int) -> np.ndarray:
    """``out[:, t]`` = mean of ``history[:, max(0, t - window):t]`` (forecast of interval t); ``out[:, 0]`` = 0.

    Shape ``(n_functions, n_intervals)``.
    """
    n, t = history.shape
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(history, axis=1)], axis=1)
    idx = np.arange(t)
    lo = np.maximum(0, idx - window)
    count = np.maximum(idx - lo, 1)
    return np.asarray((csum[:, idx] - csum[:, lo]) / count)


def rolling_trailing_var(history: np.ndarray, window: int) -> np.ndarray:
    """``out[:, t]`` = variance (population) of ``history[:, max(0, t - window):t]``, the spread of the values
    :func:`rolling_trailing_mean` averages; ``out[:, 0]`` = 0. Shape ``(n_functions, n_intervals)``."""
    h = np.asarray(history, dtype=float)
    mean = rolling_trailing_mean(h, window)
    return np.maximum(rolling_trailing_mean(h * h, window) - mean * mean, 0.0)


class _ResidualBaseline(ABC):
    """Shared fit/predict: point rule + per-function one-step residual std (and optional residual quantiles)."""

    name = "baseline"
    store_quantiles = False

    def __init__(self) -> None:
        self.residual_std_: np.ndarray | None = None
        self.residual_quantiles_: dict[float, np.ndarray] = {}

    @abstractmethod
    def point(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        """One-step point forecast per function, shape ``(n_functions,)``."""

    @abstractmethod
    def in_sample(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        """One-step forecasts of every interval from its past, shape ``(n_functions, n_intervals)``."""

    def fit(self, history: np.ndarray, start_interval: int = 0) -> _ResidualBaseline:
        """Learn the one-step residual distribution per function from ``history`` (skipping interval 0)."""
        counts = as_history(history, min_intervals=2)
        residuals = (counts - self.in_sample(counts, start_interval))[:, 1:]
        self.residual_std_ = np.sqrt(np.mean(residuals**2, axis=1))
        if self.store_quantiles:
            levels = RESIDUAL_QUANTILE_LEVELS
            values = np.quantile(residuals, levels, axis=1)
            self.residual_quantiles_ = {q: values[i] for i, q in enumerate(levels)}
        return self

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        """Flat forecast of the next ``horizon`` intervals; shapes ``(n_functions, horizon)``."""
        check_horizon(horizon)
        counts = as_history(history)
        if self.residual_std_ is None:
            raise InputError(f"{self.name}: call fit() before predict()")
        if counts.shape[0] != self.residual_std_.shape[0]:
            raise InputError(
                f"{self.name}: fitted on {self.residual_std_.shape[0]} functions, got {counts.shape[0]}",
                field="history",
            )
        shape = (counts.shape[0], int(horizon))
        mean = np.broadcast_to(np.maximum(self.point(counts, start_interval), 0.0)[:, None], shape)
        std = np.broadcast_to(self.residual_std_[:, None], shape)
        quantiles = {q: np.broadcast_to(v[:, None], shape) for q, v in self.residual_quantiles_.items()}
        return Forecast(mean=mean, std=std, residual_quantiles=quantiles)


class LastValueForecaster(_ResidualBaseline):
    """Next interval = the last observed count."""

    name = "last-value"

    def point(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        return np.asarray(history[:, -1])

    def in_sample(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        return rolling_trailing_mean(history, 1)


class MovingAverageForecaster(_ResidualBaseline):
    """Next interval = mean of the last ``window`` intervals (fewer at the start of a history)."""

    name = "moving-average"

    def __init__(self, window: int = 48) -> None:
        super().__init__()
        if window < 1:
            raise InputError(f"window must be >= 1, got {window}", field="window")
        self.window = int(window)

    def point(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        return trailing_mean(history, self.window)

    def in_sample(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        return rolling_trailing_mean(history, self.window)


class SeasonalNaiveForecaster(_ResidualBaseline):
    """Next interval = the same interval one ``period`` earlier (default a day of minutes) where the history
    reaches that far back, else the moving average of the last ``window`` intervals."""

    name = "seasonal-naive"

    def __init__(self, period: int = 1440, window: int = 48) -> None:
        super().__init__()
        if period < 1 or window < 1:
            raise InputError(f"period and window must be >= 1, got {period}, {window}", field="period")
        self.period = int(period)
        self.window = int(window)

    def point(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        if history.shape[1] >= self.period:
            return np.asarray(history[:, -self.period])
        return trailing_mean(history, self.window)

    def in_sample(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        out = rolling_trailing_mean(history, self.window)
        if history.shape[1] > self.period:
            out[:, self.period :] = history[:, : -self.period]
        return out


class EwmaForecaster(_ResidualBaseline):
    """Exponentially weighted moving average ``level <- alpha * x + (1 - alpha) * level`` (level starts at the
    first count), with empirical residual quantiles for :data:`RESIDUAL_QUANTILE_LEVELS`."""

    name = "ewma"
    store_quantiles = True

    def __init__(self, alpha: float = 0.1) -> None:
        super().__init__()
        if not 0.0 < alpha <= 1.0:
            raise InputError(f"alpha must be in (0, 1], got {alpha}", field="alpha")
        self.alpha = float(alpha)

    def in_sample(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        n, t = history.shape
        out = np.empty((n, t))
        level = history[:, 0].copy()
        out[:, 0] = level
        for i in range(1, t):
            out[:, i] = level
            level = self.alpha * history[:, i] + (1.0 - self.alpha) * level
        return out

    def point(self, history: np.ndarray, start_interval: int) -> np.ndarray:
        weights = (1.0 - self.alpha) ** np.arange(history.shape[1] - 1, -1, -1, dtype=float)
        weights[1:] *= self.alpha
        return np.asarray(history @ weights)
