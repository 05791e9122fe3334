"""From a study's run records to its results: figures per system and workflow with intervals, Pareto fronts, cost at
iso-QoS, and the verdicts on Aquatope's claims (:mod:`aquatope.experiments.stats` defines the statistics).

**Claims, as tested** (each with a paired bootstrap interval; PASS when the whole interval meets the target, FAIL
when none of it does, INCONCLUSIVE otherwise):

1. *Cost at iso-QoS*: keeping window violations at most 1% (and 5%), Aquatope costs at least 30% less than the best
   other non-reference system: ``cost(aquatope) / min cost(other) <= 0.7``.
2. *Violations at equal cost*: at the cost of the cheapest baseline that meets QoS (its per-request violation share
   within the allowance, ``1 - percentile``, on every workflow, at its default knob), Aquatope's best point that
   costs no more has at least 5x fewer window violations.
3. *The advantage grows with uncertainty*: claim 1's cost ratio of the best other system over Aquatope increases
   from ``calm`` to ``shared`` to ``noisy`` (among the scenarios run); where no system reaches the iso-QoS level
   in two scenarios, claim 2's violation ratio is the measure (:data:`TREND_MEASURES`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.experiments.bound import LADDER
from aquatope.experiments.stats import (
    ISO_LEVELS,
    LOWER_BOUND,
    Table,
    interval,
    iso_qos_rows,
    over_workflows,
    pareto_front,
    resamples,
    system_summary,
    tabulate,
    workflow_summary,
)
from aquatope.experiments.systems import system_spec
from aquatope.prewarm import knob_for
from aquatope.workflow import load_workflow

AQUATOPE = "aquatope"
COST_TARGET = 0.7
VIOLATION_TARGET = 5.0
SCENARIO_ORDER = ("calm", "shared", "noisy")


def _key_name(system: str, knob: float | None) -> str:
    return system if knob is None else f"{system}@{knob:g}"


def _points(
    table: Table, scenario: str, system: str, rows: np.ndarray
) -> list[tuple[float | None, np.ndarray, np.ndarray]]:
    """(knob, total cost over workflows, mean window violation rate) of every knob value of ``system``; the two
    figures are vectors over the resamples ``rows`` ``(m, n_pairs)``."""
    out = []
    for (sc, s, knob), by_wf in table.values.items():
        if sc != scenario or s != system or not by_wf:
            continue
        cost = over_workflows(by_wf, "cost_usd", "sum")(rows)
        viol = over_workflows(by_wf, "window_violation_rate", "mean")(rows)
        out.append((knob, cost, viol))
    return out


def _all(table: Table) -> np.ndarray:
    return np.arange(len(table.pairs))[None, :]


def _iso(table: Table, scenario: str, system: str | None, level: float, rows: np.ndarray) -> np.ndarray:
    """Cost at iso-QoS ``level`` per resample, ``(m,)`` (NaN where no point is within the level)."""
    pts = _points(table, scenario, system, rows) if system else []
    if not pts:
        return np.full(rows.shape[0], np.nan)
    return iso_qos_rows(np.stack([c for _, c, _ in pts]), np.stack([w for _, _, w in pts]), level)


def _iso_stat(table: Table, scenario: str, system: str, level: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rows: _iso(table, scenario, system, level, rows)


def _contenders(table: Table, scenario: str) -> list[str]:
    """Systems that are neither Aquatope nor references nor its ablations (the baselines)."""
    names = sorted({s for (sc, s, _) in table.values if sc == scenario})
    return [s for s in names if s != AQUATOPE and not s.startswith("aquatope-") and not system_spec(s).reference]


def _verdict(ci: list[float | None], good: Any) -> str:
    lo, hi = ci
    if lo is None or hi is None:
        return "INCONCLUSIVE"
    if good(lo) and good(hi):
        return "PASS"
    if not good(lo) and not good(hi):
        return "FAIL"
    return "INCONCLUSIVE"


def iso_claim(table: Table, scenario: str, idx: np.ndarray) -> dict[str, Any]:
    """Claim 1 at each iso-QoS level (module docstring)."""
    others = _contenders(table, scenario)
    out: dict[str, Any] = {}
    for label, level in ISO_LEVELS.items():
        if not others:  # nothing to compare with: no verdict (an empty comparison is not a win)
            out[label] = {"aquatope_cost_usd": None, "best_other": None, "best_other_cost_usd": None, "ratio": None,
                          "ratio_ci95": [None, None], "target": f"<= {COST_TARGET}", "verdict": "INCONCLUSIVE",
                          "note": "no baseline in the study"}  # fmt: skip
            continue

        def ratio(rows: np.ndarray, level: float = level) -> np.ndarray:
            mine = _iso(table, scenario, AQUATOPE, level, rows)
            theirs = np.stack([_iso(table, scenario, s, level, rows) for s in others]) if others else None
            best = (
                np.full(rows.shape[0], np.nan)
                if theirs is None
                else np.nanmin(np.where(np.isfinite(theirs), theirs, np.inf), axis=0)
            )
            best = np.where(np.isfinite(best), best, np.nan)
            # aquatope never within the level: infinitely worse; nobody else is: aquatope wins outright; nobody at
            # all: no comparison on that resample (NaN)
            lost = np.where(np.isfinite(best), np.inf, np.nan)
            return np.where(~np.isfinite(mine), lost, np.where(np.isfinite(best), mine / best, 0.0))

        point, ci = interval(ratio, idx)
        full = {s: float(_iso(table, scenario, s, level, _all(table))[0]) for s in others}
        best_other = min(full, key=lambda s: _nan_last(full[s]), default=None)
        if math.isnan(point):
            out[label] = {"aquatope_cost_usd": None, "best_other": None, "best_other_cost_usd": None, "ratio": None,
                          "ratio_ci95": [None, None], "target": f"<= {COST_TARGET}", "verdict": "INCONCLUSIVE",
                          "note": "no system keeps window violations within the level at any knob value run (--pareto sweeps them)"}  # fmt: skip
            continue
        out[label] = {
            "aquatope_cost_usd": _finite(float(_iso(table, scenario, AQUATOPE, level, _all(table))[0])),
            "best_other": best_other,
            "best_other_cost_usd": _finite(full[best_other]) if best_other else None,
            "ratio": _finite(point),
            "ratio_ci95": ci,
            "target": f"<= {COST_TARGET}",
            "verdict": _verdict(ci, lambda r: r <= COST_TARGET) if math.isfinite(point) else "FAIL",
        }
        if not math.isfinite(point):
            out[label]["note"] = f"aquatope never keeps window violations within the level; {best_other} does"
    return out


def equal_cost_claim(table: Table, scenario: str, idx: np.ndarray) -> dict[str, Any]:
    """Claim 2 (module docstring)."""
    meeting = []
    for s in _contenders(table, scenario):
        by_wf = table.values.get((scenario, s, None))
        if not by_wf:
            continue
        allowed = {w: 1 - load_workflow(w).qos.quantile for w in by_wf}
        if all(np.nanmean(v["qos_violation_rate"]) <= allowed[w] for w, v in by_wf.items()):
            meeting.append((float(over_workflows(by_wf, "cost_usd", "sum")(_all(table))[0]), s))
    if not meeting:
        return {"verdict": "INCONCLUSIVE", "reason": "no baseline meets QoS on every workflow"}
    cost_b, base = min(meeting)
    b = table.values[(scenario, base, None)]

    def ratio(rows: np.ndarray) -> np.ndarray:
        w_base = over_workflows(b, "window_violation_rate", "mean")(rows)
        budget = over_workflows(b, "cost_usd", "sum")(rows)
        pts = _points(table, scenario, AQUATOPE, rows)
        if not pts:
            return np.zeros(rows.shape[0])
        costs, viols = np.stack([c for _, c, _ in pts]), np.stack([w for _, _, w in pts])
        mine = np.where(costs <= budget[None, :] + 1e-12, viols, np.inf).min(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(mine > 0, w_base / mine, np.where(w_base > 0, np.inf, 1.0))
        return np.where(np.isfinite(mine), r, 0.0)  # 0: aquatope has no point that cheap

    point, ci = interval(ratio, idx)
    full = _points(table, scenario, AQUATOPE, _all(table))
    cheap = [(float(c[0]), float(w[0])) for _, c, w in full if c[0] <= cost_b + 1e-12]
    return {
        "baseline": base,
        "baseline_cost_usd": cost_b,
        "aquatope_point": {"cost_usd": min(cheap)[0], "window_violation_rate": min(w for _, w in cheap)}
        if cheap
        else None,
        "ratio": _finite(point),
        "ratio_ci95": ci,
        "target": f">= {VIOLATION_TARGET}",
        "verdict": _verdict(ci, lambda r: r >= VIOLATION_TARGET),
    }


def _knob_value(system: str, knob: float | None) -> float | None:
    """The knob's value (the default's, for a run at the default: a reference sizes for the target itself, or as
    verified, :mod:`aquatope.experiments.bound`)."""
    if knob is not None:
        return knob
    spec = system_spec(system)
    if spec.reference:
        return None
    try:
        return knob_for(spec.pool).default
    except InputError:
        return None


def _nan_last(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def scenario_results(table: Table, scenario: str) -> dict[str, Any]:
    """Everything ``results.json`` says about one scenario."""
    idx = resamples(len(table.pairs))
    per_workflow: dict[str, dict[str, Any]] = {}
    systems: dict[str, Any] = {}
    pareto: dict[str, list[dict[str, Any]]] = {}
    iso: dict[str, dict[str, Any]] = {}
    least: dict[str, dict[str, Any]] = {}
    for system, knob in table.systems(scenario):
        by_wf = table.values[(scenario, system, knob)]
        name = _key_name(system, knob)
        for w, per in by_wf.items():
            per_workflow.setdefault(w, {})[name] = workflow_summary(per, idx)
        if knob is None:
            systems[system] = system_summary(by_wf, idx)
    for system in sorted({s for s, _ in table.systems(scenario)}):
        points = [
            {"knob": _knob_value(system, k), "cost_usd": float(c[0]), "window_violation_rate": float(w[0])}
            for k, c, w in _points(table, scenario, system, _all(table))
        ]
        pareto[system] = sorted(points, key=lambda p: p["cost_usd"])
        if points:  # the best QoS the system reached at any knob value run, and what it cost there
            best = min(points, key=lambda p: (p["window_violation_rate"], p["cost_usd"]))
            least[system] = {k: best[k] for k in ("knob", "window_violation_rate", "cost_usd")}
        iso[system] = {}
        for label, lvl in ISO_LEVELS.items():
            point, ci = interval(_iso_stat(table, scenario, system, lvl), idx)
            iso[system][label] = _finite(point)
            iso[system][f"{label}_ci95"] = ci
    out: dict[str, Any] = {
        "systems": systems,
        "per_workflow": per_workflow,
        "pareto": pareto,
        "pareto_fronts": {s: pareto_front(p) for s, p in pareto.items()},
        "iso_qos": iso,
        "least_violations": least,
        "pairs": [list(p) for p in table.pairs],
    }
    if (scenario, AQUATOPE, None) in table.values:
        out["claims"] = {
            "iso_qos": iso_claim(table, scenario, idx),
            "equal_cost": equal_cost_claim(table, scenario, idx),
        }
        # per workflow too: a level that one workflow cannot reach (for any system) leaves the pooled claim
        # without a verdict, and the claim may hold on one workflow and fail on another
        out["claims_by_workflow"] = {}
        for w in out["per_workflow"]:
            tw = table.workflow(w)
            if (scenario, AQUATOPE, None) in tw.values:
                out["claims_by_workflow"][w] = {
                    "iso_qos": iso_claim(tw, scenario, idx),
                    "equal_cost": equal_cost_claim(tw, scenario, idx),
                }
    return out


TREND_MEASURES = ("iso-QoS 1% cost", "iso-QoS 5% cost", "violations at equal cost")
"""Claim 3's measures of Aquatope's advantage, in order of preference (fixed before any study was run with them):
the best other system's iso-QoS cost over Aquatope's at 1%, then at 5%, then claim 2's ratio of the baseline's
window violations to Aquatope's at the baseline's cost. The headline is the first measured in two scenarios or
more; every measure is reported."""


def _advantage_of(claims: dict[str, Any], measure: str) -> tuple[float | None, list[float | None]]:
    """One scenario's advantage (above 1: Aquatope is better) and its 95% interval under ``measure``."""
    if measure == "violations at equal cost":
        c = claims.get("equal_cost", {})
        r, ci = c.get("ratio"), c.get("ratio_ci95") or [None, None]
        return (r if r else None), list(ci)  # 0: aquatope had no point that cheap (no advantage to speak of)
    c = claims.get("iso_qos", {}).get(measure.split()[1], {})
    r, (lo, hi) = c.get("ratio"), c.get("ratio_ci95") or [None, None]
    inv = [1.0 / hi if hi else None, 1.0 / lo if lo else None]  # an interval on the ratio, inverted
    return ((1.0 / r) if r else None), inv


def advantage_trend(per_scenario: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Claim 3: Aquatope's advantage per scenario in order of uncertainty, under each of :data:`TREND_MEASURES`;
    PASS when the point estimates grow strictly from scenario to scenario (intervals reported next to them)."""
    ordered = [s for s in SCENARIO_ORDER if s in per_scenario] + [s for s in per_scenario if s not in SCENARIO_ORDER]
    measures: dict[str, dict[str, Any]] = {}
    for m in TREND_MEASURES:
        got = {s: _advantage_of(per_scenario[s].get("claims", {}), m) for s in ordered}
        known = [v for s in ordered if s in SCENARIO_ORDER and (v := got[s][0]) is not None]
        if len(known) < 2:
            verdict = "INCONCLUSIVE"
        else:
            verdict = "PASS" if all(b > a for a, b in itertools.pairwise(known)) else "FAIL"
        measures[m] = {
            "advantage": {s: got[s][0] for s in ordered},
            "advantage_ci95": {s: got[s][1] for s in ordered},
            "scenarios_measured": len(known),
            "verdict": verdict,
        }
    headline = next((m for m in TREND_MEASURES if measures[m]["scenarios_measured"] >= 2), TREND_MEASURES[0])
    return {
        "measure": headline,
        "advantage": measures[headline]["advantage"],
        "advantage_ci95": measures[headline]["advantage_ci95"],
        "order": ordered,
        "verdict": measures[headline]["verdict"],
        "measures": measures,
    }


def analyze(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Results of a study from its run records (module docstring)."""
    table = tabulate(records)
    scenarios = list(dict.fromkeys(r["spec"]["scenario"] for r in records if "spec" in r))
    per_scenario = {s: scenario_results(table, s) for s in scenarios}
    out: dict[str, Any] = {"scenarios": per_scenario, "errors": table.errors, "qos_misses": qos_misses(records)}
    out["lower_bound"] = lower_bound_runs(records)
    out["forecasts"] = forecast_decisions(records)
    if len(per_scenario) > 1:
        out["advantage_trend"] = advantage_trend(per_scenario)
    return out


def lower_bound_runs(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How the lower bound was verified (:mod:`aquatope.experiments.bound`): the sizing target chosen per run and
    the runs where no rung kept the level (listed, like every other per-seed failure)."""
    chosen, unmet = [], []
    for r in records:
        lb = r.get("lower_bound")
        if "error" in r or not lb:
            continue
        s = r["spec"]
        chosen.append(lb["target_factor"])
        if not lb["met"]:
            unmet.append(f"{s['scenario']} {s['workflow']} seed {s['seed']} {s['window']}: best rung "
                         f"{lb['target_factor']:g} x the target, {r['metrics']['window_violation_rate']:.1%} windows")  # fmt: skip
    level = next((r["lower_bound"]["level"] for r in records if r.get("lower_bound")), None)
    return {"runs": len(chosen), "level": level, "ladder": list(LADDER), "target_factors": chosen, "unmet": unmet}


def forecast_decisions(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per system that reads forecasts, over its runs at the default knob: what served the workflows' functions
    (component counts summed over runs), how many of them the 90% interval decided (``interval_vetoed``; counted
    over the runs that record it), the pool's fallback ticks, and the runs whose forecaster failed at least once."""
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        comps = r.get("forecaster_components")
        if "error" in r or comps is None or r["spec"].get("knob") is not None:
            continue
        d = out.setdefault(
            r["spec"]["system"],
            {"runs": 0, "components": {}, "interval_vetoed": 0, "runs_recording_it": 0, "fallback_ticks": 0},
        )
        d["runs"] += 1
        for k, v in comps.items():
            d["components"][k] = d["components"].get(k, 0) + int(v)
        if r.get("forecaster_interval_vetoed") is not None:
            d["interval_vetoed"] += int(r["forecaster_interval_vetoed"])
            d["runs_recording_it"] += 1
        d["fallback_ticks"] += int(r.get("fallback_ticks") or 0)
        if r.get("forecast_failures"):
            d.setdefault("failed_runs", []).append(f"{r['spec']['workflow']} seed {r['spec']['seed']}")
    return out


def qos_misses(records: Sequence[dict[str, Any]]) -> list[str]:
    """Every run (default knob) that missed its workflow's QoS (per-request violations over the allowance): per-seed
    failures are listed, not hidden in means."""
    out = []
    for r in records:
        if "error" in r or r["spec"].get("knob") is not None or r["spec"]["system"] == LOWER_BOUND:
            continue
        allowed = 1 - load_workflow(r["spec"]["workflow"]).qos.quantile
        rate = r["metrics"]["qos_violation_rate"]
        if rate > allowed:
            s = r["spec"]
            out.append(f"{s['scenario']} {s['system']} {s['workflow']} seed {s['seed']} {s['window']}: {rate:.1%}")
    return out
