"""``aquatope tune``: right-size every function of a workflow to meet its QoS at the least cost."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aquatope.errors import InputError
from aquatope.experiments.tuning import compare_methods, make_problem, tune
from aquatope.jsonio import check_output_path, save_figure_atomic, write_json_atomic
from aquatope.sizing.base import Measurement, SizingProblem
from aquatope.sizing.exhaustive import OracleResult, exhaustive_search
from aquatope.sizing.loop import SizingResult
from aquatope.sizing.registry import MEASURED_METHODS, METHODS
from aquatope.workflow import Workflow, load_workflow

console = Console()


def tune_command(
    workflow: Annotated[str, typer.Option(help="Built-in workflow name or workflow YAML path.")],
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(METHODS)}.")] = "aquatope-bo",
    budget: Annotated[int, typer.Option(min=1, help="Measured configurations at most.")] = 40,
    samples_per_config: Annotated[int, typer.Option(min=2, help="Warm requests per measured configuration.")] = 20,
    space: Annotated[
        str, typer.Option(help="decoupled (cpu x memory) or coupled (memory only, AWS Lambda).")
    ] = "decoupled",
    seed: Annotated[int, typer.Option(help="Seed of the sizer and of the simulated measurements.")] = 0,
    compare: Annotated[
        bool, typer.Option("--compare", help="Run every method and score it against the oracle.")
    ] = False,
    seeds: Annotated[int, typer.Option(min=1, help="With --compare: runs per method.")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON to this file.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot best feasible cost against evaluations (PNG).")] = None,
    platform: Annotated[
        str, typer.Option(help="sim (the workflow's perf models) or ray (real functions, real measurements).")
    ] = "sim",
    ray_address: Annotated[
        str | None,
        typer.Option(envvar="RAY_ADDRESS", help="With --platform ray: existing cluster (auto, ray://head:10001)."),
    ] = None,
) -> None:
    """Right-size a workflow on the simulator or on Ray: the configuration per function, its measured percentile
    and cost."""
    if method not in METHODS:
        raise InputError(f"unknown sizing method {method!r}; choose one of {', '.join(METHODS)}", field="--method")
    if platform not in ("sim", "ray"):
        raise InputError(f"unknown platform {platform!r}; choose sim or ray", field="--platform")
    if platform == "ray" and (compare or method == "exhaustive"):
        raise InputError(
            "--compare and the exhaustive oracle need the perf models: use --platform sim", field="--platform"
        )
    for out in (json_out, plot):
        if out is not None:
            check_output_path(out)
    wf = load_workflow(workflow)
    if platform == "ray":
        _tune_on_ray(wf, space, budget, seed, method, samples_per_config, ray_address, json_out, plot)
        return
    problem = make_problem(wf, space, budget, seed)
    if compare:
        _compare(problem, seeds, samples_per_config, json_out)
        return
    if method == "exhaustive":
        with console.status("searching the whole space..."):
            oracle = exhaustive_search(problem)
        console.print(_oracle_table(problem, oracle))
        if json_out is not None:
            write_json_atomic(json_out, {"method": "exhaustive", "evaluations": 0, "best": oracle.to_dict()})
        return
    result = _run_with_progress(problem, method, samples_per_config)
    console.print(result_table(problem, result))
    if plot is not None:
        plot_convergence({method: result}, plot, problem)
    if json_out is not None:
        write_json_atomic(json_out, {**result.to_dict(), "setup": _setup(problem, samples_per_config)})
        console.print(f"results written to {json_out}")


def _tune_on_ray(
    wf: Workflow,
    space: str,
    budget: int,
    seed: int,
    method: str,
    k: int,
    address: str | None,
    json_out: Path | None,
    plot: Path | None,
) -> None:
    """Measure real requests on a RayPlatform (time scale 1) in a space clamped to the cluster's largest node."""
    from aquatope.runtime import ray_available
    from aquatope.runtime.functions import bind_workflow

    bind_workflow(wf)  # refuse a workflow without handlers before starting Ray
    if not ray_available():
        raise InputError("ray is not installed: pip install -c constraints.txt -e '.[ray]'", field="--platform")
    from aquatope.experiments.ray_run import ray_space, tune_on_ray
    from aquatope.runtime.platform import RayPlatform

    base = make_problem(wf, space, budget, seed)
    with RayPlatform(time_scale=1.0, address=address, pricing=base.pricing) as ray_platform:
        problem = SizingProblem(wf, ray_space(ray_platform, space, wf), base.pricing, budget, seed)
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, TextColumn("{task.fields[best]}"), console=console, transient=True) as progress:
            task = progress.add_task(f"{method} on {wf.name} (ray)", total=budget, best="")

            def update(n: int, m: Measurement) -> None:
                best = f"last: {m.latency_pctl_ms:.0f} ms, ${m.cost_per_request_usd:.3g}"
                progress.update(task, completed=min(n, budget), best=best)

            result = tune_on_ray(problem, method, ray_platform, k, update)
        enforcement = ray_platform.enforcement()
    console.print(result_table(problem, result))
    if plot is not None:
        plot_convergence({method: result}, plot, problem)
    if json_out is not None:
        setup = {**_setup(problem, k), "platform": "ray", "ray_address": address, "enforcement": enforcement}
        write_json_atomic(json_out, {**result.to_dict(), "setup": setup})
        console.print(f"results written to {json_out}")


def _setup(problem: SizingProblem, k: int) -> dict[str, Any]:
    return {
        "workflow": problem.workflow.name,
        "qos": {"latency_ms": problem.qos_ms, "percentile": problem.workflow.qos.percentile},
        "space": problem.space.describe(),
        "pricing": problem.pricing.name,
        "budget": problem.budget,
        "samples_per_config": k,
        "seed": problem.seed,
    }


def _run_with_progress(problem: SizingProblem, method: str, k: int) -> SizingResult:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TextColumn("{task.fields[best]}"), console=console, transient=True) as progress:
        task = progress.add_task(f"{method} on {problem.workflow.name}", total=problem.budget, best="")

        def update(n: int, m: Measurement) -> None:
            best = f"last: {m.latency_pctl_ms:.0f} ms, ${m.cost_per_request_usd:.3g}"
            progress.update(task, completed=min(n, problem.budget), best=best)

        return tune(problem, method, k, update)


def result_table(problem: SizingProblem, result: SizingResult) -> Table:
    """The chosen configuration per function and the measured percentile against the target."""
    best = result.best
    pct = f"p{problem.workflow.qos.percentile:g}"
    table = Table(title=f"{result.method} on {problem.workflow.name}: {result.evaluations} evaluations")
    table.add_column("function")
    table.add_column("vCPU", justify="right")
    table.add_column("memory MB", justify="right")
    if best is None:
        table.caption = "[red]no configuration measured feasible: the QoS target looks unreachable in this space[/]"
        return table
    for f in problem.functions:
        table.add_row(f, f"{best.config[f].cpu:g}", str(best.config[f].memory_mb))
    verdict = "[green]meets[/]" if best.feasible else "[red]misses[/]"
    table.caption = (
        f"measured {pct} {best.latency_pctl_ms:,.0f} ms vs target {problem.qos_ms:,.0f} ms: {verdict}; "
        f"cost per request ${best.cost_per_request_usd:.4g}"
    )
    return table


def _oracle_table(problem: SizingProblem, oracle: OracleResult) -> Table:
    table = Table(title=f"exhaustive oracle on {problem.workflow.name} ({oracle.method}, {oracle.wall_s:.1f} s)")
    table.add_column("function")
    table.add_column("vCPU", justify="right")
    table.add_column("memory MB", justify="right")
    if oracle.config is None:
        table.caption = "[red]nothing in the space meets the QoS target[/]"
        return table
    for f in problem.functions:
        table.add_row(f, f"{oracle.config[f].cpu:g}", str(oracle.config[f].memory_mb))
    table.caption = (
        f"Monte Carlo p{problem.workflow.qos.percentile:g} {oracle.latency_pctl_ms:,.0f} ms vs target "
        f"{problem.qos_ms:,.0f} ms; expected cost per request ${oracle.cost_per_request_usd:.4g}"
    )
    return table


def _compare(problem: SizingProblem, n_seeds: int, k: int, json_out: Path | None) -> None:
    seeds = list(range(problem.seed, problem.seed + n_seeds))
    with console.status(f"comparing {', '.join(MEASURED_METHODS)} on {len(seeds)} seeds...") as status:
        oracle, summaries = compare_methods(
            problem, seeds, samples_per_config=k, on_run=lambda m, s: status.update(f"{m}, seed {s} done")
        )
    table = Table(title=f"{problem.workflow.name}: methods against the exhaustive optimum")
    for col in ("method", "cost / optimum", "meets QoS (fresh)", "evals to within 10%", "evaluations"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for s in summaries:
        evals = "never" if math.isinf(s.evals_to_10pct_median) else f"{s.evals_to_10pct_median:.0f}"
        table.add_row(
            s.method, f"{s.cost_ratio_median:.3f}", f"{s.fresh_qos_met:.0%}", evals, f"{s.evaluations_median:.0f}"
        )
    console.print(table)
    if json_out is not None:
        data = {"oracle": oracle.to_dict(), "methods": {s.method: s.to_dict() for s in summaries}, "seeds": seeds}
        write_json_atomic(json_out, {**data, "setup": _setup(problem, k)})


def plot_convergence(results: dict[str, SizingResult], path: Path, problem: SizingProblem) -> None:
    """Best feasible cost per request after each evaluation, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, result in results.items():
        curve = [math.nan if c is None else c for c in result.best_cost_curve()]
        ax.step(range(1, len(curve) + 1), curve, where="post", label=name)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best feasible cost per request (USD)")
    ax.set_title(f"{problem.workflow.name}: QoS {problem.workflow.qos}")
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, path)
