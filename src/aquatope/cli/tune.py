"""``aquatope tune``: right-size every function of a workflow to meet its QoS at the least cost."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from aquatope.errors import InputError
from aquatope.experiments.tuning import (
    Saving,
    compare_methods,
    make_problem,
    numerical_warnings,
    remeasure,
    saving,
    tune,
)
from aquatope.jsonio import check_output_path, save_figure_atomic, write_json_atomic, write_text_atomic
from aquatope.scenarios import load_scenario
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import History, Measurement, SizingProblem, config_key
from aquatope.sizing.design import STARTS, defaults
from aquatope.sizing.exhaustive import OracleResult, exhaustive_search
from aquatope.sizing.load import LoadProfile
from aquatope.sizing.loop import SizingResult
from aquatope.sizing.registry import MEASURED_METHODS, METHODS
from aquatope.workflow import Workflow, load_workflow

console = Console()


def tune_command(
    workflow: Annotated[str, typer.Option(help="Built-in workflow name or workflow YAML path.")],
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(METHODS)}.")] = "aquatope-bo",
    budget: Annotated[int, typer.Option(min=1, help="Measured configurations at most.")] = 20,
    samples_per_config: Annotated[int, typer.Option(min=2, help="Warm requests per measured configuration.")] = 20,
    space: Annotated[
        str, typer.Option(help="decoupled (cpu x memory) or coupled (memory only, AWS Lambda).")
    ] = "decoupled",
    seed: Annotated[int, typer.Option(min=0, help="Seed of the sizer and of the simulated measurements.")] = 0,
    start: Annotated[
        str, typer.Option(help="design (YAML defaults and what a user tries first) or random (cold start).")
    ] = "design",
    scenario: Annotated[str, typer.Option(help="Scenario name or file whose staging world measures.")] = "calm",
    load_rps: Annotated[
        float | None,
        typer.Option(help="Forecast requests/s: minimise expected total cost (execution + idle) at this rate."),
    ] = None,
    pool: Annotated[str, typer.Option(help="With --load-rps: the pool policy that will hold containers.")] = (
        "keepalive:600"
    ),
    compare: Annotated[
        bool, typer.Option("--compare", help="Run every method and score it against the oracle.")
    ] = False,
    seeds: Annotated[int, typer.Option(min=1, help="With --compare: runs per method.")] = 3,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result as JSON to this file.")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write every measured configuration as CSV.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Plot the answer's cost against evaluations (PNG).")] = None,
    platform: Annotated[
        str, typer.Option(help="sim (the workflow's perf models) or ray (real functions, real measurements).")
    ] = "sim",
    ray_address: Annotated[
        str | None,
        typer.Option(envvar="RAY_ADDRESS", help="With --platform ray: existing cluster (auto, ray://head:10001)."),
    ] = None,
) -> None:
    """Right-size a workflow on the simulator or on Ray: the configuration per function, its measured percentile,
    its cost and the saving over the deployed (default) configuration, and every configuration measured."""
    if method not in METHODS and not method.startswith("aquatope-bo:"):
        raise InputError(f"unknown sizing method {method!r}; choose one of {', '.join(METHODS)}", field="--method")
    if start not in STARTS:
        raise InputError(f"unknown start {start!r}; choose one of {', '.join(STARTS)}", field="--start")
    if platform not in ("sim", "ray"):
        raise InputError(f"unknown platform {platform!r}; choose sim or ray", field="--platform")
    if platform == "ray" and (compare or method == "exhaustive"):
        raise InputError(
            "--compare and the exhaustive oracle need the perf models: use --platform sim", field="--platform"
        )
    outputs = [p for p in (json_out, csv_out, plot) if p is not None]
    for out in outputs:
        check_output_path(out)
    wf = load_workflow(workflow)
    _refuse_overwriting_input(wf, outputs)
    world = load_scenario(scenario)
    load = None if load_rps is None else LoadProfile(load_rps, pool)
    if platform == "ray":
        _tune_on_ray(wf, space, budget, seed, method, samples_per_config, ray_address, json_out, plot)
        return
    problem = make_problem(wf, space, budget, seed, load)
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
    with numerical_warnings() as caught:
        result = _run_with_progress(problem, method, samples_per_config, start, world.name)
    gain = saving(problem, result, lambda: remeasure(problem, defaults(problem), seed, samples_per_config, world))
    _report(problem, result, gain, caught, outputs={"json": json_out, "csv": csv_out, "plot": plot},
            setup={**_setup(problem, samples_per_config), "start": start, "scenario": world.to_dict()})  # fmt: skip


def _refuse_overwriting_input(wf: Workflow, outputs: list[Path]) -> None:
    source = getattr(wf, "source", None)
    if source is None:
        return
    for out in outputs:
        if out.exists() and out.resolve() == Path(source).resolve():
            raise InputError("is an input (the workflow file this command reads); choose another output", source=out)


def _report(
    problem: SizingProblem,
    result: SizingResult,
    gain: Saving | None,
    caught: Counter[str],
    outputs: dict[str, Path | None],
    setup: dict[str, Any],
) -> None:
    console.print(result_table(problem, result, gain))
    console.print(history_table(problem, result))
    if caught:
        kinds = ", ".join(f"{n} {k}" for k, n in caught.most_common())
        console.print(f"[dim]{sum(caught.values())} numerical warnings from the GP fits ({escape(kinds)}): expected "
                      "with a few noisy points, each fit falls back safely[/]")  # fmt: skip
    if outputs["plot"] is not None:
        plot_convergence({result.method: result}, outputs["plot"], problem)
    if outputs["csv"] is not None:
        write_text_atomic(outputs["csv"], history_csv(problem, result))
    if outputs["json"] is not None:
        data = {**result.to_dict(), "saving": None if gain is None else _saving_dict(gain), "setup": setup}
        write_json_atomic(outputs["json"], data)
    written = [str(p) for p in outputs.values() if p is not None]
    if written:
        console.print(f"written: {', '.join(written)}")


def _saving_dict(gain: Saving) -> dict[str, Any]:
    return {
        "default_objective_usd": gain.default_usd,
        "answer_objective_usd": gain.answer_usd,
        "fraction": gain.fraction,
        "default_measured_in_run": gain.default_measured,
    }


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
        with _progress() as progress:
            task = progress.add_task(f"{method} on {wf.name} (ray)", total=budget, best="")
            result = tune_on_ray(problem, method, ray_platform, k, _updater(progress, task, budget))
        enforcement = ray_platform.enforcement()
    console.print(result_table(problem, result, None))
    console.print(history_table(problem, result))
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
        "load": None if problem.load is None else problem.load.to_dict(),
    }


def _progress() -> Progress:
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, TimeRemainingColumn(), TextColumn("{task.fields[best]}"), console=console,
                    transient=True)  # fmt: skip


def _updater(progress: Progress, task: Any, budget: int) -> Any:
    def update(n: int, m: Measurement) -> None:
        best = f"last: {m.latency_pctl_ms:.0f} ms, ${m.cost_per_request_usd:.3g}"
        progress.update(task, completed=min(n, budget), best=best)

    return update


def _run_with_progress(problem: SizingProblem, method: str, k: int, start: str, scenario: str) -> SizingResult:
    with _progress() as progress:
        task = progress.add_task(f"{method} on {problem.workflow.name} ({scenario})", total=problem.budget, best="")
        return tune(problem, method, k, _updater(progress, task, problem.budget), start=start, scenario=scenario)


def _judged(problem: SizingProblem, result: SizingResult) -> dict[Any, Any]:
    history = History()
    for m, s in zip(result.history, result.sources or ("external",) * result.evaluations, strict=True):
        history.add(m, s)
    return judge_all(problem, history)


def result_table(problem: SizingProblem, result: SizingResult, gain: Saving | None) -> Table:
    """The answer per function, where it came from, its judged percentile against the target and the saving."""
    best, index = result.best, result.origin_index
    pct = f"p{problem.workflow.qos.percentile:g}"
    table = Table(title=f"{result.method} on {problem.workflow.name}: {result.evaluations} evaluations")
    for col, justify in (("function", "left"), ("vCPU", "right"), ("memory MB", "right"), ("max used MB", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    if best is None or index is None:
        table.caption = "[red]no configuration met the QoS: the target looks unreachable in this space[/]"
        return table
    for f in problem.functions:
        used = best.memory_used_mb.get(f)
        table.add_row(
            f, f"{best.config[f].cpu:g}", str(best.config[f].memory_mb), "-" if used is None else f"{used:,.0f}"
        )
    judged = _judged(problem, result)[config_key(best.config)]
    lines = [
        f"answer: evaluation {index + 1} ({result.best_source}), measured at "
        + ", ".join(str(i + 1) for i in result.best_measured_at),
        f"{pct} judged {judged.upper_ms:,.0f} ms (with the noise margin) vs target {problem.qos_ms:,.0f} ms",
        f"cost per request ${best.cost_per_request_usd:.4g}"
        + ("" if problem.load is None else f"; expected total ${judged.objective_usd:.4g} at the forecast load"),
    ]
    if gain is not None:
        how = "measured in the run" if gain.default_measured else "measured once more for this report"
        lines.append(f"saving over the deployed defaults ({how}): {gain.fraction:.1%}")
    table.caption = "\n".join(lines)
    return table


def history_table(problem: SizingProblem, result: SizingResult) -> Table:
    """Every measured configuration, as AWS Lambda Power Tuning lists them (fits 80 columns; --csv has all)."""
    pct = f"p{problem.workflow.qos.percentile:g}"
    judged = _judged(problem, result)
    table = Table(title="measured configurations (* = the answer)")
    for col in ("#", "source", f"{pct} ms", "judged ms", "meets", "$/request"):
        table.add_column(col, justify="left" if col == "source" else "right")
    for i, m in enumerate(result.history):
        j = judged[config_key(m.config)]
        mark = "*" if m is result.best else ""
        source = result.sources[i] if i < len(result.sources) else "external"
        meets = "yes" if j.feasible else ("fail" if m.failed else "no")
        table.add_row(f"{i + 1}{mark}", source, _ms(m.latency_pctl_ms), _ms(j.upper_ms), meets,
                      f"{m.cost_per_request_usd:.4g}")  # fmt: skip
    return table


def _ms(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "failed"


def history_csv(problem: SizingProblem, result: SizingResult) -> str:
    """Every measured configuration as CSV: evaluation, source, per-function cpu and memory, latency percentile,
    judged percentile, whether the answer rule accepts it, cost per request, objective, answer flag."""
    judged = _judged(problem, result)
    head = ["evaluation", "source"]
    head += [f"{f}_{a}" for f in problem.functions for a in ("vcpu", "memory_mb")]
    head += ["latency_pctl_ms", "judged_pctl_ms", "meets_qos", "cost_per_request_usd", "objective_usd", "answer"]
    rows = [",".join(head)]
    for i, m in enumerate(result.history):
        j = judged[config_key(m.config)]
        cells: list[Any] = [i + 1, result.sources[i] if i < len(result.sources) else "external"]
        cells += [v for f in problem.functions for v in (m.config[f].cpu, m.config[f].memory_mb)]
        cells += [m.latency_pctl_ms, j.upper_ms, j.feasible, m.cost_per_request_usd, problem.objective_usd(m)]
        cells.append(m is result.best)
        rows.append(",".join("" if isinstance(c, float) and not math.isfinite(c) else str(c) for c in cells))
    return "\n".join(rows) + "\n"


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
    for col in ("method", "cost/opt", "meets QoS", "evals to 10%", "evals"):
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
    """The answer's cost per request after each evaluation (one line per method: its last point is the answer),
    and every measured configuration as a dot (filled: the answer rule accepts it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, result in results.items():
        curve = [math.nan if c is None else c for c in result.best_cost_curve()]
        (line,) = ax.step(range(1, len(curve) + 1), curve, where="post", label=f"{name}: answer")
        judged = _judged(problem, result)
        for i, m in enumerate(result.history, start=1):
            ok = judged[config_key(m.config)].feasible
            ax.plot(
                i, m.cost_per_request_usd, "o", color=line.get_color(), alpha=0.6, fillstyle="full" if ok else "none"
            )
        if result.best_index is not None:
            ax.plot(result.best_index + 1, result.best.cost_per_request_usd, "*", color=line.get_color(), ms=14)  # type: ignore[union-attr]
    ax.set_xlabel("evaluations")
    ax.set_ylabel("cost per request (USD)")
    ax.set_title(f"{problem.workflow.name}: QoS {problem.workflow.qos}")
    ax.legend()
    fig.tight_layout()
    save_figure_atomic(fig, path)
