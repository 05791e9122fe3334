"""Calibration of normal predictive intervals: coverage as a function of a std scale factor, and bisection.

Intervals are those of :meth:`~aquatope.forecast.base.Forecast.interval` for a normal ``N(mean, (s * std)^2)``
clipped at 0; arrays ``actual``, ``mean``, ``std`` share one shape (e.g. ``(n_functions, n_steps)``).
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from aquatope.forecast.metrics import coverage, pinball_loss, tail_levels


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


def calibrate_scale(
    actual: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    level: float = 0.9,
    tolerance: float = 0.03,
    bounds: tuple[float, float] = (0.05, 20.0),
    iterations: int = 40,
) -> float:
    """Std scale factor ``s`` so the ``level`` interval of N(mean, (s std)^2) covers ``level`` of ``actual``.

    Returns 1.0 when the unscaled coverage is already within ``tolerance``; else the bisection solution
    (coverage is non-decreasing in ``s``, clipped to ``bounds``) of ``coverage(s) = level`` when under-covering,
    or of ``coverage(s) = level + tolerance / 2`` when over-covering: a minimal shrink, because on count data
    with many zeros the coverage is flat in ``s`` and the smallest scale reaching ``level`` is brittle.
    """
    raw = normal_coverage(actual, mean, std, level)
    if abs(raw - level) <= tolerance:
        return 1.0
    target = level if raw < level else level + tolerance / 2.0
    lo, hi = bounds
    for _ in range(iterations):
        mid = float(np.sqrt(lo * hi))
        if normal_coverage(actual, mean, mid * std, level) < target:
            lo = mid
        else:
            hi = mid
    return hi
