"""Validation of ``bayes-lstm``: which component serves each function, the figures of what it serves, the report.

Everything here is numpy on the validation split (the last ``val_fraction`` of the fit history), in the model's
working space (:mod:`aquatope.forecast.features`) where forecasts are normal: ``center`` and ``std`` per function
and interval; counts come back through the monotone map ``from_working``, so coverage and quantiles can be
computed in either space.

**Components.** Each function is served by one of :data:`COMPONENTS`: ``lstm`` (the network), ``phase`` (the phase
expert of :mod:`aquatope.forecast.periodic`, for a function with a detected short period) or ``moving-average``
(the fallback). The network serves unless an alternative's validation MAE is *evidently* lower
(:func:`choose_components`): differences that are within noise, or immaterial, leave the network in place, so
the choice does not flip with the seed on functions where the experts tie (e.g. silent ones). The alternative must
also be no worse at the 90% interval (:func:`interval_loss`, each candidate calibrated on the function alone),
because the pool reads a high quantile: a sharp median with the wrong spread does not serve.

**Report.** Per-function figures of the served forecasts (:data:`FIGURES`) are kept by the model, so a report on
any subset of functions (:meth:`~aquatope.forecast.bayes.BayesLSTMForecaster.select`) is computed on that subset:
overall, per rate class and per component. They are in-sample for the component choice and the calibration (the
same split chose them), so they are optimistic; out-of-sample figures come from a backtest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.forecast.base import ndtri
from aquatope.forecast.baselines import CENTRAL_LEVELS, rolling_trailing_var
from aquatope.forecast.calibration import normal_interval, own_factors, working_pit_coverage
from aquatope.forecast.features import from_working, to_working
from aquatope.forecast.metrics import RATE_CLASSES, coverage, grouped_figures, pinball_loss, tail_levels

COMPONENTS: tuple[str, ...] = ("lstm", "phase", "moving-average")
FIGURES: tuple[str, ...] = (
    "mae",
    "moving_average_mae",
    *(f"coverage_{round(100 * lv)}" for lv in CENTRAL_LEVELS),
    "raw_coverage_90",
    "pit_coverage_90",
    "pinball",
    "interval_vetoed",
)
"""Per-function figures a model keeps. ``interval_vetoed`` is 1 where an alternative had the evidently better median
but not a 90% interval as good as the network's (:func:`choose_components`), so the interval decided; it is
optional in model files written before it existed (read as 0)."""
SWITCH_Z = 1.6448536269514722  # one-sided 95%: an alternative must beat the network by more than this many SEs
SWITCH_MIN = 0.01  # invocations per interval: smaller MAE differences are ties (kept by the network)


def window_variance(counts: np.ndarray, scale: np.ndarray, window: int, space: str) -> np.ndarray:
    """Per function and interval, the variance (working space) of the ``window`` counts before it: the moving
    average's local spread, shape like ``counts``."""
    return rolling_trailing_var(to_working(counts, scale, space), window)


def component_variance(component: str, spread: np.ndarray, noise_var: np.ndarray) -> np.ndarray:
    """A component's forecast variance (working space) from its own ``spread`` (per function and interval) and
    the function's validation ``noise_var``: the two add for the network (epistemic + aleatoric) and the phase
    expert (whose noise is 0); the moving average takes the larger of its residual noise and its window's spread,
    so a function whose validation residuals were all 0 (a timer's constant count) still gets a spread once its
    window holds a change, rather than a zero-width interval that misses every interval until the change has left
    the window."""
    noise = np.asarray(noise_var, dtype=float)[:, None]
    if component == "moving-average":
        return np.maximum(spread, noise)
    return spread + noise


def choose_components(
    actual: np.ndarray, medians: Mapping[str, np.ndarray], interval_losses: Mapping[str, np.ndarray] | None = None
) -> np.ndarray:
    """Component per function (an object array of names): ``lstm`` unless an alternative in ``medians`` (name ->
    median forecasts, ``(n_functions, n_steps)``; ``lstm`` must be present, an alternative may hold NaN rows where
    it is not offered) is eligible: a lower MAE by more than ``SWITCH_MIN`` and by more than ``SWITCH_Z`` standard
    errors of the paired per-interval differences of absolute errors, and, when ``interval_losses`` (name -> per
    function :func:`interval_loss` under the candidate's own calibration) are given, an interval loss no larger
    than the network's. The eligible alternative with the largest MAE gain serves.

    The second condition keeps a sharp median with the wrong spread from serving: the pool reads a high quantile,
    and a phase expert that tracks a timer's median but misses bursts can need a 20-fold wider spread to cover
    them, which in the log space is a 90% quantile of 10^5 and more invocations a minute."""
    base = np.abs(actual - medians["lstm"])
    n, steps = actual.shape
    choice = np.full(n, "lstm", dtype=object)
    best_gain = np.zeros(n)
    for name, pred in medians.items():
        if name == "lstm":
            continue
        diff = np.abs(actual - pred) - base  # negative where the alternative is closer
        mean = diff.mean(axis=1)
        se = diff.std(axis=1, ddof=1) / np.sqrt(steps) if steps > 1 else np.zeros(n)
        better = np.isfinite(mean) & (mean < -SWITCH_MIN) & (mean + SWITCH_Z * se < 0) & (-mean > best_gain)
        if interval_losses is not None:
            better &= interval_losses[name] <= interval_losses["lstm"]
        choice[better] = name
        best_gain[better] = -mean[better]
    return choice


def interval_loss(actual: np.ndarray, center: np.ndarray, std: np.ndarray, scale: np.ndarray, space: str) -> np.ndarray:
    """Per function, the mean pinball loss (counts) of the two ends of the central 90% interval of normal
    working-space forecasts: a proper score of the interval (its interval score times 0.05), which charges width
    and misses alike. NaN rows stay NaN."""
    lower, upper = normal_interval(center, std, 0.9)
    lo_q, hi_q = tail_levels(0.9)
    ends = ((from_working(lower, scale, space), lo_q), (from_working(upper, scale, space), hi_q))
    return sum((pinball_loss(actual, b, q, axis=1) for b, q in ends), np.zeros(actual.shape[0]))


def candidates_as_served(
    actual: np.ndarray,
    centers: Mapping[str, np.ndarray],
    spreads: Mapping[str, np.ndarray],
    scale: np.ndarray,
    space: str,
    calibration: str = "pit",
    quantile_head: bool = False,
) -> tuple[dict[str, np.ndarray], ...]:
    """Each candidate component as it would serve every function, from its validation ``centers`` (working space;
    NaN rows where it is not offered) and spread variances: ``(noise, raw std, own factor, interval loss)``, each a
    dict over :data:`COMPONENTS`. The noise variance is what its spread misses (its mean squared residual; 0 for the
    phase expert, whose same-phase spread is its whole uncertainty, and for a quantile head's network); the own
    factor calibrates the function alone (:func:`~aquatope.forecast.calibration.own_factors`); the interval loss
    is :func:`interval_loss` at that factor."""
    noise, raw, own, loss = {}, {}, {}, {}
    for k in COMPONENTS:
        noise[k] = np.mean((to_working(actual, scale, space) - centers[k]) ** 2, axis=1)
        if k == "phase" or (k == "lstm" and quantile_head):
            noise[k] = np.zeros_like(noise[k])
        raw[k] = np.sqrt(component_variance(k, spreads[k], noise[k]))
        own[k] = np.full(actual.shape[0], np.nan)
        ok = np.all(np.isfinite(centers[k]), axis=1)
        own[k][ok] = own_factors(actual[ok], centers[k][ok], raw[k][ok], scale[ok], space, calibration)
        loss[k] = interval_loss(actual, centers[k], own[k][:, None] * raw[k], scale, space)
    return noise, raw, own, loss


def served_figures(
    actual: np.ndarray,
    center: np.ndarray,
    std: np.ndarray,
    raw_std: np.ndarray,
    moving_average: np.ndarray,
    scale: np.ndarray,
    space: str,
) -> dict[str, np.ndarray]:
    """Per-function figures (:data:`FIGURES`) of normal working-space forecasts against ``actual`` counts.

    ``std`` is calibrated, ``raw_std`` before calibration; ``moving_average`` the MA forecasts in counts. All
    arrays ``(n_functions, n_steps)``; ``scale`` ``(n_functions,)``.
    """
    median = from_working(center, scale, space)
    out = {"mae": np.abs(actual - median).mean(axis=1), "moving_average_mae": np.abs(actual - moving_average).mean(1)}
    for lv in CENTRAL_LEVELS:
        out[f"coverage_{round(100 * lv)}"] = _coverage(actual, center, std, scale, space, lv)
    out["raw_coverage_90"] = _coverage(actual, center, raw_std, scale, space, 0.9)
    out["pit_coverage_90"] = working_pit_coverage(actual, center, std, scale, space).mean(axis=1)
    levels = sorted({0.5, *(q for lv in CENTRAL_LEVELS for q in tail_levels(lv))})
    losses = [
        pinball_loss(actual, from_working(center + float(ndtri(q)) * std, scale, space), q, axis=1) for q in levels
    ]
    out["pinball"] = np.mean(losses, axis=0)
    return out


def _coverage(
    actual: np.ndarray, center: np.ndarray, std: np.ndarray, scale: np.ndarray, space: str, level: float
) -> np.ndarray:
    lower, upper = normal_interval(center, std, level)
    lo, hi = from_working(lower, scale, space), from_working(upper, scale, space)
    return coverage(actual, lo, hi, axis=1)


@dataclass
class ValidationReport:
    """Validation-split figures of the served forecasts (after the component choice and calibration) on the
    functions a model serves; ``coverage`` is keyed by central level. ``by_class`` and ``by_component`` hold, per
    rate class and per component, ``functions`` and the mean over those functions of each of :data:`FIGURES`."""

    usable: bool
    reason: str = ""
    functions: int = 0
    coverage: dict[float, float] = field(default_factory=dict)
    raw_coverage_90: float = float("nan")
    pit_coverage_90: float = float("nan")
    pinball: float = float("nan")
    mae: float = float("nan")
    moving_average_mae: float = float("nan")
    components: dict[str, int] = field(default_factory=dict)
    by_class: dict[str, dict[str, float]] = field(default_factory=dict)
    by_component: dict[str, dict[str, float]] = field(default_factory=dict)
    std_scale: dict[str, float] = field(default_factory=dict)
    own_scale_functions: int = 0
    interval_vetoed: int = 0
    final_loss: float = float("nan")
    train_time_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["coverage"] = {str(k): v for k, v in self.coverage.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ValidationReport:
        cov = data.get("coverage", {})
        kw = {**data, "coverage": {float(k): float(v) for k, v in dict(cov).items()}}  # type: ignore[call-overload]
        return cls(**kw)  # type: ignore[arg-type]


def summarize(
    figures: Mapping[str, np.ndarray],
    components: Sequence[str] | np.ndarray,
    rate_class: np.ndarray,
    own_scale: np.ndarray,
    **model_wide: object,
) -> ValidationReport:
    """The report over the functions whose per-function ``figures``, ``components``, ``rate_class`` (indices into
    :data:`~aquatope.forecast.metrics.RATE_CLASSES`) and ``own_scale`` flags are given; ``model_wide``: the fields
    that describe the whole model (``usable``, ``reason``, ``std_scale``, ``final_loss``, ``train_time_s``)."""
    comps = [str(c) for c in components]
    classes = [RATE_CLASSES[int(k)] for k in rate_class]

    def mean_of(name: str) -> float:
        v = np.asarray(figures.get(name, []), dtype=float)
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    return ValidationReport(
        functions=len(comps),
        coverage={lv: mean_of(f"coverage_{round(100 * lv)}") for lv in CENTRAL_LEVELS},
        raw_coverage_90=mean_of("raw_coverage_90"),
        pit_coverage_90=mean_of("pit_coverage_90"),
        pinball=mean_of("pinball"),
        mae=mean_of("mae"),
        moving_average_mae=mean_of("moving_average_mae"),
        components={c: comps.count(c) for c in COMPONENTS if c in comps},
        by_class=grouped_figures(classes, figures, RATE_CLASSES) if comps else {},
        by_component=grouped_figures(comps, figures, COMPONENTS) if comps else {},
        own_scale_functions=int(np.count_nonzero(own_scale)),
        interval_vetoed=int(np.count_nonzero(np.nan_to_num(figures.get("interval_vetoed", np.zeros(0))))),
        **model_wide,  # type: ignore[arg-type]
    )


@dataclass
class FittedState:
    """Per-function arrays of a fitted model (rows = functions, in the fit history's order) and model-wide facts."""

    scale: np.ndarray
    rate_class: np.ndarray
    components: np.ndarray  # object array of COMPONENTS names
    period: np.ndarray
    noise_var: np.ndarray
    std_scale: np.ndarray
    own_scale: np.ndarray
    figures: dict[str, np.ndarray]
    model_wide: dict[str, Any] = field(default_factory=dict)

    def rows(self, idx: np.ndarray) -> FittedState:
        per_fn = {k: v[idx] for k, v in vars(self).items() if isinstance(v, np.ndarray)}
        return FittedState(**per_fn, figures={k: v[idx] for k, v in self.figures.items()}, model_wide=self.model_wide)

    def report(self) -> ValidationReport:
        return summarize(self.figures, self.components, self.rate_class, self.own_scale, **self.model_wide)
