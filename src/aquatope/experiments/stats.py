"""Statistics of a study: per-workflow and per-system figures with paired bootstrap intervals, cost over the lower
bound, Pareto fronts, cost at iso-QoS, and the claims' verdicts.

**Pairs.** Runs of different systems with the same scenario, workflow, seed and window saw the same arrivals and
random streams. Intervals are 95% percentile-bootstrap intervals over the (seed, window) pairs, resampled with the
SAME indices for every system and workflow (paired), ``B`` resamples from a fixed seed: with 3 seeds and 1 window
they are wide, and say so.

**Per run** figures come from :mod:`aquatope.metrics` (``window_violation_rate`` is the 1-minute window SLO).
``cost_over_lower_bound`` is a run's cost over the ``lower-bound`` run of its pair. A system's figure over
workflows is the mean of rates and ratios (geometric mean for ratios) and the sum of costs.

**Pareto and iso-QoS.** A system's points are its knob values (``pareto`` studies) with the total cost over
workflows and the mean window violation rate; its front keeps the points no other point beats on both. The *cost at
iso-QoS* ``x`` is the least total cost among its points whose window violation rate is at most ``x`` (None when
none is).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LOWER_BOUND = "lower-bound"
FIGURES = (
    "window_violation_rate",
    "window_violation_rate_5m",
    "qos_violation_rate",
    "p95_over_target",
    "p99_over_target",
    "cost_usd",
    "cold_start_rate",
    "tuning_evaluations",
)
COST_PARTS = ("execution", "idle", "requests", "tuning")
ISO_LEVELS = {"1%": 0.01, "5%": 0.05}
BOOTSTRAP = 1000


def run_figures(record: dict[str, Any]) -> dict[str, float]:
    """The figures of one run record (NaN where a figure is missing)."""
    m = record["metrics"]
    out = {k: _num(m.get(k)) for k in FIGURES if k in m}
    out["cost_usd"] = _num(m["cost_usd"]["total"])
    for part in COST_PARTS:
        out[f"cost_{part}_usd"] = _num(m["cost_usd"].get(part))
    out["tuning_evaluations"] = _num(record.get("tuning_evaluations", 0))
    out["fallback_ticks"] = _num(record.get("fallback_ticks", 0))
    return out


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and value is not None else math.nan


@dataclass(frozen=True)
class Table:
    """Runs indexed as ``values[(scenario, system, knob)][workflow][figure]`` -> array over ``pairs``."""

    pairs: tuple[tuple[int, str], ...]
    values: dict[tuple[str, str, float | None], dict[str, dict[str, np.ndarray]]]
    errors: list[str]

    def systems(self, scenario: str) -> list[tuple[str, float | None]]:
        return sorted({(s, k) for (sc, s, k) in self.values if sc == scenario}, key=lambda x: (x[0], x[1] or 0.0))

    def workflow(self, name: str) -> Table:
        """The same table restricted to one workflow (claims per workflow)."""
        values = {key: {name: by_wf[name]} for key, by_wf in self.values.items() if name in by_wf}
        return Table(self.pairs, values, self.errors)


def tabulate(records: Sequence[dict[str, Any]]) -> Table:
    """Index run records by system and workflow over (seed, window) pairs; add ``cost_over_lower_bound``."""
    ok = [r for r in records if "error" not in r]
    errors = [f"{r['key']}: {r['error']}" for r in records if "error" in r]
    pairs = tuple(sorted({(r["spec"]["seed"], r["spec"]["window"]) for r in ok}))
    index = {p: i for i, p in enumerate(pairs)}
    lower: dict[tuple[str, str, int, str], float] = {}
    for r in ok:
        s = r["spec"]
        if s["system"] == LOWER_BOUND and s.get("knob") is None:  # the verified bound, not a --pareto rung
            lower[(s["scenario"], s["workflow"], s["seed"], s["window"])] = r["metrics"]["cost_usd"]["total"]
    values: dict[tuple[str, str, float | None], dict[str, dict[str, np.ndarray]]] = {}
    for r in ok:
        s = r["spec"]
        figs = run_figures(r)
        lb = lower.get((s["scenario"], s["workflow"], s["seed"], s["window"]))
        figs["cost_over_lower_bound"] = figs["cost_usd"] / lb if lb else math.nan
        per = values.setdefault((s["scenario"], s["system"], s["knob"]), {}).setdefault(s["workflow"], {})
        i = index[(s["seed"], s["window"])]
        for k, v in figs.items():
            per.setdefault(k, np.full(len(pairs), np.nan))[i] = v
    return Table(pairs, values, errors)


def resamples(n_pairs: int, b: int = BOOTSTRAP, seed: int = 0) -> np.ndarray:
    """``(b, n_pairs)`` bootstrap indices, the same for every system (paired)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_pairs, size=(b, n_pairs)) if n_pairs else np.zeros((b, 0), dtype=int)


def interval(stat: Callable[[np.ndarray], np.ndarray], idx: np.ndarray) -> tuple[float, list[float | None]]:
    """(statistic on all pairs, [2.5%, 97.5%] of the statistic over the resamples ``idx``). ``stat`` is vectorised:
    it takes ``(m, n_pairs)`` row indices and returns ``m`` values."""
    full = float(stat(np.arange(idx.shape[1])[None, :])[0])
    boots = np.asarray(stat(idx), dtype=float)
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return full, [None, None]
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return full, [float(lo), float(hi)]


def nanmean_rows(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean over each row of ``values[rows]`` ignoring NaN (NaN where a row has no value), shape ``(m,)``."""
    picked = values[rows]
    ok = np.isfinite(picked)
    n = ok.sum(axis=1)
    total = np.where(ok, picked, 0.0).sum(axis=1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _geo_rows(arrays: list[np.ndarray], rows: np.ndarray) -> np.ndarray:
    logs = [np.log(np.where(a > 0, a, np.nan)) for a in arrays]
    return np.exp(
        nanmean_rows(np.concatenate(logs), np.concatenate([rows + i * len(a) for i, a in enumerate(arrays)], axis=1))
    )


def _mean_of(values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rows: nanmean_rows(values, rows)


def workflow_summary(per: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, Any]:
    """One system on one workflow: each figure's mean over pairs with its interval."""
    out: dict[str, Any] = {}
    for k, arr in per.items():
        mean, ci = interval(_mean_of(arr), idx)
        out[k] = mean
        out[f"{k}_ci95"] = ci
    out["runs"] = int(np.sum(np.isfinite(per["cost_usd"])))
    return out


def over_workflows(
    by_wf: dict[str, dict[str, np.ndarray]], figure: str, how: str
) -> Callable[[np.ndarray], np.ndarray]:
    """A vectorised statistic of ``figure`` over workflows: ``sum`` or ``mean`` of the per-workflow means, or the
    ``geo``metric mean of every run's value."""
    arrays = [by_wf[w][figure] for w in sorted(by_wf) if figure in by_wf[w]]

    def stat(rows: np.ndarray) -> np.ndarray:
        if not arrays:
            return np.full(rows.shape[0], np.nan)
        if how == "geo":
            return _geo_rows(arrays, rows)
        means = np.stack([nanmean_rows(a, rows) for a in arrays])
        if how == "sum":
            return means.sum(axis=0)  # NaN when a workflow has no value
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.where(np.isfinite(means), means, np.nan), axis=0) if means.size else means

    return stat


def system_summary(by_wf: dict[str, dict[str, np.ndarray]], idx: np.ndarray) -> dict[str, Any]:
    """One system over workflows: mean rates, geometric-mean ratios, summed costs, each with an interval."""
    out: dict[str, Any] = {"workflows": len(by_wf)}
    plan = {
        "window_violation_rate": "mean",
        "window_violation_rate_5m": "mean",
        "qos_violation_rate": "mean",
        "p95_over_target": "geo",
        "p99_over_target": "geo",
        "cold_start_rate": "mean",
        "cost_usd": "sum",
        "cost_over_lower_bound": "geo",
        "tuning_evaluations": "sum",
        "fallback_ticks": "sum",
        **{f"cost_{p}_usd": "sum" for p in COST_PARTS},
    }
    for figure, how in plan.items():
        mean, ci = interval(over_workflows(by_wf, figure, how), idx)
        out[figure] = mean
        out[f"{figure}_ci95"] = ci
    out["cost_split_usd"] = {p: out[f"cost_{p}_usd"] for p in COST_PARTS}
    return out


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The points (``cost_usd``, ``window_violation_rate``) that no other point beats on both (sorted by cost)."""
    ok = [p for p in points if math.isfinite(p["cost_usd"]) and math.isfinite(p["window_violation_rate"])]
    ok.sort(key=lambda p: (p["cost_usd"], p["window_violation_rate"]))
    front, best = [], math.inf
    for p in ok:
        if p["window_violation_rate"] < best:
            front.append(p)
            best = p["window_violation_rate"]
    return front


def iso_qos_cost(points: list[tuple[float, float]], level: float) -> float:
    """The least cost among (cost, window violation rate) points within ``level``; NaN when none is."""
    costs = [c for c, w in points if math.isfinite(c) and math.isfinite(w) and w <= level + 1e-12]
    return min(costs) if costs else math.nan


def iso_qos_rows(costs: np.ndarray, violations: np.ndarray, level: float) -> np.ndarray:
    """:func:`iso_qos_cost` per resample: ``costs`` and ``violations`` are ``(n_points, m)``; returns ``(m,)``."""
    if costs.size == 0:
        return np.full(costs.shape[1] if costs.ndim == 2 else 0, np.nan)
    ok = np.isfinite(costs) & np.isfinite(violations) & (violations <= level + 1e-12)
    best = np.where(ok, costs, np.inf).min(axis=0)
    return np.where(np.isfinite(best), best, np.nan)
