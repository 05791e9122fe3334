"""An evaluation's plots, one small function each: Pareto fronts per workflow with the lower bound, cost at iso-QoS
with intervals, the advantage per scenario, and a pool x sizer heatmap of cost over the lower bound."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.jsonio import Staging, save_figure_atomic


def draw_plots(
    results: dict[str, Any], records: list[dict[str, Any]], out: Path, staged: Staging | None = None
) -> list[Path]:
    """Every plot of the first scenario (and the advantage across scenarios) into ``out``, staged in ``staged`` (an
    :meth:`~aquatope.jsonio.OutputPlan.commit` that declared ``out``) or else each written atomically; their paths."""
    import matplotlib

    matplotlib.use("Agg")
    scenario = next(iter(results["scenarios"].values()), None)
    if scenario is None:
        return []
    draw: dict[str, Callable[[], Any]] = {
        "pareto.png": lambda: _pareto(scenario),
        "iso_qos.png": lambda: _iso_bars(scenario),
        "pool_sizer.png": lambda: _heatmap(scenario, results["setup"]["systems"]),
    }
    if "advantage_trend" in results:
        draw["advantage.png"] = lambda: _advantage(results)
    paths = []
    for name, figure in draw.items():  # one figure open at a time: each is closed once saved
        fig = figure()
        if staged is None:
            paths.append(save_figure_atomic(fig, out / name, dpi=110))
        else:
            paths.append(staged.figure(out / name, fig, dpi=110))
    return paths


def _grid(n: int) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    cols = min(3, max(1, n))
    rows = (max(1, n) + cols - 1) // cols
    return plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)


def _pareto(scenario: dict[str, Any]) -> Any:
    """Per workflow: every system's (cost, window violation rate) at each knob value, its front as a line, the lower
    bound as a star."""
    per_wf = scenario["per_workflow"]
    fig, axes = _grid(len(per_wf))
    for ax, (wf, by_name) in zip(axes.flat, per_wf.items(), strict=False):
        systems: dict[str, list[tuple[float, float]]] = {}
        for name, m in by_name.items():
            systems.setdefault(name.split("@")[0], []).append((m["cost_usd"], m["window_violation_rate"]))
        for system, pts in sorted(systems.items()):
            pts = sorted(p for p in pts if all(math.isfinite(v) for v in p))
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            marker = "*" if system == "lower-bound" else "o"
            ax.plot(xs, ys, marker=marker, ms=9 if marker == "*" else 4, lw=1, label=system)
        ax.set_title(wf, fontsize=9)
        ax.set_xlabel("cost (USD)")
        ax.set_ylabel("window SLO violations")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _iso_bars(scenario: dict[str, Any]) -> Any:
    """Cost at iso-QoS (1% window violations) per system with its 95% interval; systems that never reach it are
    marked."""
    import matplotlib.pyplot as plt

    names = sorted(scenario["iso_qos"])
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2), 3.6))
    for i, s in enumerate(names):
        v = scenario["iso_qos"][s]
        cost, band = v.get("1%"), v.get("1%_ci95") or [None, None]
        if cost is None:
            ax.text(i, 0, "never", ha="center", va="bottom", fontsize=7, rotation=90)
            continue
        lo, hi = (band[0] or cost), (band[1] or cost)
        ax.bar(i, cost, color="tab:orange" if s == "aquatope" else "tab:blue")
        ax.errorbar(i, cost, yerr=[[cost - lo], [hi - cost]], color="k", capsize=3)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=7)
    ax.set_ylabel("total cost at <= 1% window violations (USD)")
    fig.tight_layout()
    return fig


def _advantage(results: dict[str, Any]) -> Any:
    """Aquatope's advantage per scenario under the trend's headline measure, with 95% intervals (above 1: Aquatope
    is ahead; the dashed line is the claim's target for that measure)."""
    import matplotlib.pyplot as plt

    trend = results["advantage_trend"]
    names = [s for s in trend["order"] if trend["advantage"].get(s) is not None]
    fig, ax = plt.subplots(figsize=(5, 3.4))
    values = [trend["advantage"][s] for s in names]
    ax.bar(range(len(names)), values, color="tab:orange")
    for i, s in enumerate(names):
        lo, hi = (trend.get("advantage_ci95") or {}).get(s) or [None, None]
        if lo is not None and hi is not None and math.isfinite(hi):
            ax.errorbar(
                i, values[i], yerr=[[max(0.0, values[i] - lo)], [max(0.0, hi - values[i])]], color="k", capsize=3
            )
    cost = str(trend.get("measure", "iso-QoS")).startswith("iso-QoS")
    ax.axhline(1 / 0.7 if cost else 5.0, ls="--", color="grey", lw=0.8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("best other / aquatope (" + ("iso-QoS cost" if cost else "window viol. at equal cost") + ")")
    fig.tight_layout()
    return fig


def _heatmap(scenario: dict[str, Any], systems: dict[str, dict[str, Any]]) -> Any:
    """Cost over the lower bound (geometric mean over workflows) of every system run, placed by its pool (rows) and
    sizer (columns); blank where that combination was not run."""
    import matplotlib.pyplot as plt

    cells = {
        (systems[s]["pool"], systems[s]["sizer"]): m.get("cost_over_lower_bound")
        for s, m in scenario["systems"].items()
        if s in systems
    }
    pools = sorted({p for p, _ in cells})
    sizers = sorted({z for _, z in cells})
    grid = np.full((len(pools), len(sizers)), np.nan)
    for (p, z), v in cells.items():
        if v is not None and math.isfinite(v):
            grid[pools.index(p), sizers.index(z)] = v
    fig, ax = plt.subplots(figsize=(1.3 * len(sizers) + 3, 0.5 * len(pools) + 2))
    im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    for (i, j), v in np.ndenumerate(grid):
        if math.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
    ax.set_xticks(range(len(sizers)), sizers, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(pools)), pools, fontsize=7)
    fig.colorbar(im, ax=ax, label="cost / lower bound")
    fig.tight_layout()
    return fig
