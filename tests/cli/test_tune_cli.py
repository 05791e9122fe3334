from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()
SMALL = ["--budget", "8", "--samples-per-config", "5"]


def test_tune_writes_json_with_sources_csv_and_plot(tmp_path: Path) -> None:
    out, table, png = tmp_path / "t.json", tmp_path / "t.csv", tmp_path / "t.png"
    args = ["tune", "--workflow", "trip-booking", "--method", "aquatope-design", *SMALL]
    result = runner.invoke(
        app, [*args, "--json", str(out), "--csv", str(table), "--plot", str(png)], terminal_width=100
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["method"] == "aquatope-design" and len(data["history"]) == data["evaluations"] <= 8
    assert all(h["source"] in ("design", "confirm") for h in data["history"])
    assert [h["evaluation"] for h in data["history"]] == list(range(1, data["evaluations"] + 1))
    best = data["best"]
    assert best is not None and best["source"] == data["history"][best["evaluation"] - 1]["source"]
    assert best["evaluation"] in best["measured_at"]
    assert set(best["config"]) == {"reserve-hotel", "reserve-car", "reserve-flight", "confirm"}
    used = best["memory_used_mb"]  # the platform's peak memory per function, never above the size it was given
    assert set(used) == set(best["config"]) and all(0 < used[f] <= best["config"][f]["memory_mb"] for f in used)
    assert "max used MB" in result.output
    assert data["saving"]["default_measured_in_run"] is True  # the design starts at the YAML defaults
    assert data["saving"]["answer_objective_usd"] <= data["saving"]["default_objective_usd"]
    assert "saving over the deployed defaults" in result.output and "measured configurations" in result.output
    rows = list(csv.DictReader(table.read_text().splitlines()))
    assert len(rows) == data["evaluations"] and sum(r["answer"] == "True" for r in rows) == 1
    assert {"source", "reserve-car_vcpu", "latency_pctl_ms", "judged_pctl_ms", "meets_qos"} <= set(rows[0])
    assert png.stat().st_size > 1000
    mask = os.umask(0)
    os.umask(mask)
    assert {f.stat().st_mode & 0o777 for f in (out, table, png)} == {0o666 & ~mask}  # normal modes, not 0600


def test_the_answer_and_the_plotted_curve_agree(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    args = ["tune", "--workflow", "trip-booking", "--method", "random", *SMALL, "--json", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    data = json.loads(out.read_text())
    from aquatope.experiments.tuning import make_problem, tune
    from aquatope.workflow import load_workflow

    result = tune(make_problem(load_workflow("trip-booking"), "decoupled", 8, 0), "random", 5)
    curve = result.best_cost_curve()
    assert curve[-1] == data["best"]["cost_per_request_usd"]  # the curve ends on the answer


def test_random_start_measures_the_defaults_for_the_saving(tmp_path: Path) -> None:
    out = tmp_path / "t.json"
    args = ["tune", "--workflow", "trip-booking", "--method", "random", "--start", "random", *SMALL]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert all(h["source"] in ("random", "confirm") for h in data["history"])
    if data["best"] is not None:
        assert data["saving"]["default_measured_in_run"] is False


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
        (["--workflow", "trip-booking", "--method", "aquatope-bo:magic"], "unknown variant"),
        (["--workflow", "trip-booking", "--start", "warm"], "unknown start"),
        (["--workflow", "trip-booking", "--load-rps", "0"], "mean_rps"),
        (["--workflow", "trip-booking", "--load-rps", "1", "--pool", "nope"], "unknown policy 'nope'"),
        (["--workflow", "nope"], "unknown workflow"),
        (["--workflow", "trip-booking", "--space", "gpu"], "unknown resource space"),
        (["--workflow", "trip-booking", "--json", str(tmp_path / "missing" / "x.json")], "does not exist"),
    ):
        result = runner.invoke(app, ["tune", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


def test_tune_in_the_noisy_scenario_with_a_load_objective(tmp_path: Path) -> None:
    out, table = tmp_path / "n.json", tmp_path / "n.csv"
    args = ["tune", "--workflow", "ml-pipeline", "--method", "aquatope-design", "--budget", "4"]
    args += ["--samples-per-config", "3", "--scenario", "noisy", "--load-rps", "0.05", "--pool", "keepalive:600"]
    result = runner.invoke(app, [*args, "--json", str(out), "--csv", str(table)], terminal_width=100)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["setup"]["scenario"]["name"] == "noisy"
    assert data["setup"]["load"] == {"mean_rps": 0.05, "pool": "keepalive:600", "interval_s": 60.0}
    rows = list(csv.DictReader(table.read_text().splitlines()))
    # at 0.05 requests/s a 600-s keep-alive holds about one container per function: idle time dominates
    assert all(float(r["objective_usd"]) > 5 * float(r["cost_per_request_usd"]) for r in rows)
