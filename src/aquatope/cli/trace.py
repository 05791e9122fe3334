"""``aquatope trace ...``: inspect invocation traces (Azure 2019/2021 files or ``synthetic:...`` specs).

Function ids and paths come from user files: they are escaped, so Rich markup in them prints as written.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aquatope.cli.options import seed_option
from aquatope.traces import TraceSummary, load_trace, sparkline, summarize
from aquatope.traces.summary import hourly_counts

trace_app = typer.Typer(help="Inspect invocation traces.", no_args_is_help=True)


@trace_app.callback()
def _trace() -> None:
    """Inspect invocation traces: Azure 2019/2021 files or directories, or synthetic:KIND:key=value,..."""


def _short(function_id: str, width: int = 11) -> str:
    return escape(function_id if len(function_id) <= width else function_id[: width - 1] + "…")


def _overview(summary: TraceSummary) -> Table:
    table = Table(show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value", justify="right")
    table.add_row("functions", f"{summary.functions:,}")
    table.add_row("active functions", f"{summary.active_functions:,}")
    table.add_row("minutes", f"{summary.minutes:,} ({summary.minutes / 1440:.2f} days)")
    table.add_row("invocations", f"{summary.invocations:,}")
    stats = [name for name, has in (("durations", summary.has_durations), ("memory", summary.has_memory)) if has]
    table.add_row("statistics", ", ".join(stats) or "none")
    return table


def _rates(summary: TraceSummary) -> Table:
    table = Table(title="Per-function mean rate (invocations/min)", title_justify="left", min_width=44)
    for key in summary.rate_percentiles:
        table.add_column(key, justify="right")
    table.add_row(*(f"{value:,.3g}" for value in summary.rate_percentiles.values()))
    return table


def _classes(summary: TraceSummary) -> Table:
    table = Table(title="Classes", title_justify="left")
    table.add_column("class")
    table.add_column("functions", justify="right")
    table.add_column("share", justify="right")
    for name, count in summary.classes.items():
        table.add_row(name, f"{count:,}", f"{count / max(summary.functions, 1):.0%}")
    return table


def _top(summary: TraceSummary, max_chars: int = 24) -> Table:
    """The busiest functions, with a sparkline of hourly counts (several hours per character if long)."""
    hours = max((len(f.hourly) for f in summary.top), default=1)
    per_char = -(-hours // max_chars)
    unit = "hourly counts" if per_char == 1 else f"counts per {per_char} h"
    table = Table(title=f"Busiest {len(summary.top)} functions ({unit})", title_justify="left")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("function", no_wrap=True)
    table.add_column("invocations", justify="right", no_wrap=True)
    table.add_column("/min", justify="right", no_wrap=True)
    table.add_column("class", no_wrap=True)
    table.add_column("activity", no_wrap=True)
    for rank, f in enumerate(summary.top, start=1):
        bins = hourly_counts(f.hourly, per_char)
        table.add_row(
            str(rank),
            _short(f.function_id),
            f"{f.invocations:,}",
            f"{f.rate_per_minute:,.2f}",
            f.traffic_class,
            sparkline(bins),
        )
    return table


@trace_app.command("info")
def info(
    path: Annotated[str, typer.Argument(help="Trace file or directory, or a synthetic:KIND:key=value,... spec.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON object to stdout.")] = False,
    top: Annotated[int, typer.Option("--top", min=0, help="How many of the busiest functions to list.")] = 10,
    seed: Annotated[int, seed_option("Seed for synthetic specs without their own.")] = 0,
) -> None:
    """Show a trace's size, per-function rate percentiles, class counts and busiest functions."""
    summary = summarize(load_trace(path, seed=seed), top=top)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    console = Console()
    console.print(f"[bold]Trace[/] {escape(summary.source)}", highlight=False, soft_wrap=True)
    for table in (_overview(summary), _rates(summary), _classes(summary)):
        console.print(table)
    if summary.top:
        console.print(_top(summary))
