"""``aquatope evaluate``: every workflow under every named system on a trace; tables, results.json, report, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aquatope.errors import InputError
from aquatope.experiments.evaluate import MAIN_WORKFLOWS, EvaluateConfig, evaluate
from aquatope.experiments.report import system_row, write_outputs
from aquatope.experiments.systems import Budgets, parse_systems
from aquatope.traces import load_trace
from aquatope.workflow.catalog import builtin_workflow_names

console = Console()
DEFAULT_TRACE = str(Path(__file__).resolve().parent.parent / "data" / "azure2019-sample-250")


def parse_workflows(text: str) -> tuple[str, ...]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if items == ["all"]:
        return MAIN_WORKFLOWS
    known = builtin_workflow_names()
    for w in items:
        if w not in known:
            raise InputError(f"unknown workflow {w!r}; choose from {', '.join(known)} or all", field="--workflows")
    if not items or len(set(items)) != len(items):
        raise InputError(f"expected distinct workflow names, got {text!r}", field="--workflows")
    return tuple(items)


def evaluate_command(
    workflows: Annotated[str, typer.Option(help="'all' (the six main workflows) or a comma-separated list.")] = "all",
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec.")] = DEFAULT_TRACE,
    functions_per_workflow: Annotated[int, typer.Option(help="Trace functions summed per workflow (K).")] = 3,
    systems: Annotated[
        str,
        typer.Option(
            help="'all' (openwhisk, hist-powertune, cherrypick, aquatope, oracle) or a comma-separated list; "
            "also the ablations aquatope-prewarm (aquatope pool + oracle sizing) and aquatope-sizing (the reverse)."
        ),
    ] = "all",
    hours: Annotated[float, typer.Option(help="Hours replayed (the end of the trace; the rest trains).")] = 2.0,
    seeds: Annotated[int, typer.Option(help="Seeds 0..N-1; figures are averaged.")] = 1,
    budget: Annotated[int, typer.Option(help="Measured right-sizing budget (evaluations).")] = 20,
    max_rps: Annotated[float, typer.Option(help="Cap on each workflow's mean request rate (req/s).")] = 2.0,
    out: Annotated[Path, typer.Option(help="Directory for results.json, report.md and plots.")] = Path("evaluate-out"),
) -> None:
    """Right-size and pre-warm each workflow under each system, replay the trace, compare QoS and cost."""
    if out.exists() and not out.is_dir():
        raise InputError("is not a directory", source=out)
    config = EvaluateConfig(
        workflows=parse_workflows(workflows),
        systems=parse_systems(systems),
        functions_per_workflow=functions_per_workflow,
        hours=hours,
        seeds=seeds,
        max_rps=max_rps,
        budgets=Budgets(tuning_budget=budget),
    )
    tr = load_trace(trace, seed=0)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("evaluating", total=1.0)
        results = evaluate(tr, config, lambda what, f: progress.update(task, completed=f, description=what))
    console.print(mapping_table(results))
    console.print(workflow_table(results))
    console.print(summary_table(results))
    paths = write_outputs(results, out)
    console.print(f"written: {', '.join(str(p) for p in paths)}")


def mapping_table(results: dict[str, Any]) -> Table:
    table = Table(title="arrivals: trace functions per workflow (summed, then scaled)")
    for col in ("workflow", "trace functions (class)", "scale", "req/s"):
        table.add_column(col)
    for wf, m in results["setup"]["mapping"].items():
        fns = ", ".join(f"{f[:10]} ({c})" for f, c in zip(m["trace_functions"], m["classes"], strict=True))
        table.add_row(wf, fns, f"{m['scale']:.3g}", f"{m['mean_rps']:.2f}")
    return table


def workflow_table(results: dict[str, Any]) -> Table:
    table = Table(title="workflow x system")
    for col in ("workflow", "system", "QoS viol.", "p99 / target ms", "cost USD", "cold starts", "evals"):
        table.add_column(col, justify="left" if col in ("workflow", "system") else "right")
    for wf, per in results["per_workflow"].items():
        for s, m in per.items():
            table.add_row(*system_row(wf, s, m))
    return table


def summary_table(results: dict[str, Any]) -> Table:
    table = Table(title="per system (ratios: geometric means over workflows)")
    cols = ("system", "mean viol.", "cost USD", "viol./aquatope", "cost/aquatope", "viol./oracle", "cost/oracle")
    for col in cols:
        table.add_column(col, justify="left" if col == "system" else "right")
    for s, m in results["systems"].items():
        table.add_row(
            s,
            f"{m['qos_violation_rate']:.2%}",
            f"{m['cost_usd']:.4f}",
            *(f"{m.get(k, float('nan')):.2f}" for k in cols_keys()),
        )
    return table


def cols_keys() -> tuple[str, ...]:
    return ("violations_vs_aquatope", "cost_vs_aquatope", "violations_vs_oracle", "cost_vs_oracle")
