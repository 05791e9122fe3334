"""`aquatope simulate`: JSON figures that add up, reproducibility per seed, and exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import aquatope
from aquatope.cli import app
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
SYNTHETIC = "synthetic:poisson:rate=30,minutes=30"
TRIP = ["--trace", SYNTHETIC, "--workflow", "trip-booking", "--hours", "0.5"]
runner = CliRunner()


def _run(args: list[str], out: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["simulate", *args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def _fails(args: list[str], tmp_path: Path, *needles: str) -> str:
    """Run ``args`` with --json; expect exit code 2, one clear message containing ``needles`` and no JSON file."""
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["simulate", *args, "--json", str(out)])
    assert result.exit_code == 2, result.output
    assert "error" in result.output and "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)
    assert not out.exists()
    assert list(tmp_path.glob(".out.json*")) == []
    return result.output


def test_workflow_run_writes_consistent_json(tmp_path: Path) -> None:
    data = _run(TRIP, tmp_path / "out.json")
    for key in (
        "requests",
        "invocations",
        "qos_violation_rate",
        "latency_ms",
        "cold_start_rate",
        "cost_usd",
        "containers_started",
        "wall_s",
        "invocations_per_s",
    ):
        assert key in data, key
    assert {"p50", "p95", "p99"} <= set(data["latency_ms"])
    assert {"total", "execution", "idle"} <= set(data["cost_usd"])

    arrivals = int(load_trace(SYNTHETIC, seed=0).counts[0, :30].sum())
    per_request = sum(load_workflow("trip-booking").invocations_per_request().values())
    assert per_request == 4
    assert data["requests"] == arrivals > 0
    assert data["invocations"] == arrivals * per_request
    cost = data["cost_usd"]
    assert cost["total"] == pytest.approx(cost["execution"] + cost["idle"] + cost.get("requests", 0.0))
    assert cost["execution"] > 0 and cost["idle"] > 0
    assert 0.0 <= data["qos_violation_rate"] <= 1.0 and 0.0 <= data["cold_start_rate"] <= 1.0
    assert data["latency_ms"]["p50"] <= data["latency_ms"]["p95"] <= data["latency_ms"]["p99"]
    assert data["containers_started"] >= 4  # at least one per function
    assert data["invocations_per_s"] == pytest.approx(data["invocations"] / data["wall_s"])
    assert data["setup"]["workflow"] == "trip-booking" and data["setup"]["minutes"] == 30
    assert data["setup"]["seed"] == 0 and data["setup"]["prewarm"] == "keepalive:600"


def test_workflow_run_prints_a_summary_table(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = runner.invoke(app, ["simulate", *TRIP, "--json", str(out)])
    assert result.exit_code == 0, result.output
    printed = "".join(result.stdout.split())  # Rich wraps long lines at the terminal width
    for text in ("trip-booking", "QoS violation rate", "cold-start rate", "cost: total", f"results written to {out}"):
        assert "".join(text.split()) in printed, text


def test_without_json_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["simulate", *TRIP])
    assert result.exit_code == 0, result.output
    assert "requests" in result.stdout and "results written" not in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_single_function_replay_of_the_bundled_sample(tmp_path: Path) -> None:
    args = ["--trace", str(SAMPLE), "--single-function", "--functions", "5", "--hours", "1"]
    data = _run(args, tmp_path / "out.json")
    trace = load_trace(SAMPLE)
    arrivals = int(trace.counts[:5, :60].sum())
    assert data["requests"] == data["invocations"] == arrivals > 0
    assert data["setup"]["mode"] == "single-function"
    assert (data["setup"]["functions"], data["setup"]["minutes"]) == (5, 60)
    assert (data["setup"]["missing_durations"], data["setup"]["missing_memory"]) == (0, 0)
    assert data["cost_usd"]["total"] == pytest.approx(sum(v for k, v in data["cost_usd"].items() if k != "total"))
    assert data["per_workflow"] == {}
    per_fn = data["setup"]["per_function_p95_over_target"]  # each function against its own target, not pooled
    assert 0 < per_fn["functions"] <= 5 and per_fn["median"] <= per_fn["p90"] <= per_fn["worst"]
    shown = runner.invoke(app, ["simulate", *args], terminal_width=100)
    assert "p95 over own target" in shown.output and "latency p50" not in shown.output


def test_simulate_refuses_a_policy_that_needs_the_controller_and_says_where_it_runs() -> None:
    result = runner.invoke(app, ["simulate", "--trace", str(SAMPLE), "--workflow", "trip-booking",
                                 "--prewarm", "hybrid-histogram"])  # fmt: skip
    assert result.exit_code == 2 and "--systems POOL+defaults" in " ".join(result.output.split())


def test_keepalive_gives_fewer_cold_starts_than_none(tmp_path: Path) -> None:
    base = ["--trace", "synthetic:poisson:rate=2,minutes=60", "--workflow", "trip-booking", "--seed", "3"]
    warm = _run([*base, "--prewarm", "keepalive:600"], tmp_path / "warm.json")
    cold = _run([*base, "--prewarm", "none"], tmp_path / "cold.json")
    assert warm["requests"] == cold["requests"]
    assert warm["cold_start_rate"] < cold["cold_start_rate"]
    assert warm["containers_started"] < cold["containers_started"]
    assert cold["cold_start_rate"] > 0.9  # at 2 requests a minute nearly every invocation finds no container


def _metrics_only(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("wall_s", "invocations_per_s")}


def test_same_seed_same_json(tmp_path: Path) -> None:
    args = [*TRIP, "--seed", "7"]
    a = _run(args, tmp_path / "a.json")
    b = _run(args, tmp_path / "b.json")
    assert _metrics_only(a) == _metrics_only(b)
    c = _run([*TRIP, "--seed", "8"], tmp_path / "c.json")
    assert _metrics_only(c) != _metrics_only(a)


def test_same_seed_same_json_in_single_function_mode(tmp_path: Path) -> None:
    args = ["--trace", str(SAMPLE), "--single-function", "--functions", "5", "--hours", "1", "--seed", "2"]
    assert _metrics_only(_run(args, tmp_path / "a.json")) == _metrics_only(_run(args, tmp_path / "b.json"))


def test_function_scale_config_and_cluster_options_are_applied(tmp_path: Path) -> None:
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"confirm": {"cpu": 2, "memory_mb": 1024}}))
    cluster = tmp_path / "cluster.json"
    cluster.write_text(json.dumps({"invokers": 4, "transfer_ms": 2.0, "arrival_mode": "uniform"}))
    trace = "synthetic:poisson:rate=5,minutes=10,functions=2"
    args = ["--trace", trace, "--workflow", "trip-booking", "--function", "poisson-1", "--scale", "2"]
    data = _run([*args, "--config", str(configs), "--cluster", str(cluster)], tmp_path / "out.json")
    assert data["requests"] == 2 * int(load_trace(trace, seed=0).counts[1].sum())
    assert data["setup"]["function"] == "poisson-1" and data["setup"]["scale"] == 2.0
    assert data["setup"]["configs"]["confirm"] == {"cpu": 2.0, "memory_mb": 1024}
    assert data["setup"]["configs"]["reserve-hotel"] == {"cpu": 1.0, "memory_mb": 512}
    assert (data["setup"]["sim"]["invokers"], data["setup"]["sim"]["transfer_ms"]) == (4, 2.0)


# ----------------------------------------------------------------------------------------------- user errors
@pytest.mark.parametrize("prewarm", ["hybrid", "keepalive:-5", "keepalive:"])
def test_unknown_prewarm_exits_2(tmp_path: Path, prewarm: str) -> None:
    _fails([*TRIP, "--prewarm", prewarm], tmp_path, "--prewarm", prewarm, "keepalive:<seconds>")


def test_both_workflow_and_single_function_exits_2(tmp_path: Path) -> None:
    _fails([*TRIP, "--single-function"], tmp_path, "either --workflow", "--single-function")


def test_neither_workflow_nor_single_function_exits_2(tmp_path: Path) -> None:
    _fails(["--trace", SYNTHETIC], tmp_path, "either --workflow", "--single-function")


def test_config_with_an_unknown_function_exits_2(tmp_path: Path) -> None:
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"reserve-boat": {"cpu": 1, "memory_mb": 512}}))
    _fails([*TRIP, "--config", str(configs)], tmp_path, str(configs), "reserve-boat", "unknown function")


def test_config_with_a_negative_cpu_exits_2(tmp_path: Path) -> None:
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"confirm": {"cpu": -1, "memory_mb": 512}}))
    _fails([*TRIP, "--config", str(configs)], tmp_path, str(configs), "confirm.cpu", "positive")


def test_malformed_config_json_exits_2_naming_the_line(tmp_path: Path) -> None:
    configs = tmp_path / "configs.json"
    configs.write_text('{\n  "confirm": {"cpu": 1,,}\n}\n')
    _fails([*TRIP, "--config", str(configs)], tmp_path, f"{configs}:2", "malformed JSON")


def test_config_with_a_cpu_that_rounds_to_zero_exits_2(tmp_path: Path) -> None:
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps({"confirm": {"cpu": 0.00001, "memory_mb": 512}}))
    _fails([*TRIP, "--config", str(configs)], tmp_path, "cpu")


@pytest.mark.parametrize(
    ("cluster", "needles"),
    [
        ({"invokers": 0}, ("invokers", "positive integer")),
        ({"invoker_gpus": 2}, ("invoker_gpus", "unknown parameter")),
        ({"arrival_mode": "bursty"}, ("arrival_mode",)),
        ({"invoker_cpu": 0.5}, ("does not fit",)),  # a 1 vCPU function on a 0.5 vCPU machine
    ],
)
def test_bad_cluster_json_exits_2(tmp_path: Path, cluster: dict[str, Any], needles: tuple[str, ...]) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(cluster))
    _fails([*TRIP, "--cluster", str(path)], tmp_path, *needles)


def test_malformed_cluster_json_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text("{\n\n  invokers: 2\n}\n")
    _fails([*TRIP, "--cluster", str(path)], tmp_path, f"{path}:3", "malformed JSON")


def test_missing_trace_path_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-trace"
    _fails(["--trace", str(missing), "--workflow", "trip-booking"], tmp_path, str(missing), "no such file")


def test_unknown_workflow_exits_2(tmp_path: Path) -> None:
    _fails(["--trace", SYNTHETIC, "--workflow", "trip-cancelling"], tmp_path, "trip-cancelling", "trip-booking")


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--hours", "0"], ("--hours",)),
        (["--hours", "inf"], ("--hours",)),
        (["--scale", "0"], ("--scale",)),
        (["--function", "9"], ("--function", "out of range")),
        (["--function", "nope"], ("--function", "nope")),
    ],
)
def test_bad_numbers_and_functions_exit_2(tmp_path: Path, extra: list[str], needles: tuple[str, ...]) -> None:
    _fails(["--trace", SYNTHETIC, "--workflow", "trip-booking", *extra], tmp_path, *needles)


def test_single_function_with_zero_functions_exits_2(tmp_path: Path) -> None:
    _fails(["--trace", SYNTHETIC, "--single-function", "--functions", "0"], tmp_path, "--functions")


def test_json_into_a_missing_directory_exits_2(tmp_path: Path) -> None:
    out = tmp_path / "no" / "out.json"
    result = runner.invoke(app, ["simulate", *TRIP, "--json", str(out)])
    assert result.exit_code == 2, result.output
    assert "does not exist" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_json_onto_a_directory_exits_2(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    result = runner.invoke(app, ["simulate", *TRIP, "--json", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
