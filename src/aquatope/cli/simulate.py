"""``aquatope simulate``: replay a trace on the discrete-event simulator and print what it cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aquatope.cli.display import metrics_rows, progress_bar, two_column_table
from aquatope.cli.options import SeedOption
from aquatope.errors import InputError
from aquatope.experiments.simulate import (
    SimulationResult,
    load_configs,
    parse_prewarm,
    simulate_single_functions,
    simulate_workflow,
)
from aquatope.jsonio import check_output_path, write_json_atomic
from aquatope.scenarios import load_scenario
from aquatope.sim.config import load_sim_config
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow

console = Console()


def simulate(
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec: synthetic:poisson:rate=5")],
    workflow: Annotated[str | None, typer.Option(help="Built-in workflow name or workflow YAML path.")] = None,
    function: Annotated[
        str | None,
        typer.Option(help="Trace function (id or index) whose arrivals drive the workflow; default: busiest."),
    ] = None,
    single_function: Annotated[
        bool, typer.Option("--single-function", help="Replay every trace function as its own one-stage workflow.")
    ] = False,
    functions: Annotated[int | None, typer.Option(help="With --single-function: only the first N functions.")] = None,
    scale: Annotated[float, typer.Option(help="Multiply the trace's invocation counts by this factor.")] = 1.0,
    hours: Annotated[float | None, typer.Option(help="Replay only the first H hours of the trace.")] = None,
    prewarm: Annotated[str, typer.Option(help="Pool policy: none or keepalive:<seconds>.")] = "keepalive:600",
    config: Annotated[
        str, typer.Option(help="Resource configuration per function: default (the YAML's) or a JSON file.")
    ] = "default",
    scenario: Annotated[
        str | None,
        typer.Option(help="The world to run in: a named scenario (aquatope scenarios list) or a scenario file."),
    ] = None,
    cluster: Annotated[
        str | None, typer.Option(help="Explicit simulator parameters instead of a scenario: a JSON file (SimConfig).")
    ] = None,
    seed: SeedOption = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON to this file.")] = None,
) -> None:
    """Replay a trace on the simulator: a workflow driven by one trace function, or a whole trace (--single-function)."""
    if single_function == (workflow is not None):
        raise InputError("give either --workflow NAME|PATH or --single-function", field="--workflow")
    parse_prewarm(prewarm)  # refuse bad options before any work is done
    if json_out is not None:
        check_output_path(json_out)
    sim_config = load_sim_config(cluster) if cluster is not None else None
    world = load_scenario(scenario) if cluster is None else None
    tr = load_trace(trace, seed=seed)
    with progress_bar(console) as progress:
        task = progress.add_task("simulating", total=1.0)

        def update(fraction: float) -> None:
            progress.update(task, completed=fraction)

        if single_function:
            result = simulate_single_functions(
                tr,
                functions=functions,
                hours=hours,
                prewarm=prewarm,
                scenario=world,
                sim_config=sim_config,
                seed=seed,
                progress=update,
            )
        else:
            assert workflow is not None
            wf = load_workflow(workflow)
            configs = load_configs(config, wf)
            result = simulate_workflow(
                wf,
                tr,
                function=function,
                scale=scale,
                hours=hours,
                prewarm=prewarm,
                configs=configs,
                scenario=world,
                sim_config=sim_config,
                seed=seed,
                progress=update,
            )
    console.print(summary_table(result))
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
        console.print(f"results written to {json_out}")


def summary_table(result: SimulationResult) -> Table:
    """The run's figures as a two-column table."""
    m, s = result.metrics, result.setup
    where = s["scenario"]["name"] if "scenario" in s else "custom cluster"
    title = (
        f"{s.get('workflow', 'single-function replay')} — {where}, {s['prewarm']}, {s['minutes']} min, seed {s['seed']}"
    )
    world = s.get("world", {})
    util = world.get("utilisation")
    rows = list(metrics_rows(m))
    per_fn = s.get("per_function_p95_over_target")
    if per_fn is not None:  # single-function: a latency pooled over unrelated functions means nothing
        rows = [r for r in rows if not r[0].startswith("latency p50")]
        if per_fn["functions"]:
            rows.append(
                (
                    "p95 over own target: median / p90 / worst",
                    f"{per_fn['median']:.2f} / {per_fn['p90']:.2f} / {per_fn['worst']:.2f}",
                )
            )
            rows.append(("functions over their target", f"{per_fn['over']:,} of {per_fn['functions']:,}"))
    rows += [
        ("cost: total", f"${m.cost_usd['total']:,.4f}"),
        ("invokers", f"{world.get('invokers', '?'):,}" if isinstance(world.get("invokers"), int) else "?"),
    ]
    if util:
        rows.append(("cluster CPU utilisation mean / max", f"{util['mean']:.0%} / {util['max']:.0%}"))
    if world.get("tenants", {}).get("functions"):
        t = world["tenants"]
        rows.append(("tenants: functions / invocations", f"{t['functions']:,} / {t['invocations']:,}"))
    rows.append(("simulated invocations per second", f"{m.invocations / max(result.wall_s, 1e-9):,.0f}"))
    table = two_column_table(title, rows)
    return table
