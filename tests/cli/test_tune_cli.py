from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()


def test_tune_random_writes_json_and_plot(tmp_path: Path) -> None:
    out, png = tmp_path / "t.json", tmp_path / "t.png"
    args = ["tune", "--workflow", "trip-booking", "--method", "random", "--budget", "6", "--samples-per-config", "5"]
    result = runner.invoke(app, [*args, "--json", str(out), "--plot", str(png)], terminal_width=150)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["method"] == "random" and data["evaluations"] == 6 and len(data["history"]) == 6
    if data["best"] is not None:
        assert set(data["best"]) >= {"config", "latency_pctl_ms", "qos_ms", "feasible", "cost_per_request_usd"}
        assert set(data["best"]["config"]) == {"reserve-hotel", "reserve-car", "reserve-flight", "confirm"}
    assert png.stat().st_size > 1000


def test_tune_exhaustive_coupled(tmp_path: Path) -> None:
    out = tmp_path / "o.json"
    result = runner.invoke(
        app, ["tune", "--workflow", "sebs-media", "--method", "exhaustive", "--space", "coupled", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    best = json.loads(out.read_text())["best"]
    assert best["feasible"] and best["latency_pctl_ms"] <= 6000


def test_tune_bad_input_exits_2(tmp_path: Path) -> None:
    for args, message in (
        (["--workflow", "trip-booking", "--method", "magic"], "unknown sizing method"),
        (["--workflow", "nope"], "unknown workflow"),
        (["--workflow", "trip-booking", "--space", "gpu"], "unknown resource space"),
        (["--workflow", "trip-booking", "--json", str(tmp_path / "missing" / "x.json")], "does not exist"),
    ):
        result = runner.invoke(app, ["tune", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
