"""The top-level CLI: lazy sub-commands, --version, one-line literal errors, flags shown as flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import aquatope
from aquatope.cli import COMMANDS, app, load_command
from aquatope.cli.display import print_error

runner = CliRunner()
SRC = str(Path(aquatope.__file__).resolve().parent.parent)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"aquatope {aquatope.__version__}\n"


def test_the_help_lines_of_the_lazy_listing_are_the_commands_own() -> None:
    for name, (_, _, line) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        assert " ".join(command.help.split()).startswith(line), name


def test_help_lists_every_command_without_importing_torch_scipy_or_the_simulator() -> None:
    code = (
        "import sys\n"
        "from aquatope.cli import main\n"
        "sys.argv = ['aquatope', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', sorted(m for m in ('torch', 'scipy', 'aquatope.sim', 'botorch', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": SRC, "COLUMNS": "80"}
    ).stdout
    assert "HEAVY []" in out
    for name in COMMANDS:
        assert name in out


def test_flags_show_no_bool_type_anywhere() -> None:
    for args in (["--help"], ["trace", "info", "--help"], ["simulate", "--help"], ["workflows", "show", "--help"]):
        result = runner.invoke(app, args, terminal_width=80)
        assert result.exit_code == 0 and "<bool>" not in result.output, args
    assert "--json  " in runner.invoke(app, ["trace", "info", "--help"], terminal_width=80).output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["trace", "info", "--seed", "-1", "synthetic:poisson"], "Invalid value for '--seed'"),
        (["workflows", "show", "chatbot", "--seed", "4294967296"], "Invalid value for '--seed'"),
        (["trace", "info", "--no-such-flag", "x"], "No such option: --no-such-flag"),
        (["workflows", "frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], words: str) -> None:
    result = runner.invoke(app, args, terminal_width=80)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: aquatope") and words in lines[0], result.output
    assert "--help" in lines[0]


def test_error_text_is_printed_literally(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("ray is not installed: pip install -c constraints.txt -e '.[ray]'\n  [bold]not bold[/]")
    err = capsys.readouterr().err
    assert err == "error: ray is not installed: pip install -c constraints.txt -e '.[ray]' [bold]not bold[/]\n"


def test_an_input_error_about_a_name_with_brackets_prints_it_as_given() -> None:
    result = runner.invoke(app, ["workflows", "show", "no-such[red]flow"], terminal_width=80)
    assert result.exit_code == 2
    assert "unknown workflow 'no-such[red]flow'" in result.output and len(result.output.strip().splitlines()) == 1


def test_no_arguments_prints_the_help() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 2 and "Commands" in result.output and "error" not in result.output
