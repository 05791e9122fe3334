"""`aquatope trace info`: Rich tables, --json on the bundled sample, exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import aquatope
from aquatope.cli import app

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
runner = CliRunner()


def test_json_on_the_bundled_sample() -> None:
    result = runner.invoke(app, ["trace", "info", str(SAMPLE), "--json", "--top", "3"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["functions"], data["minutes"], data["invocations"]) == (250, 1440, 2_137_036)
    assert data["classes"] == {"periodic": 34, "sporadic": 142, "bursty": 52, "steady": 22}
    assert set(data["rate_per_minute"]) == {"p50", "p90", "p99", "max"}
    assert len(data["top"]) == 3 and data["top"][0]["invocations"] == 632_351
    assert len(data["top"][0]["hourly"]) == 24


def test_rich_tables_show_counts_classes_and_sparklines() -> None:
    result = runner.invoke(app, ["trace", "info", str(SAMPLE), "--top", "2"])
    assert result.exit_code == 0, result.output
    for text in ("2,137,036", "250", "sporadic", "142", "p99", "632,351", "█"):
        assert text in result.stdout


def test_synthetic_spec() -> None:
    result = runner.invoke(app, ["trace", "info", "synthetic:periodic:period=30,functions=3", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["functions"], data["invocations"], data["classes"]["periodic"]) == (3, 144, 3)


def test_bad_file_exits_2_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "invocations.csv"
    path.write_text("HashFunction,HashApp,HashOwner,minute_1\nf,a,o,1\ng,a,o,-2\n")
    result = runner.invoke(app, ["trace", "info", str(path), "--json"])
    assert result.exit_code == 2
    assert f"{path}:3" in result.output and "minute_1" in result.output and "negative" in result.output
    assert "Traceback" not in result.output


def test_bad_spec_and_missing_path_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["trace", "info", "synthetic:nope"]).exit_code == 2
    result = runner.invoke(app, ["trace", "info", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such file" in result.output
