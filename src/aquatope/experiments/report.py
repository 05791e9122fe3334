"""An evaluation's outputs: ``results.json``, ``report.md`` (hypotheses, set-up, verdicts, tables) and the plots
(:mod:`aquatope.experiments.plots`), written as a set with an :class:`~aquatope.jsonio.OutputPlan`: staged first,
then moved into place, so that they appear together or not at all (a full disk on the way leaves the old ones)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from aquatope.jsonio import OutputPlan


def pct(x: Any) -> str:
    return "—" if not _finite(x) else f"{x:.1%}"


def usd(x: Any) -> str:
    return "—" if not _finite(x) else f"{x:.2f}"


def ratio(x: Any) -> str:
    if not _finite(x):
        return "—"
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.2f}"


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


def ci(v: Any) -> str:
    """``[lo, hi]`` as text (— when unknown)."""
    if not isinstance(v, list) or None in v:
        return "—"
    lo, hi = v
    return f"[{lo:.3g}, {hi:.3g}]"


def pct_ci(v: Any) -> str:
    """``[lo, hi]`` of a rate, in percent like the rate beside it."""
    if not isinstance(v, list) or None in v:
        return "—"
    return f"[{100 * v[0]:.1f}, {100 * v[1]:.1f}]"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


SYSTEM_HEAD = ["system", "win.viol", "95% CI", "req.viol", "p95/tgt", "cost $", "95% CI", "cost/LB", "cold"]


def system_cells(name: str, m: dict[str, Any]) -> list[str]:
    """One system's row (shared by the report and the terminal table)."""
    return [
        name,
        pct(m["window_violation_rate"]),
        pct_ci(m.get("window_violation_rate_ci95")),
        pct(m["qos_violation_rate"]),
        ratio(m.get("p95_over_target")),
        usd(m["cost_usd"]),
        ci(m.get("cost_usd_ci95")),
        ratio(m.get("cost_over_lower_bound")),
        pct(m["cold_start_rate"]),
    ]


def _claims_lines(claims: dict[str, Any]) -> list[str]:
    out = [row(["claim", "figure", "95% CI", "target", "verdict"]), row(["---"] * 5)]
    for level, c in claims.get("iso_qos", {}).items():
        fig = f"{ratio(c['ratio'])} (aquatope {usd(c['aquatope_cost_usd'])} vs {c['best_other']} {usd(c['best_other_cost_usd'])})"
        fig = c.get("note") or fig
        out.append(
            row([f"cost at iso-QoS ({level} window viol.)", fig, ci(c["ratio_ci95"]), c["target"], c["verdict"]])
        )
    eq = claims.get("equal_cost")
    if eq:
        if "baseline" in eq:
            fig = f"{ratio(eq['ratio'])} (vs {eq['baseline']} at ${eq['baseline_cost_usd']:.2f})"
            out.append(
                row(["fewer window violations at equal cost", fig, ci(eq["ratio_ci95"]), eq["target"], eq["verdict"]])
            )
        else:
            out.append(row(["fewer window violations at equal cost", eq.get("reason", ""), "—", ">= 5", eq["verdict"]]))
    return out


def _bound_lines(lb: dict[str, Any] | None) -> list[str]:
    if not lb or not lb.get("runs"):
        return []
    f = sorted(lb["target_factors"])
    met = lb["runs"] - len(lb["unmet"])
    return [
        f"- Lower bound verified in each run's own replay: sized for the first of "
        f"{', '.join(f'{x:g}' for x in lb['ladder'])} x the target "
        f"(then half a step) whose window violations stay within {lb['level']:.0%}; chosen {f[0]:g}-{f[-1]:g} x "
        f"(median {f[len(f) // 2]:g}); met in {met} of {lb['runs']} runs."
    ]


def trend_lines(trend: dict[str, Any]) -> list[str]:
    """The report's section on claim 3: the headline measure's verdict, then every measure per scenario."""
    lines = ["## Advantage across scenarios", ""]
    lines += [
        f"Measure: {trend['measure']} (the first measured in two scenarios or more; above 1 Aquatope is ahead) — "
        f"**{trend['verdict']}**.",
        "",
    ]
    for m, got in trend.get("measures", {}).items():
        cells = [
            f"{s}: {ratio(v)} {ci(got['advantage_ci95'][s])}" if v is not None else f"{s}: —"
            for s, v in got["advantage"].items()
        ]
        lines.append(f"- {m}: " + ", ".join(cells) + f" — {got['verdict']}")
    return [*lines, ""]


def forecast_lines(forecasts: dict[str, dict[str, Any]]) -> list[str]:
    """The report's section on what served the forecasts (:func:`~aquatope.experiments.analysis.forecast_decisions`),
    or nothing when no system read forecasts."""
    if not forecasts:
        return []
    lines = ["## What served the forecasts", ""]
    for system, d in forecasts.items():
        served = ", ".join(f"{k} {v}" for k, v in d["components"].items())
        decided = (
            f"; the 90% interval decided {d['interval_vetoed']} (of the {d['runs_recording_it']} runs that record it)"
            if d["runs_recording_it"]
            else "; what the 90% interval decided is not recorded in these runs (written before runs recorded it)"
        )
        lines.append(f"- {system}, {d['runs']} runs: {served}{decided}; pool fallback ticks {d['fallback_ticks']}")
        lines += [f"- {system}: the forecaster failed in {run}" for run in d.get("failed_runs", [])]
    return [*lines, ""]


def markdown_report(results: dict[str, Any]) -> str:
    """Hypotheses, set-up, verdicts, per-system and per-workflow tables, Pareto and iso-QoS, failures."""
    setup = results["setup"]
    p = setup["protocol"]
    lines = [
        "# Aquatope evaluation",
        "",
        "## Hypotheses",
        "",
        "1. At iso-QoS (window SLO violations <= 1%, and <= 5%), Aquatope costs at least 30% less than the best "
        "other system.",
        "2. At the cost of the cheapest baseline that meets QoS, Aquatope has at least 5x fewer window violations.",
        "3. Aquatope's advantage grows from `calm` to `shared` to `noisy`: the best other system's iso-QoS cost over "
        "Aquatope's (1%, else 5%), else hypothesis 2's violation ratio, where two scenarios or more have it.",
        "",
        "1 and 2 are judged on a 95% paired bootstrap interval over (seed, window) pairs: PASS when the whole interval "
        "meets the target, FAIL when none of it does, INCONCLUSIVE otherwise. 3 is judged on the point estimates "
        "(PASS when they grow strictly), their intervals listed beside them.",
        "",
        "## Set-up",
        "",
        f"- Trace `{setup['trace']}`: the first {p['train_minutes']} minutes train (forecasters, traffic classes, "
        f"scale factors, cluster sizes); replay windows of {p['window_minutes']} min ({', '.join(f'{k} at minute {v}' for k, v in setup['windows'].items())}), "
        f"after {p['settle_minutes']} min of tenants settling and {p['warmup_minutes']} min of right-sizing.",
        f"- {p['functions_per_workflow']} trace functions per workflow (one per class in turn, drawn per seed); "
        f"rate cap {p['max_rps']} req/s on the training mean.",
        f"- Seeds {setup['seeds']}; budgets {setup['budgets']}.",
        f"- Scenarios: {', '.join(setup['scenarios'])}. Systems (pool + sizer): "
        + "; ".join(f"{n} = {s['pool']} + {s['sizer']}" for n, s in setup["systems"].items())
        + ".",
        f"- {setup['runs']} runs ({setup['failed_runs']} failed), {setup['run_wall_s'] / 60:.0f} min of run time, "
        f"{setup['wall_s'] / 60:.1f} min of wall time in the last invocation (runs found on disk are not re-run).",
        *_bound_lines(results.get("lower_bound")),
        "",
    ]
    trend = results.get("advantage_trend")
    for name, sc in results["scenarios"].items():
        lines += [f"## Scenario `{name}`", ""]
        if "claims" in sc:
            lines += ["### Verdicts", "", *_claims_lines(sc["claims"]), ""]
        for w, claims in sc.get("claims_by_workflow", {}).items():
            lines += [f"#### Verdicts on `{w}` alone", "", *_claims_lines(claims), ""]
        lines += ["### Per system (default knob)", "", row(SYSTEM_HEAD), row(["---"] * len(SYSTEM_HEAD))]
        lines += [row(system_cells(s, m)) for s, m in sc["systems"].items()]
        lines += [
            "",
            "Cost split (USD): "
            + "; ".join(
                f"{s}: " + ", ".join(f"{k} {usd(v)}" for k, v in m["cost_split_usd"].items())
                for s, m in sc["systems"].items()
            ),
            "",
        ]
        lines += ["### Per workflow", "", row(["workflow", *SYSTEM_HEAD]), row(["---"] * (len(SYSTEM_HEAD) + 1))]
        for w, per in sc["per_workflow"].items():
            lines += [row([w, *system_cells(s, m)]) for s, m in per.items() if "@" not in s]
        lines += ["", "### Cost at iso-QoS (USD, least cost with window violations within the level)", ""]
        lines += [row(["system", "1%", "5%", "Pareto points", "least win.viol (knob, cost $)"]), row(["---"] * 5)]
        for s, levels in sc["iso_qos"].items():
            b = sc.get("least_violations", {}).get(s)
            best = f"{pct(b['window_violation_rate'])} ({b['knob']}, {usd(b['cost_usd'])})" if b else "—"
            lines.append(row([s, usd(levels["1%"]), usd(levels["5%"]), str(len(sc["pareto"].get(s, []))), best]))
        lines.append("")
    if trend:
        lines += trend_lines(trend)
    lines += forecast_lines(results.get("forecasts") or {})
    lines += ["## Failures", ""]
    lines += [f"- run error: {e}" for e in results.get("errors", [])] or ["- no run failed"]
    lines += [f"- QoS missed: {m}" for m in results.get("qos_misses", [])]
    lines += [f"- lower bound not met: {m}" for m in (results.get("lower_bound") or {}).get("unmet", [])]
    lines.append("")
    return "\n".join(lines)


def write_outputs(results: dict[str, Any], out: Path, plots: bool = True, plan: OutputPlan | None = None) -> list[Path]:
    """results.json, report.md and the plots in directory ``out``, as a set (module docstring). ``plan``: the
    command's :class:`~aquatope.jsonio.OutputPlan` that declared ``out`` as a directory and checked it before the
    work; by default a plan of its own."""
    from aquatope.experiments.plots import draw_plots

    if plan is None:
        plan = OutputPlan()
        plan.directory(out)
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    with plan.commit() as staged:
        paths = [staged.json(out / "results.json", public), staged.text(out / "report.md", markdown_report(public))]
        if plots:
            paths += draw_plots(public, results.get("_records", []), out, staged)
    return paths
