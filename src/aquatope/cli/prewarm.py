"""``aquatope prewarm evaluate``: compare pool policies on the test part of a trace (tables, JSON, plot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from aquatope.cli.options import seed_option
from aquatope.errors import InputError
from aquatope.experiments.prewarm_eval import (
    DEFAULT_POLICIES,
    SWEEP_Q,
    EvalConfig,
    PrewarmEvalResult,
    evaluate_prewarm,
    split_trace,
)
from aquatope.forecast import RATE_CLASSES, BayesLSTMForecaster, load_model, match_functions, save_model
from aquatope.jsonio import check_output_path, save_figure_atomic, write_json_atomic
from aquatope.traces import load_trace

console = Console()
prewarm_app = typer.Typer(help="Pre-warming policies: evaluate them on a trace.", no_args_is_help=True)


def _functions(spec: str) -> int | None:
    if spec == "all":
        return None
    if spec.isdigit() and int(spec) >= 1:
        return int(spec)
    raise InputError(f"expected a positive integer or 'all', got {spec!r}", field="--functions")


def _params(items: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` items as keyword arguments (values read as JSON where they parse, else as text)."""
    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected KEY=VALUE, got {item!r}", field="--param")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


@prewarm_app.command("evaluate")
def evaluate(
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec.")],
    functions: Annotated[str, typer.Option(help="Only the first N functions, or 'all'.")] = "all",
    train_minutes: Annotated[
        int | None, typer.Option(help="Minutes that train the forecaster (default: all days but the last, or 2/3).")
    ] = None,
    policies: Annotated[str, typer.Option(help="Comma-separated pool policies.")] = ",".join(DEFAULT_POLICIES),
    forecaster: Annotated[
        str,
        typer.Option(
            help="The forecaster the policies use: bayes-lstm, ewma, moving-average, seasonal-naive, last-value."
        ),
    ] = "bayes-lstm",
    forecasters: Annotated[
        str, typer.Option(help="Comma-separated forecasters whose accuracy is reported next to --forecaster's.")
    ] = "moving-average",
    model: Annotated[
        Path | None,
        typer.Option(help="A bayes-lstm model file from 'prewarm train' (used as is, not refitted; matched by name)."),
    ] = None,
    seed: Annotated[int, seed_option("Seed of every random draw.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON to this file.")] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw cold-start rate against idle GB-s to this PNG.")] = None,
) -> None:
    """Replay the test part of a trace under each policy and print cold starts, idle memory, cost and QoS misses."""
    specs = tuple(s.strip() for s in policies.split(",") if s.strip())
    if model is not None and forecaster != "bayes-lstm":
        raise InputError(f"a model file is a bayes-lstm model; got --forecaster {forecaster}", field="--model")
    config = EvalConfig(
        policies=specs,
        forecaster=forecaster,
        compare=tuple(f.strip() for f in forecasters.split(",") if f.strip()),
        train_minutes=train_minutes,
        functions=_functions(functions),
        sweep_q=SWEEP_Q if plot is not None else (),
        seed=seed,
    )
    for out in (json_out, plot):
        if out is not None:
            check_output_path(out)
    result = _run(trace, config, model)
    console.print(policy_table(result))
    console.print(forecaster_table(result))
    if json_out is not None:
        write_json_atomic(json_out, result.to_dict())
        console.print(f"results written to {json_out}")
    if plot is not None:
        draw_plot(result, plot)
        console.print(f"plot written to {plot}")


def _run(trace: str, config: EvalConfig, model: Path | None) -> PrewarmEvalResult:
    """Load the model file (checked first: it is fast) and the trace, match them by function name, replay."""
    fitted = load_model(model) if model is not None else None
    tr = load_trace(trace, seed=config.seed)
    if fitted is not None:
        n = config.functions or tr.n_functions
        fitted = match_functions(fitted, tr.function_ids[:n], source=model)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("replaying", total=1.0)
        return evaluate_prewarm(
            tr,
            config,
            forecaster=fitted,
            prefitted=fitted is not None,
            progress=lambda f: progress.update(task, completed=f),
        )


@prewarm_app.command("train")
def train(
    trace: Annotated[str, typer.Option(help="Trace directory or CSV, or a synthetic spec.")],
    out: Annotated[Path, typer.Option(help="Model file to write (weights and a JSON header; no pickle).")],
    train_minutes: Annotated[
        int | None, typer.Option(help="Minutes to train on (default: all days but the last, or 2/3).")
    ] = None,
    functions: Annotated[str, typer.Option(help="Only the first N functions, or 'all'.")] = "all",
    seed: Annotated[int, seed_option("Seed of the training.")] = 0,
    param: Annotated[
        list[str] | None,
        typer.Option(help="A bayes-lstm parameter KEY=VALUE (repeatable), e.g. epochs=5; see BayesParams."),
    ] = None,
) -> None:
    """Train the global Bayesian LSTM forecaster on the first part of a trace and save it."""
    check_output_path(out)
    tr = load_trace(trace, seed=seed)
    n = _functions(functions)
    if n is not None:
        tr = tr.select(list(range(min(n, tr.n_functions))))
    part, _ = split_trace(tr, train_minutes)
    model = BayesLSTMForecaster(**{**_params(param or []), "seed": seed})
    with console.status(f"training bayes-lstm on {part.n_functions} functions x {part.n_minutes} minutes..."):
        model.fit(part.counts.astype(float))
    report = model.validation_report
    if report.reason.startswith("too little history"):
        raise InputError(f"{part.n_minutes} minutes: {report.reason}", field="--train-minutes")
    save_model(model, out, functions=part.function_ids)
    console.print(
        f"model written to {out} ({report.train_time_s:.0f} s of training): validation 90% coverage "
        f"{report.coverage.get(0.9, float('nan')):.1%}, MAE {report.mae:.3f} (moving average "
        f"{report.moving_average_mae:.3f}); served by "
        + ", ".join(f"{k} {v}" for k, v in report.components.items())
        + (f" ({report.interval_vetoed} chosen by the 90% interval, not the median)" if report.interval_vetoed else "")
    )
    if not report.usable:
        console.print(
            f"[yellow]warning:[/yellow] the network is not used ({report.reason}): every function is served "
            "by the moving average",
            markup=True,
        )


def policy_table(result: PrewarmEvalResult) -> Table:
    s = result.setup
    table = Table(
        title=f"pool policies — {s['test_minutes']} test minutes, {s['functions']} functions, seed {s['seed']}"
    )
    # each function is judged against its own target: the share of invocations over it (a p99 pooled over unrelated
    # functions is the same for every policy and means nothing)
    for col in ("policy", "cold starts", "idle GB-h", "cost USD", "over target", "invocations"):
        table.add_column(col, justify="left" if col == "policy" else "right", no_wrap=col == "policy")
    for name, m in result.policies.items():
        table.add_row(
            name,
            f"{m['cold_start_rate']:.2%}",
            f"{m['idle_gb_s'] / 3600.0:,.0f}",
            f"{m['cost_usd']:,.2f}",
            f"{m['qos_violation_rate']:.2%}",
            f"{int(m['invocations']):,}",
        )
    return table


def forecaster_table(result: PrewarmEvalResult) -> Table:
    """MAE of the median and 90% coverage per forecaster, overall and per rate class, and what served the functions."""
    table = Table(title="forecast accuracy (one step, test part): MAE / 90% coverage")
    classes = [c for c in RATE_CLASSES if any(c in m.get("mae_by_class", {}) for m in result.forecasters.values())]
    for col in ("forecaster", "all", *classes, "served by"):
        table.add_column(col, justify="left" if col in ("forecaster", "served by") else "right")
    for name, m in result.forecasters.items():
        cells = [f"{m['mae']:.3f} / {m['coverage_90']:.1%}"]
        for c in classes:
            cells.append(
                f"{m['mae_by_class'].get(c, float('nan')):.3f} / {m['coverage_90_by_class'].get(c, float('nan')):.1%}"
            )
        served = ", ".join(f"{k} {v}" for k, v in m.get("components", {}).items())
        table.add_row(name, *cells, served)
    return table


def draw_plot(result: PrewarmEvalResult, path: Path) -> None:
    """Cold-start rate vs idle GB-s: one point per policy, a curve for the aquatope q sweep; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, m in result.policies.items():
        ax.scatter(m["idle_gb_s"], m["cold_start_rate"], zorder=3)
        ax.annotate(name, (m["idle_gb_s"], m["cold_start_rate"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    if result.sweep:
        pts = sorted(result.sweep, key=lambda p: p["idle_gb_s"])
        ax.plot([p["idle_gb_s"] for p in pts], [p["cold_start_rate"] for p in pts], "--", label="aquatope, q sweep")
        for p in pts:
            ax.annotate(f"q={p['q']:g}", (p["idle_gb_s"], p["cold_start_rate"]), fontsize=7, alpha=0.7)
        ax.legend()
    ax.set_xlabel("idle memory (GB-s)")
    ax.set_ylabel("cold-start rate")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_figure_atomic(fig, path)
