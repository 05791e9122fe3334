"""Forecasts of per-interval invocation counts as predictive distributions, and the Forecaster protocol.

Shapes: a history is an array of counts ``(n_functions, n_intervals)`` (one row per function, oldest first);
a forecast covers the next ``horizon`` intervals of every function: ``mean`` and ``std`` have shape
``(n_functions, horizon)``. ``quantile(q)`` returns the same shape, never below 0. ``samples``, where a model
has them, has shape ``(n_samples, n_functions, horizon)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.special import ndtri


@dataclass(frozen=True)
class Forecast:
    """A predictive distribution per function and future interval.

    ``quantile(q)`` uses, in this order: ``residual_quantiles[q]`` when present (an additive offset per function
    and interval learned from validation residuals, as EWMA-style models do); else ``samples`` when present (a
    model that samples must put all its uncertainty into them); else a normal N(mean, std). Always clipped at 0.
    """

    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray | None = None
    residual_quantiles: dict[float, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=float)
        std = np.broadcast_to(np.asarray(self.std, dtype=float), mean.shape)
        if mean.ndim != 2:
            raise ValueError(f"mean must have shape (n_functions, horizon), got {mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)):
            raise ValueError("forecast mean and std must be finite, std >= 0")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", np.array(std))
        if self.samples is not None and np.asarray(self.samples).shape[1:] != mean.shape:
            raise ValueError(f"samples must have shape (n, {mean.shape[0]}, {mean.shape[1]})")

    @property
    def n_functions(self) -> int:
        return int(self.mean.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.mean.shape[1])

    def quantile(self, q: float) -> np.ndarray:
        """The ``q``-quantile (0 < q < 1) per function and interval, shape ``(n_functions, horizon)``, >= 0."""
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be in (0, 1), got {q}")
        for level, offset in self.residual_quantiles.items():
            if abs(level - q) < 1e-9:  # interval(0.9) asks for 0.04999..., which must find the 0.05 key
                return np.maximum(0.0, self.mean + offset)
        if self.samples is not None:
            return np.maximum(0.0, np.quantile(np.asarray(self.samples), q, axis=0))
        return np.maximum(0.0, self.mean + float(ndtri(q)) * self.std)

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval covering ``level`` (e.g. 0.9): (lower, upper), each ``(n_functions, horizon)``."""
        tail = (1.0 - level) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)


@runtime_checkable
class Forecaster(Protocol):
    """``fit(history) -> self`` then ``predict(history, horizon) -> Forecast``.

    ``history``: counts per interval, shape ``(n_functions, n_intervals)``; ``predict`` gets the history up to
    now (it may be longer than what ``fit`` saw) and forecasts the next ``horizon`` intervals for all functions in
    one call. ``start_interval`` is the index of the history's first interval within the day grid
    (minute-of-day features: interval i is at ``(start_interval + i) * interval_s`` seconds after midnight).
    """

    name: str

    def fit(self, history: np.ndarray, start_interval: int = 0) -> Forecaster: ...

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast: ...
