"""`aquatope run` (and `tune --platform ray`): a real replay on a local Ray, and exit code 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aquatope.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
runner = CliRunner()


def _fails(args: list[str], *needles: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error" in result.output and "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, (needle, result.output)


def test_a_workflow_without_handlers_is_refused_before_ray_starts() -> None:
    _fails(
        ["run", "--workflow", "ml-pipeline", "--trace", "synthetic:poisson:rate=5,minutes=10"],
        "ml-pipeline.yaml",
        "functions.image-processing.handler",
        "no handler",
    )
    _fails(["tune", "--platform", "ray", "--workflow", "trip-booking"], "no handler")


def test_bad_options_exit_2(tmp_path: Path) -> None:
    wf = str(EXAMPLES / "text-pipeline.yaml")
    trace = "synthetic:poisson:rate=5,minutes=10"
    _fails(["run", "--workflow", wf, "--trace", trace, "--system", "oracle"], "--system", "openwhisk")
    _fails(["run", "--workflow", wf, "--trace", trace, "--time-scale", "0"], "--time-scale")
    _fails(["run", "--workflow", wf, "--trace", trace, "--minutes", "11"], "--minutes")
    _fails(["tune", "--platform", "k8s", "--workflow", wf], "--platform")


def test_a_broken_handler_reference_names_the_file_and_field(tmp_path: Path) -> None:
    text = (EXAMPLES / "text-pipeline.yaml").read_text().replace("text_pipeline:tokenize", "text_pipeline:nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    (tmp_path / "text_pipeline.py").write_text((EXAMPLES / "text_pipeline.py").read_text())
    _fails(
        ["run", "--workflow", str(bad), "--trace", "synthetic:poisson:rate=5,minutes=10"],
        "bad.yaml",
        "functions.tokenize.handler",
        "has no attribute 'nope'",
    )


def test_run_replays_a_trace_on_ray_and_writes_json(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    out = tmp_path / "run.json"
    result = runner.invoke(
        app,
        [
            "run",
            "--workflow",
            str(EXAMPLES / "text-pipeline.yaml"),
            "--trace",
            "synthetic:poisson:rate=6,minutes=10",
            "--system",
            "openwhisk",
            "--minutes",
            "1",
            "--time-scale",
            "30",
            "--num-cpus",
            "2",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "QoS violation rate" in result.output and "cold-start rate" in result.output
    data = json.loads(out.read_text())
    assert data["requests"] > 0 and data["failed_requests"] == 0
    assert data["invocations"] == 8 * data["requests"]
    assert data["cold_starts"] >= 5  # at least one cold start per function
    assert data["setup"]["system"] == "openwhisk" and data["setup"]["time_scale"] == 30
    assert data["enforcement"]["cpu"][0] in ("cgroup-v1", "cgroup-v2", "threads")
    assert data["cost_usd"]["total"] > 0
