"""The ``aquatope`` command line: a thin layer that parses options, calls one library function and prints.

Sub-commands live in sibling modules, one Typer app each. User errors (:class:`InputError`) print one line
naming the file/line/field and exit with code 2, without a traceback; nothing half-written is left behind
(commands write results to a temporary file and rename it).
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from aquatope.cli.evaluate import evaluate_command
from aquatope.cli.prewarm import prewarm_app
from aquatope.cli.run import run_command
from aquatope.cli.scenarios import scenarios_app
from aquatope.cli.simulate import simulate
from aquatope.cli.trace import trace_app
from aquatope.cli.tune import tune_command
from aquatope.cli.workflows import workflows_app
from aquatope.errors import InputError

err_console = Console(stderr=True)


class _AquatopeGroup(TyperGroup):
    """Top-level group that turns :class:`InputError` from any sub-command into exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except InputError as exc:
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from exc


app = typer.Typer(
    name="aquatope",
    cls=_AquatopeGroup,
    help="QoS- and uncertainty-aware pre-warming and right-sizing for serverless workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(workflows_app, name="workflows")
app.add_typer(trace_app, name="trace")
app.add_typer(prewarm_app, name="prewarm")
app.add_typer(scenarios_app, name="scenarios")
app.command("simulate")(simulate)
app.command("tune")(tune_command)
app.command("evaluate")(evaluate_command)
app.command("run")(run_command)


def main() -> None:
    """Console-script entry point."""
    app()
