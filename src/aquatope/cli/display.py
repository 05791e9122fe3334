"""Shared pieces of the CLI's output: the one error printer, the progress bar and the run-metrics table of
``simulate`` and ``run``.

Only :func:`print_error` is needed on every start-up path, so Rich's progress and table modules are imported
where they are used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from rich.progress import Progress
    from rich.table import Table

    from aquatope.metrics import RunMetrics


def print_error(message: str) -> None:
    """Print ``error: <message>`` on stderr as one line, literally: no Rich markup (``'.[ray]'`` stays as it
    is), no highlighting, no wrapping; newlines in the message become spaces."""
    line = " ".join(message.split())
    Console(stderr=True, highlight=False).print(
        Text.assemble(("error:", "bold red"), " ", line), soft_wrap=True, markup=False
    )


def progress_bar(console: Console) -> Progress:
    """A transient bar with a description, percentage and elapsed time."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def metrics_rows(m: RunMetrics) -> list[tuple[str, str]]:
    """Requests, QoS, latency, cold starts, containers and cost of one run, as (label, value) rows."""
    return [
        ("requests", f"{m.requests:,}"),
        ("function invocations", f"{m.invocations:,}"),
        ("QoS violation rate", f"{m.qos_violation_rate:.2%}"),
        ("failed requests", f"{m.failed_requests:,}"),
        ("latency p50 / p95 / p99 (ms)", " / ".join(f"{m.latency_ms[k]:,.0f}" for k in ("p50", "p95", "p99"))),
        ("cold-start rate", f"{m.cold_start_rate:.2%}"),
        ("containers started", f"{m.containers_started:,}"),
        ("warm containers mean / peak", f"{m.mean_warm_containers:,.1f} / {m.peak_warm_containers:,}"),
        (
            "cost: execution / idle / requests",
            " / ".join(f"${m.cost_usd[k]:,.4f}" for k in ("execution", "idle", "requests")),
        ),
    ]


def two_column_table(title: str, rows: list[tuple[str, str]]) -> Table:
    """A headerless metric / value table."""
    from rich.table import Table

    table = Table(title=title, show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table
