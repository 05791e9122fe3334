"""Fitting the interference model to trials of ``calibrate_interference.py`` and printing the figures.

Model: ``t = t0 (1 + a min(u, 1)) max(1, u)`` (see that script). Three views of the same trials:

* **contention** (``t0``, ``a``): least squares on the medians of bins of measured ``u``. ``a`` is identifiable only
  from bins below capacity: above it, every bin says ``t / u = t0 (1 + a)`` and nothing separates ``t0`` from ``a``.
  So the fit needs two bins below ``u = 0.95``; otherwise it says so and gives nothing (no made-up default).
* **processor sharing**: above capacity (bins with ``u > 1.05``) ``t = k u ** gamma`` and ``wall / CPU time =
  k' u ** gamma'``; processor sharing holds if ``gamma ~ 1`` (and ``k' ~ 1``: the handler waits for a CPU exactly
  ``u - 1`` of the time). The second form needs no ``t0``.
* **CPU time**: the handler's CPU time excludes its waits for a CPU, so against the busy share of the CPUs it shows
  the contention part ``t0 (1 + a min(u, 1))`` alone, per trial.
* **stress increment**: above capacity each 1-vCPU stress worker we add should lengthen the handler's wait factor
  by ``1 / cores``; unlike ``u``, that does not depend on how the background's tasks are grouped.
* **time-resolved**: ``log t_i = log t0 - log mean_k r(u_ik)`` over every 10 ms demand sample ``u_ik`` of trial ``i``
  (the model's rate applied to the instantaneous ``u`` rather than to the window's mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from _calib import Fit, least_squares, summary

BIN_WIDTH = 0.25
BELOW = 0.95  # a bin whose median u is below this is "below capacity"
ABOVE = 1.05


class TrialLike(Protocol):
    u: float
    duration_s: float
    cpu_s: float
    busy_share: float
    steal_share: float
    samples: int
    hist: dict[int, int]


@dataclass(frozen=True)
class Bin:
    u_center: float
    n: int
    u_median: float
    duration_median_s: float
    duration_q25_s: float
    duration_q75_s: float
    cpu_median_s: float
    wall_over_cpu: float
    busy_median: float
    steal_median: float


def bins_of(trials: Sequence[TrialLike]) -> list[Bin]:
    groups: dict[float, list[TrialLike]] = {}
    for t in trials:
        groups.setdefault(round(t.u / BIN_WIDTH) * BIN_WIDTH, []).append(t)
    out = []
    for center in sorted(groups):
        g = groups[center]
        d = summary([t.duration_s for t in g])
        out.append(
            Bin(
                center,
                d.n,
                summary([t.u for t in g]).median,
                d.median,
                d.q25,
                d.q75,
                summary([t.cpu_s for t in g]).median,
                summary([t.duration_s / t.cpu_s for t in g]).median,
                summary([t.busy_share for t in g]).median,
                summary([t.steal_share for t in g]).median,
            )
        )
    return out


def slowdown_model(u: np.ndarray, t0: float, a: float) -> np.ndarray:
    return t0 * (1 + a * np.minimum(u, 1.0)) * np.maximum(1.0, u)


def ps_model(u: np.ndarray, k: float, gamma: float) -> np.ndarray:
    return k * u**gamma


def _try(label: str, fn: Any, *args: Any) -> Fit | None:
    try:
        fit: Fit = fn(*args)
    except (ValueError, RuntimeError) as exc:
        print(f"   {label}: no fit ({exc})")
        return None
    return fit


def fit_contention(label: str, bins: Sequence[Bin], min_bin: int) -> Fit | None:
    used = [b for b in bins if b.n >= min_bin]
    below = [b for b in used if b.u_median < BELOW]
    if len(below) < 2:
        print(
            f"   {label}: not identifiable: {len(below)} bin(s) of >= {min_bin} trials below u = {BELOW} (needs 2); "
            "above capacity only t0 (1 + a) is measured"
        )
        return None
    u = [b.u_median for b in used]
    t = [b.duration_median_s for b in used]
    bounds = ([0.0, -0.9], [np.inf, 10.0])
    return _try(label, least_squares, label, slowdown_model, u, t, ("t0_s", "a"), (min(t), 0.1), bounds)


def cpu_model(busy: np.ndarray, t0: float, a: float) -> np.ndarray:
    return t0 * (1 + a * busy)


def fit_cpu_time(label: str, trials: Sequence[TrialLike]) -> Fit | None:
    """Contention alone: the handler's CPU time (waiting for a CPU excluded) against the busy share of the machine's
    CPUs (which is ``min(u, 1)`` when all demand is CPU-bound), one point per trial."""
    below = [t for t in trials if t.busy_share < 0.9]
    if len(below) < 3:
        print(f"   {label}: not identifiable: {len(below)} trial(s) with a busy share below 0.9 (needs 3)")
        return None
    busy = [t.busy_share for t in trials]
    cpu = [t.cpu_s for t in trials]
    bounds = ([0.0, -0.9], [np.inf, 10.0])
    return _try(label, least_squares, label, cpu_model, busy, cpu, ("t0_s", "a"), (min(cpu), 0.1), bounds)


def fit_ps(label: str, bins: Sequence[Bin], min_bin: int, ratio: bool) -> Fit | None:
    """``t = k u^gamma`` (or ``wall / CPU = k u^gamma`` if ``ratio``) on the bins above capacity."""
    above = [b for b in bins if b.n >= min_bin and b.u_median > ABOVE]
    if len(above) < 3:
        print(f"   {label}: only {len(above)} bin(s) above u = {ABOVE}, need 3")
        return None
    u = [b.u_median for b in above]
    y = [b.wall_over_cpu if ratio else b.duration_median_s for b in above]
    return _try(label, least_squares, label, ps_model, u, y, ("k", "gamma"), (y[0] / u[0], 1.0))


def line(x: np.ndarray, c: float, m: float) -> np.ndarray:
    return c + m * x


def fit_stress_increment(label: str, trials: Sequence[Any], cores: int) -> Fit | None:
    """Processor sharing seen through the controlled load alone: above capacity each stress CPU we add should
    lengthen the handler's wait factor (wall / CPU time) by ``1 / cores``, whatever the background does. Fits
    ``wall / CPU = c + m * level`` on the medians per (stress kind, level) block, blocks above ``u = ABOVE`` only;
    ``m * cores`` (reported as ``weight``) is ~1 when an added 1-vCPU neighbour takes its equal share."""
    groups: dict[tuple[str, float], list[Any]] = {}
    for t in trials:
        groups.setdefault((t.stress, t.level_vcpu), []).append(t)
    pts = [
        (lv, summary([t.duration_s / t.cpu_s for t in g]).median)
        for (kind, lv), g in sorted(groups.items())
        if summary([t.u for t in g]).median > ABOVE
    ]
    if len({lv for lv, _ in pts}) < 3:
        print(f"   {label}: fewer than 3 stress levels above capacity")
        return None
    fit = _try(label, least_squares, label, line, [p[0] for p in pts], [p[1] for p in pts], ("c", "m"), (1.0, 0.5))
    if fit is None:
        return None
    params = {**fit.params, "weight": fit.params["m"] * cores}
    stderr = {**fit.stderr, "weight": fit.stderr["m"] * cores}
    return Fit(fit.model, params, stderr, fit.r2, fit.rms, fit.points)


def fit_time_resolved(label: str, trials: Sequence[TrialLike], cores: int) -> Fit | None:
    below = sum(c for t in trials for k, c in t.hist.items() if k < cores) / max(1, sum(t.samples for t in trials))
    if below < 0.05:
        print(f"   {label}: not identifiable: only {below:.1%} of the demand samples are below capacity")
        return None
    hists = [t.hist for t in trials]

    def model(idx: np.ndarray, log_t0: float, a: float) -> np.ndarray:
        out = []
        for i in idx.astype(int):
            u = np.array([k / cores for k in hists[i]], dtype=float)
            w = np.array(list(hists[i].values()), dtype=float)
            r = 1.0 / ((1 + a * np.minimum(u, 1.0)) * np.maximum(1.0, u))
            out.append(log_t0 - math.log(float((w * r).sum() / w.sum())))
        return np.array(out)

    y = [math.log(t.duration_s) for t in trials]
    bounds = ([-10.0, -0.9], [10.0, 10.0])
    return _try(label, least_squares, label, model, np.arange(len(trials)), y, ("log_t0", "a"), (min(y), 0.1), bounds)


def print_bins(name: str, bins: Sequence[Bin], fit: Fit | None, min_bin: int) -> None:
    t0 = fit.params["t0_s"] if fit else math.nan
    print(
        f"== {name}: time against measured u (bins of width {BIN_WIDTH}); '*' = fewer than {min_bin} trials (not fitted)"
    )
    print(
        f"   t/max(1,u) = the contention part t0 (1 + a min(u, 1)); slowdown = t / t0 (fitted t0 = {t0 * 1000:.0f} ms)"
    )
    print(
        f"   {'u bin':>6} {'n':>4} {'u med':>6} {'busy':>5} {'steal':>6} {'t ms':>6} {'IQR ms':>11} "
        f"{'CPU ms':>6} {'wall/CPU':>8} {'t/max(1,u)':>10} {'slowdown':>8} {'model':>6}"
    )
    for b in bins:
        model = slowdown_model(np.array([b.u_median]), 1.0, fit.params["a"])[0] if fit else math.nan
        mark = "*" if b.n < min_bin else " "
        print(
            f"  {mark}{b.u_center:>5.2f} {b.n:>4} {b.u_median:>6.2f} {b.busy_median:>5.2f} {b.steal_median:>6.3f} "
            f"{b.duration_median_s * 1000:>6.0f} {b.duration_q25_s * 1000:>5.0f}..{b.duration_q75_s * 1000:<5.0f} "
            f"{b.cpu_median_s * 1000:>6.0f} {b.wall_over_cpu:>8.2f} "
            f"{b.duration_median_s / max(1.0, b.u_median) * 1000:>10.0f} {b.duration_median_s / t0:>8.2f} {model:>6.2f}"
        )
