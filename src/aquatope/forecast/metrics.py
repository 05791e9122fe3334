"""Forecast evaluation: small pure metric functions and a rolling one-step (or h-step) backtest.

Arrays are per function and interval, shape ``(n_functions, n_steps)`` (any matching shapes work). Metrics
return a scalar over all entries, or per function with ``axis=1``.

Rate classes (:func:`rate_classes`) split functions by their mean count per interval over a history: ``sporadic``
(< 1), ``mid`` (1 to 100) and ``high`` (> 100 per interval; with one-minute intervals, per minute).
:func:`grouped_figures` gives any per-function figures per group (class or component), never one global figure
copied to a subset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast, Forecaster
from aquatope.forecast.baselines import CENTRAL_LEVELS, as_history, check_horizon

#: Quantile levels a backtest records: the tails of the central 50/80/90/95% intervals plus the median.
BACKTEST_QUANTILES: tuple[float, ...] = tuple(
    sorted({0.5, *((1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS), *(1.0 - (1.0 - lv) / 2.0 for lv in CENTRAL_LEVELS)})
)


RATE_CLASSES: tuple[str, ...] = ("sporadic", "mid", "high")
RATE_BOUNDS: tuple[float, ...] = (1.0, 100.0)  # mean invocations per interval between the classes


def rate_classes(counts: np.ndarray, bounds: Sequence[float] = RATE_BOUNDS) -> np.ndarray:
    """Rate class index per function (0 sporadic, 1 mid, 2 high) from the mean count per interval of ``counts``
    ``(n_functions, n_intervals)``: class ``k`` holds means in ``[bounds[k-1], bounds[k])``, except that the top
    bound itself belongs to ``mid`` (1 to 100 inclusive)."""
    rate = np.asarray(counts, dtype=float).mean(axis=1)
    return np.searchsorted(np.asarray(bounds, dtype=float), rate, side="right") - (rate == bounds[-1])


def grouped_figures(
    groups: Sequence[str], figures: Mapping[str, np.ndarray], order: Sequence[str] = ()
) -> dict[str, dict[str, float]]:
    """Per group label: ``functions`` (how many) and the mean over its functions of each per-function figure.

    ``groups``: a label per function; ``figures``: name -> per-function values (NaN values are left out of that
    mean). Labels in ``order`` come first (only those present), then the rest sorted.
    """
    labels = np.asarray(groups, dtype=object)
    present = [g for g in order if g in set(labels.tolist())]
    present += sorted(set(labels.tolist()) - set(present))
    out: dict[str, dict[str, float]] = {}
    for g in present:
        rows = labels == g
        row: dict[str, float] = {"functions": int(rows.sum())}
        for name, values in figures.items():
            v = np.asarray(values, dtype=float)[rows]
            v = v[np.isfinite(v)]
            row[name] = float(v.mean()) if v.size else float("nan")
        out[str(g)] = row
    return out


def forecast_accuracy(
    forecasts: Sequence[Forecast | None], actual: np.ndarray, classes: Sequence[str], components: Sequence[str]
) -> dict[str, Any]:
    """Accuracy of a run of one-step forecasts: ``forecasts[k]`` (None where the forecaster failed) forecasts
    column k of ``actual`` ``(n_functions, n_steps)``. MAE of the median, plain and PIT coverage
    (:func:`pit_coverage`) of the central 90% interval, overall, per rate class (``classes``: a :data:`RATE_CLASSES` label per function; ``mae_by_class``,
    ``coverage_90_by_class``, ``functions_by_class``) and per component (``components``: a label per function;
    ``components`` counts, ``by_component`` figures); ``failed_ticks`` counts the None forecasts."""
    used = [k for k, f in enumerate(forecasts) if f is not None]
    out: dict[str, Any] = {"failed_ticks": len(forecasts) - len(used)}
    out["components"] = {c: list(components).count(c) for c in dict.fromkeys(components)}
    if not used:
        nan = {c: math.nan for c in RATE_CLASSES if c in classes}
        figures = ("mae", "coverage_90", "pit_coverage_90")
        return {**out, **dict.fromkeys(figures, math.nan), **{f"{f}_by_class": nan for f in figures}}
    per_fn = per_function_accuracy([forecasts[k] for k in used], actual[:, used])  # type: ignore[misc]
    by_class = grouped_figures(classes, per_fn, RATE_CLASSES)
    return {
        **out,
        **{name: float(v.mean()) for name, v in per_fn.items()},
        **{f"{name}_by_class": {c: row[name] for c, row in by_class.items()} for name in per_fn},
        "functions_by_class": {c: row["functions"] for c, row in by_class.items()},
        "by_component": grouped_figures(components, per_fn),
    }


def per_function_accuracy(forecasts: Sequence[Forecast], actual: np.ndarray) -> dict[str, np.ndarray]:
    """Per function: ``mae`` of the median, ``coverage_90`` (plain) and ``pit_coverage_90`` of one-step forecasts
    (``forecasts[k]`` step 0 forecasts column k of ``actual``)."""
    median = np.stack([f.median()[:, 0] for f in forecasts], axis=1)
    bounds = [f.interval(0.9) for f in forecasts]
    lower = np.stack([lo[:, 0] for lo, _ in bounds], axis=1)
    upper = np.stack([hi[:, 0] for _, hi in bounds], axis=1)
    pit = np.stack([forecast_pit_coverage(f, actual[:, k : k + 1])[:, 0] for k, f in enumerate(forecasts)], axis=1)
    return {
        "mae": np.abs(actual - median).mean(axis=1),
        "coverage_90": coverage(actual, lower, upper, axis=1),
        "pit_coverage_90": pit.mean(axis=1),
    }


def pit_coverage(actual: np.ndarray, cdf_below: np.ndarray, cdf_at: np.ndarray, level: float = 0.9) -> np.ndarray:
    """Per entry, the expected coverage of the central ``level`` interval by the randomized PIT of a count
    (Czado, Gneiting & Held, Biometrics 2009): with ``F`` the forecast's CDF, a count ``y`` has PIT uniform on
    ``[F(y - 0.5), F(y + 0.5)]`` (``cdf_below``, ``cdf_at``; the first is 0 for ``y = 0``), and this returns the
    share of that range inside ``[(1 - level) / 2, (1 + level) / 2]``. A calibrated forecaster of counts scores
    ``level`` on average; plain coverage cannot, when most counts are 0 (every interval from 0 covers them).
    """
    lo_level, hi_level = tail_levels(level)
    lo, hi = np.asarray(cdf_below, dtype=float), np.asarray(cdf_at, dtype=float)
    width = hi - lo
    overlap = np.clip(np.minimum(hi, hi_level) - np.maximum(lo, lo_level), 0.0, None)
    inside = ((lo >= lo_level) & (lo <= hi_level)).astype(float)
    return np.where(width > 1e-12, overlap / np.maximum(width, 1e-12), inside)


def forecast_pit_coverage(forecast: Forecast, actual: np.ndarray, level: float = 0.9) -> np.ndarray:
    """:func:`pit_coverage` of ``forecast`` for counts ``actual`` (same shape as its mean)."""
    y = np.asarray(actual, dtype=float)
    below = np.where(y > 0, forecast.cdf(y - 0.5), 0.0)
    return pit_coverage(y, below, forecast.cdf(y + 0.5), level)


def mae(actual: np.ndarray, predicted: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Mean absolute error ``mean(|actual - predicted|)`` in count units."""
    return np.asarray(np.mean(np.abs(np.asarray(actual, float) - np.asarray(predicted, float)), axis=axis))


COVERAGE_RTOL = 1e-9
"""Relative tolerance of :func:`coverage`: bounds computed through ``expm1(log1p(x))`` miss an integer count by a
few ulps (a zero-width interval at a constant count of 140 has bounds 140.00000000000003), which is arithmetic,
not the forecast."""


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Fraction of ``actual`` inside the closed interval ``[lower, upper]`` (to :data:`COVERAGE_RTOL`)."""
    y = np.asarray(actual, float)
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    tol_lo, tol_hi = (COVERAGE_RTOL * np.maximum(1.0, np.abs(b)) for b in (lo, hi))
    return np.asarray(np.mean((y >= lo - tol_lo) & (y <= hi + tol_hi), axis=axis))


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
        """MAE of the median forecast (the point forecast, see :mod:`aquatope.forecast.base`)."""
        return mae(self.actual, self.quantiles[0.5], axis=axis)

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


def poisson_mae(rate: np.ndarray) -> np.ndarray:
    """E|N - median(N)| for N ~ Poisson(rate), elementwise: the least expected absolute error any forecast of a
    Poisson count can have, even one that knows the rate exactly (the median minimises it). Rates are rounded to
    0.01, so each distinct value is summed once."""
    from scipy import stats

    flat = np.round(np.asarray(rate, dtype=float).ravel(), 2)
    uniq, inverse = np.unique(flat, return_inverse=True)
    out = np.zeros(uniq.size)
    for i, lam in enumerate(uniq):
        if lam <= 0:
            continue
        median = float(stats.poisson.median(lam))
        width = 10.0 * math.sqrt(lam) + 20.0
        k = np.arange(max(0.0, math.floor(lam - width)), math.ceil(lam + width) + 1)
        out[i] = float(np.sum(np.abs(k - median) * stats.poisson.pmf(k, lam)))
    return out[inverse].reshape(np.shape(rate))


def local_rate(counts: np.ndarray, start: int, half: int, statistic: Any = np.mean) -> np.ndarray:
    """Per function (row) and minute from ``start`` on: ``statistic`` (the mean by default) of the counts of the
    ``half`` minutes on either side, the minute itself excluded and the future included (a non-causal estimate of
    the minute's rate, or with ``np.median`` of its level)."""
    counts = np.asarray(counts, dtype=float)
    n, total = counts.shape
    out = np.empty((n, total - start))
    for t in range(start, total):
        cols = [j for j in range(t - half, t + half + 1) if j != t and 0 <= j < total]
        out[:, t - start] = statistic(counts[:, cols], axis=1)
    return out
