"""``aquatope run``: replay a trace on a real Ray cluster under a named system and print what it cost."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from aquatope.cli.display import metrics_rows, progress_bar, two_column_table
from aquatope.errors import InputError
from aquatope.jsonio import check_output_path, write_json_atomic

console = Console()
notes = Console(stderr=True, soft_wrap=True)


def run_command(
    workflow: Annotated[str, typer.Option(help="Workflow YAML whose functions have a handler (module:function).")],
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec: synthetic:poisson:rate=20")],
    system: Annotated[
        str, typer.Option(help="A named system (openwhisk, knative, aquatope, ...) or POOL+SIZER.")
    ] = "openwhisk",
    platform: Annotated[
        str, typer.Option(help="ray (one actor per container) or ray-serve (one Serve deployment per function).")
    ] = "ray",
    minutes: Annotated[int, typer.Option(min=1, help="Replay M trace minutes (the minutes before them train).")] = 5,
    start_minute: Annotated[
        int | None, typer.Option(min=0, help="Trace minute the replay starts at; default: the last M minutes.")
    ] = None,
    speedup: Annotated[
        float,
        typer.Option(
            help="Trace seconds per wall second. 1 replays in real time; 10 replays a trace minute in 6 s but sends "
            "requests 10x as fast while executions and cold starts keep their length (10x the load)."
        ),
    ] = 1.0,
    time_scale: Annotated[float | None, typer.Option(hidden=True, help="Old name of --speedup.")] = None,
    function: Annotated[
        str | None,
        typer.Option(help="Trace function (id or index) whose arrivals drive the workflow; default: busiest."),
    ] = None,
    scale: Annotated[float, typer.Option(help="Multiply the trace's invocation counts by this factor.")] = 1.0,
    tune_on: Annotated[
        str, typer.Option(help="Where systems that right-size measure: ray (real functions) or sim (perf models).")
    ] = "ray",
    on_lag: Annotated[
        str, typer.Option(help="When the replay falls --max-lag behind the trace clock: stop, or warn and go on.")
    ] = "stop",
    max_lag: Annotated[
        float | None,
        typer.Option(help="Lag limit in wall seconds (oldest request in flight); default max(60, 10 x QoS target)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Estimate the CPU the replay needs against the cluster, run nothing.")
    ] = False,
    ray_address: Annotated[
        str | None,
        typer.Option(envvar="RAY_ADDRESS", help="Existing Ray cluster (auto, host:6379, ray://head:10001)."),
    ] = None,
    num_cpus: Annotated[
        int | None,
        typer.Option(min=1, help="CPUs of the local Ray (default: the cores); more overcommits CPU limits."),
    ] = None,
    start_slots: Annotated[
        int | None, typer.Option(min=1, help="Containers starting at once per node (default: its CPUs).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of arrivals, forecaster and sizer.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON to this file.")] = None,
) -> None:
    """Replay a trace on Ray: real functions in containers, driven by the same controller as the simulator."""
    from aquatope.experiments.ray_run import RayOptions, RunSpec

    if time_scale is not None:
        notes.print("note: --time-scale is now called --speedup", markup=False)
        speedup = time_scale
    spec = RunSpec(system, minutes, start_minute, speedup, function, scale, seed, tune_on, on_lag, max_lag)
    ray = RayOptions(address=ray_address, num_cpus=num_cpus, platform=platform, start_slots=start_slots)
    if json_out is not None:
        check_output_path(json_out)
    if ray_address:
        from aquatope.runtime.connect import check_reachable

        check_reachable(ray_address)  # at once, not after minutes of ray.init retries
    from aquatope.runtime import ray_available
    from aquatope.traces import load_trace
    from aquatope.workflow import load_workflow

    wf = load_workflow(workflow)
    tr = load_trace(trace, seed=seed)
    if not ray_available():
        raise InputError("ray is not installed: pip install -c constraints.txt -e '.[ray]'")
    from aquatope.runtime.functions import bind_workflow

    bind_workflow(wf)  # refuse a workflow without handlers (or with broken imports) before starting Ray
    if dry_run:
        _dry_run(wf, tr, spec, ray)
        return
    result = _replay(wf, tr, spec, ray, json_out)
    console.print(summary_table(result))
    if result.lag.get("over_limit"):
        notes.print(f"warning: {_lag_warning(result)}", markup=False)
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
        console.print(f"results written to {json_out}", markup=False)


def _replay(wf: Any, tr: Any, spec: Any, ray: Any, json_out: Path | None) -> Any:
    from aquatope.experiments.ray_run import RunInterrupted, run_on_ray

    try:
        with progress_bar(console) as progress:
            task = progress.add_task("starting", total=1.0)

            def update(what: str, fraction: float) -> None:
                progress.update(task, description=what, completed=fraction)

            return run_on_ray(
                wf, tr, spec, ray=ray, progress=update, notify=lambda line: notes.print(line, markup=False)
            )
    except RunInterrupted as stop:
        notes.print(stop.message, markup=False)
        if json_out is not None and stop.result is not None:
            write_json_atomic(json_out, stop.result.to_dict())
            notes.print(f"partial results written to {json_out}", markup=False)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        notes.print("interrupted; nothing was left running", markup=False)
        raise typer.Exit(130) from None


def _dry_run(wf: Any, tr: Any, spec: Any, ray: Any) -> None:
    from aquatope.experiments.ray_run import plan_replay
    from aquatope.runtime.plan import wall_text

    est = plan_replay(wf, tr, spec, ray)
    rows = [
        ("requests / trace minutes", f"{est.requests:,} / {est.trace_minutes}"),
        ("wall time of the replay", f"{wall_text(est.wall_s)} (+ warm-up and right-sizing)"),
        ("requests per wall second: peak / mean", f"{est.peak_rate_per_s:.2f} / {est.mean_rate_per_s:.2f}"),
        ("CPUs busy: peak / mean", f"{est.cpu_busy_peak:.2f} / {est.cpu_busy_mean:.2f}"),
        (
            "CPUs reserved by containers: peak / cold burst",
            f"{est.cpu_reserved_peak:.2f} / {est.cpu_reserved_cold_burst:.2f}",
        ),
        ("cluster CPUs", f"{est.cluster_cpu:g}"),
        ("verdict", est.verdict),
        ("largest speed-up that fits", f"{est.max_speedup:.3g}"),
    ]
    title = f"{wf.name}: replay estimate at speed-up {spec.speedup:g} (YAML configurations and perf models)"
    console.print(two_column_table(title, rows))


def _lag_warning(result: Any) -> str:
    lag = result.lag
    return (
        f"the replay fell {lag['max_lag_s']:.0f} s behind the trace clock (limit {lag['limit_s']:g} s): latencies "
        "include queueing on an overloaded cluster"
    )


def summary_table(result: Any) -> Table:
    """The run's figures, as ``aquatope simulate`` prints them, plus lag, enforcement and errors."""
    m, s, lag = result.metrics, result.setup, result.lag
    title = (
        f"{s['workflow']} on {s['mode']}: {s['system']}, {s['minutes']} trace min at speed-up {s['speedup']:g}, "
        f"seed {s['seed']}"
    )
    rows = [
        *metrics_rows(m),
        ("cost: total (of which right-sizing)", f"${m.cost_usd['total']:,.4f} (${m.cost_usd['tuning']:,.4f})"),
        ("lag behind the trace clock: max / p95 (s)", f"{lag['max_lag_s']:,.1f} / {lag['p95_lag_s']:,.1f}"),
        (
            "arrivals fired late: p95 / max (ms)",
            f"{lag['arrival_delay_ms']['p95']:,.0f} / {lag['arrival_delay_ms']['max']:,.0f}",
        ),
        (
            "limits enforced",
            f"cpu: {', '.join(result.enforcement['cpu'])}; memory: {', '.join(result.enforcement['memory'])}",
        ),
        ("wall time (s)", f"{result.wall_s:,.1f}"),
    ]
    table = two_column_table(title, rows)
    if result.errors:
        worst = max(result.errors, key=result.errors.get)
        table.caption = Text(f"{sum(result.errors.values())} failed requests; most common error: {worst}", style="red")
    return table
