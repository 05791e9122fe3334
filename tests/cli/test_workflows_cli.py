from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()


def test_list_shows_the_builtin_workflows() -> None:
    result = runner.invoke(app, ["workflows", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in (
        "ml-pipeline",
        "video-processing",
        "social-network",
        "chatbot",
        "map-reduce",
        "trip-booking",
    ):
        assert name in result.output


def test_show_draws_dag_and_functions() -> None:
    result = runner.invoke(app, ["workflows", "show", "video-processing", "--samples", "500"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "transcode" in result.output and "x6" in result.output and "map chunks" in result.output
    assert "Functions" in result.output and "meets" in result.output


def test_show_bad_yaml_exits_2_with_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nqos: {latency_ms: -1}\nfunctions: {}\nstages: {}\n")
    result = runner.invoke(app, ["workflows", "show", str(bad)])
    assert result.exit_code == 2
    assert "bad.yaml:2" in result.output and "qos.latency_ms" in result.output
    unknown = runner.invoke(app, ["workflows", "show", "no-such-workflow"])
    assert unknown.exit_code == 2 and "unknown workflow" in unknown.output


def test_names_with_rich_markup_print_as_written(tmp_path: Path) -> None:
    perf = (
        "{model: parametric, serial_ms: 10, parallel_ms: 10, max_parallelism: 1, io_ms: 1, working_set_mb: 64, "
        "min_memory_mb: 32, cv: 0.1, cold_start_ms: 100}"
    )
    path = tmp_path / "markup.yaml"
    path.write_text(
        'name: "[red]x[/]"\nqos: {latency_ms: 100}\nfunctions:\n'
        f'  "[bold]f":\n    resources: {{cpu: 1, memory_mb: 128}}\n    perf: {perf}\n'
        'stages:\n  "[/]": {function: "[bold]f"}\n'
    )
    result = runner.invoke(app, ["workflows", "show", str(path), "--samples", "100"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "[red]x[/] (analytics)" in result.output and "[/] -> [bold]f" in result.output
    assert "cold start p50 ms" in result.output
