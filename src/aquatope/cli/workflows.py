"""``aquatope workflows list|show``: the built-in workflows and any workflow YAML, as tables and a DAG tree.

Names and descriptions come from user files: they are escaped, so Rich markup in them prints as written.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from aquatope.cli.options import seed_option
from aquatope.errors import InputError
from aquatope.workflow import Workflow, builtin_workflow_names, load_workflow
from aquatope.workflow.model import Stage

MAX_SAMPLED_INVOCATIONS = 50_000_000
"""Most latencies ``workflows show`` draws (samples x invocations per request): 400 MB of float64."""

workflows_app = typer.Typer(help="List and inspect workflows (built-in names or YAML files).", no_args_is_help=True)
console = Console()


@workflows_app.command("list")
def list_workflows() -> None:
    """List the built-in workflows with their shape and QoS target (``workflows show NAME`` for details)."""
    table = Table(title="Built-in workflows", show_lines=False)
    for col in ("name", "kind", "stages", "fns", "calls/req", "QoS"):
        numeric = col in ("stages", "fns", "calls/req")
        table.add_column(col, justify="right" if numeric else "left", no_wrap=col in ("name", "QoS"))
    for name in builtin_workflow_names():
        wf = load_workflow(name)
        table.add_row(
            wf.name,
            wf.kind,
            str(len(wf.stages)),
            str(len(wf.functions)),
            str(sum(wf.invocations_per_request().values())),
            str(wf.qos),
        )
    console.print(table)


@workflows_app.command("show")
def show_workflow(
    workflow: Annotated[str, typer.Argument(help="Built-in workflow name or path to a workflow YAML file.")],
    samples: Annotated[
        int, typer.Option(min=100, max=1_000_000, help="Monte Carlo requests for the latency estimate.")
    ] = 4000,
    seed: Annotated[int, seed_option("Seed of the latency estimate.")] = 0,
) -> None:
    """Show a workflow: its DAG as a tree, its functions as a table, and its latency at the default configuration."""
    wf = load_workflow(workflow)
    calls = sum(wf.invocations_per_request().values())
    if samples * calls > MAX_SAMPLED_INVOCATIONS:
        raise InputError(
            f"{samples:,} requests x {calls:,} invocations each is more than {MAX_SAMPLED_INVOCATIONS:,} samples",
            field="--samples",
        )
    console.print(f"[bold]{escape(wf.name)}[/] ({wf.kind}) — QoS {wf.qos}", highlight=False)
    if wf.description:
        console.print(wf.description, markup=False, highlight=False)
    console.print(dag_tree(wf))
    console.print(functions_table(wf))
    for name in wf.function_names:
        console.print(f"[cyan]{escape(name)}[/]: {escape(wf.functions[name].perf.describe())}", highlight=False)
    e2e = wf.sample_end_to_end_ms(None, samples, np.random.default_rng(seed))
    failed = float(np.mean(np.isnan(e2e)))
    ok = e2e[~np.isnan(e2e)]
    if ok.size == 0:
        console.print("[red]Every request fails (out of memory) at the default configuration.[/]")
        return
    pctl = float(np.percentile(ok, wf.qos.percentile)) if failed == 0 else float("inf")
    verdict = "[green]meets[/]" if pctl <= wf.qos.latency_ms else "[red]misses[/]"
    console.print(
        f"Default configuration, warm, {samples} simulated requests: p50 {np.percentile(ok, 50):.0f} ms, "
        f"p{wf.qos.percentile:g} {pctl:.0f} ms, failed {failed:.1%} -> {verdict} the target of {wf.qos.latency_ms:g} ms"
    )


def dag_tree(wf: Workflow) -> Tree:
    """The DAG as a Rich tree rooted at the workflow; a stage with several predecessors is drawn once in full."""
    root = Tree(f"[bold]{escape(wf.name)}[/]")
    drawn: set[str] = set()

    def add(parent: Tree, stage: Stage) -> None:
        label = _stage_label(stage)
        if stage.name in drawn:
            parent.add(f"{label} [dim](joins, shown above)[/]")
            return
        drawn.add(stage.name)
        node = parent.add(label)
        for child in wf.successors(stage.name):
            add(node, wf.stage(child))

    for name in wf.sources():
        add(root, wf.stage(name))
    return root


def _stage_label(stage: Stage) -> str:
    label = f"[cyan]{escape(stage.name)}[/]"
    if stage.function != stage.name:
        label += f" -> {escape(stage.function)}"
    if stage.fanout > 1:
        group = stage.map_group or ""
        label += f" [magenta]x{stage.fanout}[/]" + (f" (map {escape(group)})" if not group.startswith("stage:") else "")
    if len(stage.after) > 1:
        label += f" [dim](after {escape(', '.join(stage.after))})[/]"
    return label


def functions_table(wf: Workflow) -> Table:
    """One row per function: default resources, calls per request, warm median latency and median cold-start
    overhead (the time a cold start adds to an invocation, not the latency of a cold invocation)."""
    table = Table(title="Functions", caption="cold start: time added to an invocation that starts a container")
    for col in ("function", "vCPU", "MB", "calls/req", "warm p50 ms", "cold start p50 ms"):
        table.add_column(col, justify="left" if col == "function" else "right", no_wrap=col == "function")
    calls = wf.invocations_per_request()
    rng = np.random.default_rng(0)
    for name in wf.function_names:
        fn = wf.functions[name]
        cold = fn.perf.sample_cold_start_ms(fn.resources, 501, rng)
        table.add_row(
            escape(name),
            f"{fn.resources.cpu:g}",
            str(fn.resources.memory_mb),
            str(calls[name]),
            f"{fn.perf.latency_quantile_ms(fn.resources, 0.5):.0f}",
            f"{np.median(cold):.0f}",
        )
    return table
