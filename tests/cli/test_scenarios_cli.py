"""``aquatope scenarios list|show``: the named worlds, a scenario file's merged settings, and bad files."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()


def test_list_names_the_bundled_scenarios() -> None:
    result = runner.invoke(app, ["scenarios", "list"], terminal_width=200)
    assert result.exit_code == 0, result.output
    for name in ("calm", "shared", "noisy", "drift"):
        assert name in result.output


def test_show_gives_the_placement_of_a_named_world_and_of_a_file_that_extends_it(tmp_path: Path) -> None:
    shared = runner.invoke(app, ["scenarios", "show", "shared"], terminal_width=200)
    assert shared.exit_code == 0, shared.output
    assert "first-fit placement" in shared.output and "overcommit 4x" in shared.output
    path = tmp_path / "spread.yaml"
    path.write_text("name: spread\nextends: shared\ncluster: {placement: spread}\n")
    spread = runner.invoke(app, ["scenarios", "show", str(path)], terminal_width=200)
    assert spread.exit_code == 0, spread.output
    assert "spread placement" in spread.output and "overcommit 4x" in spread.output


def test_a_bad_placement_exits_2_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ncluster: {placement: random}\n")
    result = runner.invoke(app, ["scenarios", "show", str(path)], terminal_width=200)
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "cluster.placement" in result.output
    assert "Traceback" not in result.output
