"""The ``aquatope`` command line: a thin layer that parses options, calls one library function and prints.

Sub-commands live in sibling modules, one Typer app or function each, imported only when they run (or when
their own help is asked for): ``aquatope --help`` lists them from :data:`COMMANDS` without importing torch,
SciPy or the simulator, so it starts fast.

Errors: a user error (:class:`~aquatope.errors.InputError`) or a bad option value prints one line,
``error: <file:line, field: message>``, on stderr and exits with code 2, without a traceback. Every command
runs with its inputs recorded (:func:`aquatope.jsonio.guard_inputs`), so no output can be written over a file
the command has read; outputs are written atomically (:mod:`aquatope.jsonio`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup, TyperOption

import aquatope
from aquatope.cli.display import print_error
from aquatope.errors import InputError
from aquatope.jsonio import guard_inputs
from aquatope.numerics import pin_arithmetic

COMMANDS: dict[str, tuple[str, str, str]] = {
    "workflows": ("aquatope.cli.workflows", "workflows_app", "List and inspect workflows (built-in names or YAML files)."),
    "trace": ("aquatope.cli.trace", "trace_app", "Inspect invocation traces."),
    "prewarm": ("aquatope.cli.prewarm", "prewarm_app", "Pre-warming policies: evaluate them on a trace."),
    "scenarios": ("aquatope.cli.scenarios", "scenarios_app", "List and inspect scenarios: tenants, interference, storms, transfers, drift, bad measurements."),
    "simulate": ("aquatope.cli.simulate", "simulate", "Replay a trace on the simulator: a workflow driven by one trace function, or a whole trace (--single-function)."),
    "tune": ("aquatope.cli.tune", "tune_command", "Right-size a workflow on the simulator or on Ray: the configuration per function, its measured percentile, its cost and the saving over the deployed (default) configuration"),
    "evaluate": ("aquatope.cli.evaluate", "evaluate_command", "A reduced study (shared scenario, named systems, ml-pipeline and trip-booking, 3 seeds, one 1-hour window; ~10 min on 2 cores)."),
    "study": ("aquatope.cli.evaluate", "study_command", "The full study: every named scenario, the named systems and ablations, peak and quiet 2-hour windows, each knob swept."),
    "run": ("aquatope.cli.run", "run_command", "Replay a trace on Ray: real functions in containers, driven by the same controller as the simulator."),
}  # fmt: skip
"""Command name -> (module, attribute: a Typer app or a command function, the help line ``aquatope --help``
shows). A test checks that each help line is the command's own."""


def load_command(name: str) -> Any:
    """Import command ``name`` and build its Click command (flags shown as flags, see :func:`_flags_as_flags`)."""
    module, attribute, _ = COMMANDS[name]
    target = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    if isinstance(target, typer.Typer):  # built as app.add_typer(target) would, inside a throw-away group
        holder.add_typer(target, name=name)
        command = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    else:
        holder.command(name)(target)
        command = typer.main.get_command(holder)
    _flags_as_flags(command)
    return command


def _flags_as_flags(command: Any) -> None:
    """Show boolean flags (``--json``, ``--help``) without a ``<bool>`` type in help, in a whole command tree."""
    help_option = command.get_help_option(typer.Context(command))  # created once, then cached by the command
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_as_flags(sub)


def one_line_usage_error(exc: typer.TyperException) -> str:
    """A Click usage error (a bad option value, a missing option) as one line with where to find help."""
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is None:
        return message
    return f"{ctx.command_path}: {message} (see {ctx.command_path} --help)"


class AquatopeGroup(TyperGroup):
    """The top-level group: lazy sub-commands, one-line errors with exit code 2, inputs guarded per command."""

    _listing = False

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        _flags_as_flags(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if self._listing and cmd_name not in self.commands:  # help of the group: the help line suffices
            line = COMMANDS[cmd_name][2]
            return TyperCommand(cmd_name, help=line, short_help=line)
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        self._listing = True
        try:
            yield
        finally:
            self._listing = False

    def invoke(self, ctx: Any) -> Any:
        pin_arithmetic()  # before any network runs: the same figures on every x86 machine (aquatope.numerics)
        with guard_inputs():
            try:
                return super().invoke(ctx)
            except InputError as exc:
                print_error(str(exc))
                raise typer.Exit(2) from None

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        def run() -> Any:
            return super(AquatopeGroup, self).main(
                args, prog_name, complete_var, False, windows_expand_args=windows_expand_args, **extra
            )

        if not standalone_mode:
            return run()
        try:
            code = run()
        except typer.TyperException as exc:  # Click's usage errors: a bad option value, a missing option
            if type(exc).__name__ != "NoArgsIsHelpError":  # (that one has printed the help already)
                print_error(one_line_usage_error(exc))
            sys.exit(exc.exit_code)
        except typer.Abort:
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="aquatope",
    cls=AquatopeGroup,
    help="QoS- and uncertainty-aware pre-warming and right-sizing for serverless workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"aquatope {aquatope.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """QoS- and uncertainty-aware pre-warming and right-sizing for serverless workflows."""


def main() -> None:
    """Console-script entry point."""
    app()
