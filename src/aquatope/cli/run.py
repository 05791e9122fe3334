"""``aquatope run``: replay a trace on a real Ray cluster under a named system and print what it cost."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aquatope.cli.display import metrics_rows, progress_bar, two_column_table
from aquatope.errors import InputError
from aquatope.jsonio import check_output_path, write_json_atomic

console = Console()


def run_command(
    workflow: Annotated[str, typer.Option(help="Workflow YAML whose functions have a handler (module:function).")],
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec: synthetic:poisson:rate=20")],
    system: Annotated[str, typer.Option(help="openwhisk, aquatope, hist-powertune or cherrypick.")] = "openwhisk",
    minutes: Annotated[int, typer.Option(min=1, help="Replay the trace's last M minutes (earlier ones train).")] = 5,
    time_scale: Annotated[
        float, typer.Option(help="Trace seconds per wall second: 60 replays a trace minute in one second.")
    ] = 60.0,
    function: Annotated[
        str | None,
        typer.Option(help="Trace function (id or index) whose arrivals drive the workflow; default: busiest."),
    ] = None,
    scale: Annotated[float, typer.Option(help="Multiply the trace's invocation counts by this factor.")] = 1.0,
    tune_on: Annotated[
        str, typer.Option(help="Where systems that right-size measure: sim (perf models, fast) or ray (real).")
    ] = "sim",
    ray_address: Annotated[
        str | None,
        typer.Option(envvar="RAY_ADDRESS", help="Existing Ray cluster (auto, ray://head:10001); default: local Ray."),
    ] = None,
    num_cpus: Annotated[int | None, typer.Option(min=1, help="CPUs of the local Ray (default: all).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of arrivals, forecaster and sizer.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON to this file.")] = None,
) -> None:
    """Replay a trace on Ray: real functions in container actors, driven by the same controller as the simulator."""
    from aquatope.experiments.ray_run import RUN_SYSTEMS

    if system not in RUN_SYSTEMS:
        raise InputError(f"unknown system {system!r}; choose one of {', '.join(RUN_SYSTEMS)}", field="--system")
    if not (time_scale > 0 and math.isfinite(time_scale)):
        raise InputError(f"must be a finite number > 0, got {time_scale}", field="--time-scale")
    if tune_on not in ("sim", "ray"):
        raise InputError(f"must be sim or ray, got {tune_on!r}", field="--tune-on")
    if json_out is not None:
        check_output_path(json_out)
    from aquatope.runtime import ray_available
    from aquatope.traces import load_trace
    from aquatope.workflow import load_workflow

    wf = load_workflow(workflow)
    tr = load_trace(trace, seed=seed)
    if not ray_available():
        raise InputError("ray is not installed: pip install -c constraints.txt -e '.[ray]'")
    from aquatope.runtime.functions import bind_workflow

    bind_workflow(wf)  # refuse a workflow without handlers (or with broken imports) before starting Ray
    from aquatope.experiments.ray_run import RayOptions, run_on_ray

    with progress_bar(console) as progress:
        task = progress.add_task("starting", total=1.0)

        def update(what: str, fraction: float) -> None:
            progress.update(task, description=what, completed=fraction)

        result = run_on_ray(
            wf,
            tr,
            system=system,
            minutes=minutes,
            time_scale=time_scale,
            function=function,
            scale=scale,
            seed=seed,
            ray=RayOptions(address=ray_address, num_cpus=num_cpus),
            tune_on=tune_on,
            progress=update,
        )
    console.print(summary_table(result))
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
        console.print(f"results written to {json_out}")


def summary_table(result: Any) -> Table:
    """The run's figures, as ``aquatope simulate`` prints them, plus enforcement and errors."""
    m, s = result.metrics, result.setup
    title = f"{s['workflow']} on Ray — {s['system']}, {s['minutes']} min at time scale {s['time_scale']:g}, seed {s['seed']}"
    rows = [
        *metrics_rows(m),
        ("cost: total (+ right-sizing)", f"${m.cost_usd['total']:,.4f} (+ ${result.tuning_cost_usd:,.4f})"),
        (
            "limits enforced",
            f"cpu: {', '.join(result.enforcement['cpu'])}; memory: {', '.join(result.enforcement['memory'])}",
        ),
        ("wall time (s)", f"{result.wall_s:,.1f}"),
    ]
    table = two_column_table(title, rows)
    if result.errors:
        worst = max(result.errors, key=result.errors.get)
        table.caption = f"[red]{sum(result.errors.values())} failed requests; most common error:[/] {worst}"
    return table
