"""Writing an evaluation's outputs: ``results.json``, ``report.md`` and three plots, each written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.jsonio import save_figure_atomic, write_json_atomic


def _write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _fmt_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_report(results: dict[str, Any]) -> str:
    """Set-up, the workflow x system table, the per-system summary, and the trace-function mapping."""
    setup = results["setup"]
    systems = list(results["systems"])
    lines = [
        "# Aquatope end-to-end evaluation",
        "",
        f"Trace: `{setup['trace']}`; seeds: {setup['seeds']}; replay: last {setup['config']['hours']} h of the trace; "
        f"{setup['config']['functions_per_workflow']} trace functions per workflow; rate cap "
        f"{setup['config']['max_rps']} req/s and {setup['config']['cluster_share']:.0%} of the cluster's vCPU.",
        f"Budgets: {setup['budgets']}. Wall time {setup['wall_s']:.0f} s.",
        "",
        "## Per workflow",
        "",
        _fmt_row(["workflow", "system", "QoS viol.", "p99 ms / target", "cost USD", "cold starts", "tuning evals"]),
        _fmt_row(["---"] * 7),
    ]
    for wf, per in results["per_workflow"].items():
        for s in systems:
            m = per[s]
            lines.append(_fmt_row(system_row(wf, s, m)))
    lines += ["", "## Per system (geometric means of ratios over workflows)", ""]
    head = ["system", "mean QoS viol.", "total cost USD", "viol. / aquatope", "cost / aquatope"]
    head += ["viol. / oracle", "cost / oracle", "workflows meeting QoS"]
    lines += [_fmt_row(head), _fmt_row(["---"] * len(head))]
    for s, m in results["systems"].items():
        lines.append(
            _fmt_row(
                [
                    s,
                    f"{m['qos_violation_rate']:.2%}",
                    f"{m['cost_usd']:.4f}",
                    f"{m.get('violations_vs_aquatope', float('nan')):.2f}",
                    f"{m.get('cost_vs_aquatope', float('nan')):.2f}",
                    f"{m.get('violations_vs_oracle', float('nan')):.2f}",
                    f"{m.get('cost_vs_oracle', float('nan')):.2f}",
                    str(m["workflows_meeting_qos"]),
                ]
            )
        )
    lines += ["", "## Arrivals (trace functions per workflow)", ""]
    for wf, m in setup["mapping"].items():
        pairs = ", ".join(f"{fid[:12]} ({c})" for fid, c in zip(m["trace_functions"], m["classes"], strict=True))
        lines.append(f"- **{wf}**: {pairs}; scale {m['scale']:.3g}, {m['mean_rps']:.2f} req/s")
    lines.append("")
    return "\n".join(lines)


def _save(fig: Any, path: Path) -> None:
    save_figure_atomic(fig, path, dpi=110)


def draw_plots(results: dict[str, Any], series: dict[str, Any], out: Path) -> list[Path]:
    """cost_vs_violations.png, latency_cdf.png, warm_containers.png (first workflow) in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    paths = [out / "cost_vs_violations.png", out / "latency_cdf.png", out / "warm_containers.png"]
    _cost_vs_violations(results, paths[0])
    _latency_cdfs(results, series, paths[1])
    _warm_containers(results, series, paths[2])
    return paths


def _workflow_grid(n: int) -> tuple[Any, Any]:
    """A figure with one panel per workflow, three per row."""
    import matplotlib.pyplot as plt

    cols = min(3, n)
    rows = (n + cols - 1) // cols
    return plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)


def _finish(fig: Any, legend_ax: Any, path: Path) -> None:
    legend_ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def _cost_vs_violations(results: dict[str, Any], path: Path) -> None:
    fig, axes = _workflow_grid(len(results["per_workflow"]))
    for ax, (wf, by_system) in zip(axes.flat, results["per_workflow"].items(), strict=False):
        for s in results["systems"]:
            ax.scatter(by_system[s]["cost_usd"], by_system[s]["qos_violation_rate"], label=s)
        ax.set_title(wf)
        ax.set_xlabel("cost (USD)")
        ax.set_ylabel("QoS violation rate")
        ax.grid(alpha=0.3)
    _finish(fig, axes.flat[0], path)


def _latency_cdfs(results: dict[str, Any], series: dict[str, Any], path: Path) -> None:
    systems = list(results["systems"])
    fig, axes = _workflow_grid(len(results["per_workflow"]))
    for ax, wf in zip(axes.flat, results["per_workflow"], strict=False):
        for s in systems:
            lat = np.sort(np.asarray(series[wf]["latency_ms"][s], dtype=float))
            if lat.size:
                ax.plot(lat, np.arange(1, lat.size + 1) / lat.size, label=s)
        ax.axvline(results["per_workflow"][wf][systems[0]]["qos_ms"], color="k", ls="--", lw=0.8)
        ax.set_xscale("log")
        ax.set_title(wf)
        ax.set_xlabel("latency (ms)")
        ax.grid(alpha=0.3)
    _finish(fig, axes.flat[0], path)


def _warm_containers(results: dict[str, Any], series: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    wf = next(iter(results["per_workflow"]))
    fig, ax = plt.subplots(figsize=(8, 4))
    for s in results["systems"]:
        ax.step(np.arange(len(series[wf]["warm"][s])), series[wf]["warm"][s], where="post", label=s)
    ax.set_xlabel("minute")
    ax.set_ylabel("containers alive")
    twin = ax.twinx()
    arrivals = series[wf]["requests_per_minute"]
    twin.bar(np.arange(len(arrivals)), arrivals, color="grey", alpha=0.3)
    twin.set_ylabel("requests per minute")
    ax.set_title(f"{wf}: warm containers against arrivals")
    _finish(fig, ax, path)


def write_outputs(results: dict[str, Any], out: Path, plots: bool = True) -> list[Path]:
    """results.json (without the plot series), report.md and the plots, each atomically, in directory ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    series = results.get("_series", {})
    public = {k: v for k, v in results.items() if not k.startswith("_")}
    paths = [write_json_atomic(out / "results.json", public)]
    _write_text_atomic(out / "report.md", markdown_report(public))
    paths.append(out / "report.md")
    if plots and series:
        paths += draw_plots(public, series, out)
    return paths


def system_row(workflow: str, system: str, m: dict[str, Any]) -> list[str]:
    """One workflow x system row of figures, as text (shared by the report and the CLI table)."""
    return [
        workflow,
        system,
        f"{m['qos_violation_rate']:.2%}",
        f"{m['p99_latency_ms']:,.0f} / {m['qos_ms']:,.0f}",
        f"{m['cost_usd']:.4f}",
        f"{m['cold_start_rate']:.2%}",
        f"{m['tuning_evaluations']:.0f}",
    ]
