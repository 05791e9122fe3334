"""Forecasts of per-interval invocation counts as predictive distributions, and the Forecaster protocol.

Shapes: a history is an array of counts ``(n_functions, n_intervals)`` (one row per function, oldest first);
a forecast covers the next ``horizon`` intervals of every function: ``mean`` and ``std`` have shape
``(n_functions, horizon)``. ``quantile(q)`` returns the same shape, never below 0. ``samples``, where a model
has them, has shape ``(n_samples, n_functions, horizon)``. The point forecast that MAE is measured on is the median
(``quantile(0.5)``, as GluonTS's evaluator does): the MAE-optimal point of any distribution.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Protocol, runtime_checkable

import numpy as np

MAX_EXPONENT = 700.0  # exp() of more overflows float64


def ndtri(q: float) -> float:
    """The standard normal ``q``-quantile (stdlib; scipy.special is imported only where arrays need it)."""
    return NormalDist().inv_cdf(q)


def ndtr(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF of an array (scipy.special imported on first use: it slows the CLI's start-up)."""
    from scipy.special import ndtr as cdf

    return np.asarray(cdf(x))


@dataclass(frozen=True)
class Forecast:
    """A predictive distribution per function and future interval.

    ``quantile(q)`` uses, in this order: ``residual_quantiles[q]`` when present (an additive offset per function
    and interval learned from validation residuals, as EWMA-style models do); else ``log1p_loc``/``log1p_scale``
    when present (``log1p(count)`` is normal with that location and scale: skewed count forecasts, see
    :meth:`log1p_normal`); else ``samples`` when present (a model that samples must put all its uncertainty into
    them); else a normal N(mean, std). Always clipped at 0.
    """

    mean: np.ndarray
    std: np.ndarray
    samples: np.ndarray | None = None
    residual_quantiles: dict[float, np.ndarray] = field(default_factory=dict)
    log1p_loc: np.ndarray | None = None
    log1p_scale: np.ndarray | None = None

    @classmethod
    def log1p_normal(cls, loc: np.ndarray, scale: np.ndarray) -> Forecast:
        """The count forecast ``Y = max(0, expm1(X))``, ``X ~ N(loc, scale^2)``; ``mean`` and ``std`` are Y's exact
        moments. ``loc`` and ``scale`` have shape ``(n_functions, horizon)``, ``scale >= 0``."""
        m = np.asarray(loc, dtype=float)
        s = np.broadcast_to(np.maximum(np.asarray(scale, dtype=float), 0.0), m.shape)
        mean, var = _clipped_expm1_moments(m, s)
        return cls(mean=mean, std=np.sqrt(var), log1p_loc=m, log1p_scale=np.array(s))

    def __post_init__(self) -> None:
        mean = np.asarray(self.mean, dtype=float)
        std = np.broadcast_to(np.asarray(self.std, dtype=float), mean.shape)
        if mean.ndim != 2:
            raise ValueError(f"mean must have shape (n_functions, horizon), got {mean.shape}")
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)):
            raise ValueError("forecast mean and std must be finite, std >= 0")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", np.array(std))
        for name in ("log1p_loc", "log1p_scale"):
            value = getattr(self, name)
            if value is not None and np.asarray(value).shape != mean.shape:
                raise ValueError(f"{name} must have shape {mean.shape}")
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
        if self.log1p_loc is not None and self.log1p_scale is not None:
            x = self.log1p_loc + float(ndtri(q)) * self.log1p_scale
            return np.maximum(0.0, np.expm1(np.minimum(x, MAX_EXPONENT)))
        if self.samples is not None:
            return np.maximum(0.0, np.quantile(np.asarray(self.samples), q, axis=0))
        return np.maximum(0.0, self.mean + float(ndtri(q)) * self.std)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """``P(count <= x)`` per function and interval for ``x`` of shape ``(n_functions, horizon)`` (0 below 0), from
        the same representation :meth:`quantile` uses (residual quantiles: piecewise linear between the stored
        levels, 0 and 1 beyond them)."""
        x = np.asarray(x, dtype=float)
        if self.residual_quantiles:
            levels = np.array(sorted(self.residual_quantiles))
            values = np.maximum.accumulate(np.stack([self.mean + self.residual_quantiles[q] for q in levels]), axis=0)
            out = _interp_levels(x, values, levels)
        elif self.log1p_loc is not None and self.log1p_scale is not None:
            z = (np.log1p(np.maximum(x, 0.0)) - self.log1p_loc) / np.maximum(self.log1p_scale, 1e-12)
            out = ndtr(z)
        elif self.samples is not None:
            out = np.mean(np.maximum(np.asarray(self.samples), 0.0) <= x[None], axis=0)
        else:
            out = ndtr((x - self.mean) / np.maximum(self.std, 1e-12))
        return np.where(x < 0, 0.0, out)

    def median(self) -> np.ndarray:
        """The point forecast, ``quantile(0.5)``, shape ``(n_functions, horizon)``."""
        return self.quantile(0.5)

    def interval(self, level: float) -> tuple[np.ndarray, np.ndarray]:
        """Central interval covering ``level`` (e.g. 0.9): (lower, upper), each ``(n_functions, horizon)``."""
        tail = (1.0 - level) / 2.0
        return self.quantile(tail), self.quantile(1.0 - tail)


def _interp_levels(x: np.ndarray, values: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Per entry, the level at which the (non-decreasing along axis 0) quantile ``values`` reach ``x``: linear
    between stored levels, the highest level of a run of equal values (a mass point), 0 below the lowest value
    and 1 above the highest."""
    below = (values <= x[None]).sum(axis=0)  # the first stored quantile above x
    i = np.clip(below, 1, len(levels) - 1)
    lo_v, hi_v = np.take_along_axis(values, (i - 1)[None], 0)[0], np.take_along_axis(values, i[None], 0)[0]
    frac = np.clip(np.divide(x - lo_v, hi_v - lo_v, out=np.zeros_like(x), where=hi_v > lo_v), 0.0, 1.0)
    inner = levels[i - 1] + frac * (levels[i] - levels[i - 1])
    top = np.where(x > values[-1], 1.0, levels[-1])
    return np.where(below == 0, 0.0, np.where(below == len(levels), top, inner))


def _clipped_expm1_moments(m: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``max(0, exp(X) - 1)`` for ``X ~ N(m, s^2)`` (closed form; a zero ``s`` is exact)."""
    s_safe = np.maximum(s, 1e-12)
    p0 = ndtr(m / s_safe)  # P(X > 0)
    cap = MAX_EXPONENT / 2  # so that the square of the mean stays finite
    e1 = np.exp(np.minimum(m + s**2 / 2, cap)) * ndtr((m + s**2) / s_safe)  # E[e^X; X > 0]
    e2 = np.exp(np.minimum(2 * m + 2 * s**2, cap)) * ndtr((m + 2 * s**2) / s_safe)  # E[e^2X; X > 0]
    mean = np.maximum(e1 - p0, 0.0)
    second = np.maximum(e2 - 2 * e1 + p0, 0.0)
    return mean, np.maximum(second - mean**2, 0.0)


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
