"""``aquatope evaluate`` (a reduced study, ~10 min on 2 cores) and ``aquatope study`` (the full design): systems x
workflows x seeds x windows in scenarios, on Ray or serially; verdicts, tables, results.json, report.md and plots."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aquatope.errors import InputError
from aquatope.experiments.evaluate import MAIN_WORKFLOWS, EvaluateConfig, evaluate, full_study_config
from aquatope.experiments.protocol import Protocol
from aquatope.experiments.report import SYSTEM_HEAD, ratio, system_cells, write_outputs
from aquatope.experiments.systems import Budgets, parse_systems
from aquatope.jsonio import OutputPlan
from aquatope.scenarios import load_scenario
from aquatope.traces import load_trace
from aquatope.traces.azure import BUNDLED
from aquatope.workflow.catalog import builtin_workflow_names

console = Console()
err = Console(stderr=True)
DEFAULT_TRACE = str(BUNDLED / "azure2019-sample-250")
OUTPUT_ROOM = 2**20
"""Bytes of room --out must have before a study starts: more than its largest file (a plot or a reduced study's
runs.jsonl is tens of KiB), so a full disk is refused before hours of work, not after."""


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


def parse_list(text: str, field: str) -> tuple[str, ...]:
    items = tuple(s.strip() for s in text.split(",") if s.strip())
    if not items or len(set(items)) != len(items):
        raise InputError(f"expected a comma-separated list of distinct names, got {text!r}", field=field)
    return items


def progress_printer() -> Callable[[int, int, str], None]:
    """Progress on stderr with an estimate of the time left: a live line in a terminal, plain lines otherwise
    (at most one every 10 s)."""
    began = time.monotonic()
    state: dict[str, float] = {"last": -1e9, "start_done": -1.0}

    def show(done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if state["start_done"] < 0:
            state["start_done"] = done
        ran = done - int(state["start_done"])
        left = total - done
        eta = f"~{(now - began) / ran * left / 60:.0f} min left" if ran > 0 and left else ""
        line = f"{done}/{total} runs {eta}  {what}"
        if sys.stderr.isatty():
            err.print(line[:120], end="\r", highlight=False, markup=False)
        elif now - float(state["last"]) >= 10 or done == total:
            print(line, file=sys.stderr, flush=True)
            state["last"] = now

    return show


def _run(config: EvaluateConfig, trace: str, out: Path, ray_address: str) -> None:
    plan = OutputPlan()  # --out checked before any work: a directory, in an existing writable one, with room
    plan.input(trace)
    plan.directory(out, field="--out", room=OUTPUT_ROOM)
    plan.check()
    tr = load_trace(trace, seed=0)
    config.protocol.check(tr)
    address = None if ray_address == "none" else ray_address
    results = evaluate(tr, config, out, ray_address=address, progress=progress_printer())
    if sys.stderr.isatty():
        err.print()
    for name, sc in results["scenarios"].items():
        console.print(system_table(name, sc))
        if "claims" in sc:
            console.print(verdict_table(name, sc["claims"]))
            for w, claims in sc.get("claims_by_workflow", {}).items():
                console.print(verdict_table(f"{name}, {w} alone", claims))
    if "advantage_trend" in results:
        t = results["advantage_trend"]
        console.print(
            "advantage (best other / aquatope at iso-QoS 1%): "
            + ", ".join(f"{k} {ratio(v)}" for k, v in t["advantage"].items())
            + f" — {t['verdict']}",
            highlight=False,
        )
    for line in results["errors"][:10]:
        console.print(f"run failed: {line}", highlight=False, markup=False)
    paths = write_outputs(results, out, plan=plan)
    console.print(f"written: {', '.join(str(p) for p in paths)} (runs: {out / 'runs.jsonl'})", highlight=False)


def system_table(scenario: str, sc: dict[str, Any]) -> Table:
    table = Table(title=f"{scenario}: per system (means over workflows and pairs)")
    cols = [c for c in SYSTEM_HEAD if "CI" not in c]
    for col in cols:
        if col == "system":
            table.add_column(col, overflow="fold", max_width=22)
        else:
            table.add_column(col, justify="right", no_wrap=True)
    for s, m in sc["systems"].items():
        cells = system_cells(s, m)
        table.add_row(*(c for c, h in zip(cells, SYSTEM_HEAD, strict=True) if "CI" not in h))
    return table


def verdict_table(scenario: str, claims: dict[str, Any]) -> Table:
    table = Table(title=f"{scenario}: claims")
    for col in ("claim", "figure", "95% CI", "verdict"):
        table.add_column(col)
    for level, c in claims.get("iso_qos", {}).items():
        band = c["ratio_ci95"]
        shown = "—" if None in band else f"[{band[0]:.2f}, {band[1]:.2f}]"
        figure = ratio(c["ratio"]) if c.get("ratio") is not None else c.get("note", "—")
        table.add_row(f"cost ratio at iso-QoS {level} (<= 0.7)", figure, shown, c["verdict"])
    eq = claims.get("equal_cost", {})
    if "ratio" in eq:
        band = eq["ratio_ci95"]
        shown = "—" if None in band else f"[{band[0]:.2f}, {band[1]:.2f}]"
        table.add_row(f"fewer window viol. vs {eq['baseline']} (>= 5)", ratio(eq["ratio"]), shown, eq["verdict"])
    elif eq:
        table.add_row("fewer window viol. at equal cost", eq.get("reason", ""), "—", eq["verdict"])
    return table


SystemsOpt = Annotated[
    str, typer.Option(help="'all' (the named systems), or names and POOL+SIZER[+live] combinations.")
]
TraceOpt = Annotated[str, typer.Option(help="Trace directory or CSV (Azure format), or a synthetic spec.")]
RayOpt = Annotated[str, typer.Option(help="'local' (a local Ray on all cores), an address (auto, ray://...), or none.")]
FirstSeedOpt = Annotated[
    int, typer.Option(min=0, help="The first seed: seeds FIRST..FIRST+N-1 (fresh data for a decision).")
]


def evaluate_command(
    scenarios: Annotated[str, typer.Option(help="Scenario names or files, comma-separated.")] = "shared",
    systems: SystemsOpt = "all",
    workflows: Annotated[
        str, typer.Option(help="'all' (the six main workflows) or a comma-separated list.")
    ] = "ml-pipeline,trip-booking",
    seeds: Annotated[int, typer.Option(min=1, help="How many seeds (from --first-seed).")] = 3,
    first_seed: FirstSeedOpt = 0,
    windows: Annotated[str, typer.Option(help="Replay windows: peak, quiet or both.")] = "peak",
    hours: Annotated[
        float,
        typer.Option(
            "--window-hours",
            help="Length of each replay window (hours; simulate's --hours is how much of the trace to replay).",
        ),
    ] = 1.0,
    pareto: Annotated[
        bool, typer.Option("--pareto", help="Sweep each system's knob (Pareto fronts, iso-QoS).")
    ] = False,
    budget: Annotated[int, typer.Option(min=1, help="Measured right-sizing budget (evaluations).")] = 20,
    start: Annotated[str, typer.Option(help="Measured sizers' start: design (shared) or random (cold).")] = "design",
    max_rps: Annotated[float, typer.Option(help="Cap on each workflow's mean training request rate (req/s).")] = 2.0,
    train_hours: Annotated[
        float, typer.Option(help="Hours at the trace's start that train (the rest is held out).")
    ] = 16.0,
    trace: TraceOpt = DEFAULT_TRACE,
    ray_address: RayOpt = "local",
    out: Annotated[
        Path, typer.Option(help="Directory: runs.jsonl (resumable), results.json, report.md, plots.")
    ] = Path("evaluate-out"),
) -> None:
    """A reduced study (shared scenario, named systems, ml-pipeline and trip-booking, 3 seeds, one 1-hour window; ~10 min on 2 cores)."""
    config = EvaluateConfig(
        scenarios=tuple(load_scenario(s).source or s for s in parse_list(scenarios, "--scenarios")),
        systems=parse_systems(systems),
        workflows=parse_workflows(workflows),
        seeds=seeds,
        first_seed=first_seed,
        protocol=_protocol(windows, hours, max_rps, train_hours),
        budgets=Budgets(tuning_budget=budget, start=start),
        pareto=pareto,
    )
    _run(config, trace, out, ray_address)


def _minutes(hours: float, field: str) -> int:
    if not (hours > 0 and hours <= 24 * 14 and abs(hours * 60 - round(hours * 60)) < 1e-9):
        raise InputError(
            f"must be a whole number of minutes, more than 0 and at most two weeks, got {hours}", field=field
        )
    return round(hours * 60)


def _protocol(windows: str, hours: float, max_rps: float, train_hours: float) -> Protocol:
    train = _minutes(train_hours, "--train-hours")
    lead = min(Protocol.settle_minutes + Protocol.warmup_minutes, train)  # short traces: shorter settling
    settle = min(Protocol.settle_minutes, lead)
    return Protocol(
        train_minutes=train,
        window_minutes=_minutes(hours, "--window-hours"),
        windows=parse_list(windows, "--windows"),
        max_rps=max_rps,
        settle_minutes=settle,
        warmup_minutes=min(Protocol.warmup_minutes, lead - settle),
    )


def study_command(
    seeds: Annotated[int, typer.Option(min=1, help="How many seeds (from --first-seed).")] = 5,
    first_seed: FirstSeedOpt = 0,
    trace: TraceOpt = DEFAULT_TRACE,
    ray_address: RayOpt = "local",
    out: Annotated[
        Path, typer.Option(help="Directory: runs.jsonl (resumable), results.json, report.md, plots.")
    ] = Path("study-out"),
) -> None:
    """The full study: every named scenario, the named systems and ablations, peak and quiet 2-hour windows, each
    knob swept. Hours to days on 2 cores (run it on a Ray cluster); interrupt and run again to resume."""
    _run(full_study_config(seeds=seeds, first_seed=first_seed), trace, out, ray_address)
