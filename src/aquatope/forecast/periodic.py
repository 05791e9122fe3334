"""Short-period seasonality: detect a function's period and forecast each interval from the same phase of past periods.

Many Azure functions are timer-driven or fed by periodic jobs: bursts every 10, 15 or 60 minutes with little in
between. A window model with one noise level per function sees such a function as "mean ~4, std ~60" and keeps
containers for the burst warm all the time. The *phase expert* instead forecasts interval ``t`` from the counts at
``t - P, t - 2P, ...`` (the last ``n_lags`` periods): their mean is the forecast and their spread, inflated by
``sqrt(1 + 1/k)`` for a new draw from ``k`` samples, its standard deviation. Quiet phases get a tight, low forecast
and burst phases a wide, high one.

``detect_periods`` picks, per function, the smallest lag in ``[2, max_period]`` whose autocorrelation is at least
``near_best`` of the largest one and at least ``min_acf`` (multiples of a period correlate as well; the smallest
one is the period). ``0`` means no period. Shapes: counts ``(n_functions, n_intervals)``.

*A floor under the spread* (:func:`phase_forecast`). Same-phase values that agree (14, 14, 14, 14, 14, 14) give a
spread of 0, a forecast that claims the next count is exactly 14. Counts are not that certain: a count of events at
a rate has at least Poisson noise. The phase expert's std in the working space is therefore at least that of a
Poisson count at the same-phase rate (Jeffreys' estimate ``(sum + 0.5) / k`` of the ``k`` same-phase counts, so
that six zeros do not mean a rate of exactly 0), computed exactly for the log space. Without it the forecaster's
calibration, which scales every std of a rate class by one factor, cannot widen a zero-width interval, ran to its
bound (20x) to cover the 15s and 16s among the 14s of trip-booking's validation, and in the replay, where the phase
values disagree, that factor turned a spread of 0.5-1.1 into 0.9-quantiles of 3e5 to 1.4e13 invocations a minute
(the pool's guard against unusable forecasts fell back on 24 of 60 ticks of ``aquatope evaluate``'s trip-booking
seed 0).
"""

from __future__ import annotations

import numpy as np

from aquatope.forecast.features import to_working

MAX_PERIOD = 120
MIN_ACF = 0.3
NEAR_BEST = 0.9
N_LAGS = 6


def autocorrelation(counts: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelation per function at lags ``0..max_lag``, shape ``(n_functions, max_lag + 1)``.

    A constant row has autocorrelation 0 at every lag but 0.
    """
    x = np.asarray(counts, dtype=float)
    x = x - x.mean(axis=1, keepdims=True)
    denom = np.sum(x * x, axis=1)
    out = np.zeros((x.shape[0], max_lag + 1))
    for lag in range(max_lag + 1):
        num = np.sum(x[:, lag:] * x[:, : x.shape[1] - lag], axis=1)
        out[:, lag] = np.divide(num, denom, out=np.zeros_like(num), where=denom > 0)
    return out


def detect_periods(
    counts: np.ndarray, max_period: int = MAX_PERIOD, min_acf: float = MIN_ACF, near_best: float = NEAR_BEST
) -> np.ndarray:
    """Per function, the detected period in intervals (0 = none); int64, shape ``(n_functions,)``.

    Lags are limited to a third of the history so that every candidate is seen at least three times.
    """
    x = np.asarray(counts, dtype=float)
    max_lag = min(int(max_period), x.shape[1] // 3)
    periods = np.zeros(x.shape[0], dtype=np.int64)
    if max_lag < 2:
        return periods
    acf = autocorrelation(x, max_lag)[:, 2:]
    best = acf.max(axis=1)
    for f in np.flatnonzero(best >= min_acf):
        periods[f] = 2 + int(np.flatnonzero(acf[f] >= near_best * best[f])[0])
    return periods


def _same_phase(c: np.ndarray, period: int, t: np.ndarray, n_lags: int) -> tuple[np.ndarray, np.ndarray]:
    """The same-phase values of targets ``t`` (``(len(t), n_lags)``, 0 where invalid) and which are valid."""
    n = c.shape[0]
    first = np.maximum(1, (t - n) // period + 1)  # smallest j with t - j * period <= n - 1
    idx = t[:, None] - (first[:, None] + np.arange(n_lags)[None, :]) * period
    valid = idx >= 0
    values = np.where(valid, c[np.clip(idx, 0, max(n - 1, 0))] if n else 0.0, 0.0)
    return values, valid


def phase_moments(
    counts: np.ndarray, period: int, targets: np.ndarray, n_lags: int = N_LAGS
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std forecast of intervals ``targets`` of one function from the same phase of earlier periods.

    ``counts``: that function's history ``(n_intervals,)``; ``targets``: interval indices (they may lie beyond the
    history, for multi-step forecasts). Interval ``t`` uses the counts at ``t - j * period`` for the first
    ``n_lags`` values of ``j >= 1`` that fall inside the history. With fewer than two such values the std is that of
    the whole history (too little to know the phase's spread), and with none the mean is the history's mean.
    Returns two float arrays shaped like ``targets``.
    """
    c = np.asarray(counts, dtype=float)
    n = c.shape[0]
    values, valid = _same_phase(c, period, np.asarray(targets, dtype=np.int64), n_lags)
    k = valid.sum(axis=1)
    overall_mean = float(c.mean()) if n else 0.0
    overall_std = float(c.std()) if n else 0.0
    mean = np.where(k > 0, values.sum(axis=1) / np.maximum(k, 1), overall_mean)
    sq = np.where(valid, (values - mean[:, None]) ** 2, 0.0).sum(axis=1)
    var = np.divide(sq, np.maximum(k - 1, 1)) * (1.0 + 1.0 / np.maximum(k, 1))
    std = np.where(k >= 2, np.sqrt(var), overall_std)
    return mean, std


EXACT_UP_TO = 1000.0
"""Rates up to which :func:`poisson_working_std` sums the distribution exactly (a numerical setting: the sum's grid
grows with the rate; beyond it the delta method's ``sqrt(rate) / (1 + rate)`` is within 0.1% of the exact value)."""


def poisson_working_std(rate: np.ndarray, scale: float, space: str) -> np.ndarray:
    """Std of a Poisson(``rate``) count in the working space (:func:`aquatope.forecast.features.to_working`):
    ``sqrt(rate) / scale`` in the scaled space, and for the log space the exact std of ``log1p(Y)`` (summed over
    the counts that carry the distribution's mass) up to :data:`EXACT_UP_TO`, the delta method above it."""
    r = np.maximum(np.asarray(rate, dtype=float), 0.0)
    if space != "log":
        return np.sqrt(r) / scale
    out = np.sqrt(r) / (1.0 + r)
    small = r <= EXACT_UP_TO
    if not small.any():
        return out
    rs = r[small]
    top = int(np.ceil(rs.max() + 12.0 * np.sqrt(rs.max()) + 12.0))
    y = np.arange(top + 1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 * log(0): the rate-0 rows, set below
        logpmf = y[None, :] * np.log(rs[:, None]) - rs[:, None] - np.cumsum(np.log(np.maximum(y, 1.0)))[None, :]
    pmf = np.where(rs[:, None] > 0, np.exp(logpmf), (y == 0)[None, :].astype(float))
    w = np.log1p(y)[None, :]
    m1 = np.sum(pmf * w, axis=1)
    out[small] = np.sqrt(np.maximum(np.sum(pmf * w * w, axis=1) - m1 * m1, 0.0))
    return out


def phase_forecast(
    counts: np.ndarray, period: int, targets: np.ndarray, scale: float, space: str, n_lags: int = N_LAGS
) -> tuple[np.ndarray, np.ndarray]:
    """The phase expert's forecast of one function in the working space: :func:`phase_moments` of its working
    counts, the std floored at a Poisson count's at the same-phase rate (module docstring). ``counts`` in count
    units."""
    c = np.asarray(counts, dtype=float)
    t = np.asarray(targets, dtype=np.int64)
    mean, std = phase_moments(to_working(c, np.array([scale]), space), period, t, n_lags)
    values, valid = _same_phase(c, period, t, n_lags)
    k = valid.sum(axis=1)
    total = np.where(k > 0, values.sum(axis=1), c.sum())
    rate = (total + 0.5) / np.where(k > 0, k, max(c.shape[0], 1))
    return mean, np.maximum(std, poisson_working_std(rate, scale, space))
