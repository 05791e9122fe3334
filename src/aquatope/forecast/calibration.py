"""Calibration of normal predictive intervals: coverage as a function of a std factor, and bisection.

Intervals are those of :meth:`~aquatope.forecast.base.Forecast.interval` for a normal ``N(mean, (s * std)^2)``
clipped at 0; arrays ``actual``, ``mean``, ``std`` share one shape (e.g. ``(n_functions, n_steps)``).

Two coverage measures: *plain* (the share of counts inside the interval) and *PIT* (the expected share of
randomized PITs inside the central interval, :func:`~aquatope.forecast.metrics.pit_coverage`), which is the one a
calibrated forecaster of counts meets: on a function silent 95% of the time every interval from 0 covers at least
95% of the counts, and the only way to bring plain coverage down to 90% is to exclude 0 when nothing happens.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from aquatope.forecast.base import ndtr, ndtri
from aquatope.forecast.features import to_working
from aquatope.forecast.metrics import coverage, pinball_loss, pit_coverage, tail_levels

FACTOR_BOUNDS = (0.05, 20.0)


def saturated_class(class_factors: Mapping[str, float]) -> str | None:
    """The first rate class whose std factor reached the bisection's upper bound (no factor inside the bounds
    widens its intervals enough: its calibration failed), or None. Fit and model loading both apply it."""
    return next((cls for cls, factor in class_factors.items() if not factor < FACTOR_BOUNDS[1]), None)


def normal_interval(mean: np.ndarray, std: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval of N(mean, std^2), both bounds clipped at 0 (as ``Forecast.quantile`` does)."""
    lo, hi = tail_levels(level)
    return np.maximum(0.0, mean + float(ndtri(lo)) * std), np.maximum(0.0, mean + float(ndtri(hi)) * std)


def normal_coverage(actual: np.ndarray, mean: np.ndarray, std: np.ndarray, level: float) -> float:
    """Fraction of ``actual`` inside the central ``level`` interval."""
    lower, upper = normal_interval(mean, std, level)
    return float(coverage(actual, lower, upper))


def normal_pinball(actual: np.ndarray, mean: np.ndarray, std: np.ndarray, levels: tuple[float, ...]) -> float:
    """Mean pinball loss over the interval tails of ``levels`` and the median (count units)."""
    qs = sorted({0.5, *(q for lv in levels for q in tail_levels(lv))})
    losses = [pinball_loss(actual, np.maximum(0.0, mean + float(ndtri(q)) * std), q) for q in qs]
    return float(np.mean(losses))


def working_pit_coverage(
    actual: np.ndarray, center: np.ndarray, std: np.ndarray, scale: np.ndarray, space: str, level: float = 0.9
) -> np.ndarray:
    """Per entry, the PIT coverage of counts ``actual`` under forecasts that are normal in the working space
    (``center``, ``std``; see :mod:`aquatope.forecast.features`) and clipped at 0 counts."""
    y = np.asarray(actual, dtype=float)
    s = np.maximum(std, 1e-12)
    below = np.where(y > 0, ndtr((to_working(np.maximum(y - 0.5, 0.0), scale, space) - center) / s), 0.0)
    return pit_coverage(y, below, ndtr((to_working(y + 0.5, scale, space) - center) / s), level)


def bisect_factor(
    cover: Callable[[float], float],
    level: float = 0.9,
    bounds: tuple[float, float] = FACTOR_BOUNDS,
    iterations: int = 40,
) -> float:
    """The smallest factor ``s`` in ``bounds`` with ``cover(s) >= level`` (``cover`` non-decreasing in ``s``),
    by bisection on a log scale; a bound if the target is not reached inside them."""
    return float(bisect_rows(lambda s: np.array([cover(float(s[0]))]), 1, level, bounds, iterations)[0])


def bisect_rows(
    cover: Callable[[np.ndarray], np.ndarray],
    n: int,
    level: float = 0.9,
    bounds: tuple[float, float] = FACTOR_BOUNDS,
    iterations: int = 40,
) -> np.ndarray:
    """:func:`bisect_factor` for ``n`` independent rows at once: ``cover`` maps ``n`` factors to ``n`` coverages
    (each non-decreasing in its own factor); returns the ``n`` factors."""
    lo, hi = np.full(n, bounds[0]), np.full(n, bounds[1])
    done_lo, done_hi = cover(lo) >= level, cover(hi) < level
    for _ in range(iterations):
        mid = np.sqrt(lo * hi)
        short = cover(mid) < level
        lo, hi = np.where(short, mid, lo), np.where(short, hi, mid)
    return np.where(done_lo, bounds[0], np.where(done_hi, bounds[1], hi))


def own_factors(
    actual: np.ndarray,
    center: np.ndarray,
    std: np.ndarray,
    scale: np.ndarray,
    space: str,
    calibration: str = "pit",
    level: float = 0.9,
) -> np.ndarray:
    """Per row (function), the std factor that calibrates that row's working-space normal forecasts alone: by the
    randomized PIT of counts (``calibration="pit"``) or plainly in the working space, where a row that already
    covers exactly ``level`` keeps 1.0 (as :func:`calibrate_scale` with no tolerance)."""
    a, c, sd = (np.asarray(x, dtype=float) for x in (actual, center, std))
    sc = np.asarray(scale, dtype=float)
    if calibration == "pit":
        return bisect_rows(lambda f: working_pit_coverage(a, c, f[:, None] * sd, sc, space).mean(axis=1), len(a), level)
    w = to_working(a, sc, space)

    def cover(f: np.ndarray) -> np.ndarray:
        lower, upper = normal_interval(c, f[:, None] * sd, level)
        return np.asarray(coverage(w, lower, upper, axis=1))

    return np.where(cover(np.ones(len(a))) == level, 1.0, bisect_rows(cover, len(a), level))


def calibrate_scale(
    actual: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    level: float = 0.9,
    tolerance: float = 0.03,
    bounds: tuple[float, float] = FACTOR_BOUNDS,
    iterations: int = 40,
) -> float:
    """Std factor ``s`` so the ``level`` interval of N(mean, (s std)^2) covers ``level`` of ``actual`` (plain).

    Returns 1.0 when the unscaled coverage is already within ``tolerance``; else the bisection solution of
    ``coverage(s) = level`` when under-covering, or of ``coverage(s) = level + tolerance / 2`` when over-covering
    (a minimal shrink: on count data with many zeros the plain coverage is flat in ``s``).
    """
    raw = normal_coverage(actual, mean, std, level)
    if abs(raw - level) <= tolerance:
        return 1.0
    target = level if raw < level else level + tolerance / 2.0
    return bisect_factor(lambda s: normal_coverage(actual, mean, s * std, level), target, bounds, iterations)
