"""`aquatope run` (and `tune --platform ray`): a real replay on a local Ray, and exit code 2 on bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ray_support import WORKLOADS, alive, descendants, wait_until
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
    _fails(["run", "--workflow", wf, "--trace", trace, "--speedup", "0"], "--speedup")
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
            "--speedup",
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
    assert data["setup"]["system"] == "openwhisk" and data["setup"]["speedup"] == 30
    assert data["enforcement"]["cpu"][0] in ("cgroup-v1", "cgroup-v2", "threads")
    assert data["cost_usd"]["total"] > 0


def test_a_bad_ray_address_is_one_clear_line() -> None:
    wf = str(EXAMPLES / "text-pipeline.yaml")
    trace = "synthetic:poisson:rate=5,minutes=10"
    _fails(["run", "--workflow", wf, "--trace", trace, "--ray-address", "nonsense"], "--ray-address", "host:port")
    _fails(["run", "--workflow", wf, "--trace", trace, "--ray-address", "127.0.0.1:1"], "no Ray cluster answers")


def test_dry_run_estimates_the_cpu_a_replay_needs_and_starts_nothing() -> None:
    args = ["run", "--workflow", str(EXAMPLES / "text-pipeline.yaml"), "--num-cpus", "2", "--dry-run"]
    light = runner.invoke(app, [*args, "--trace", "synthetic:poisson:rate=6,minutes=10", "--minutes", "2"])
    assert light.exit_code == 0, light.output
    assert "fits" in light.output and "cluster CPUs" in light.output
    heavy = runner.invoke(app, [*args, "--trace", "synthetic:poisson:rate=600,minutes=10", "--speedup", "60"])
    assert heavy.exit_code == 0, heavy.output
    assert "overloaded" in heavy.output


def test_ctrl_c_stops_a_run_accounts_for_every_request_and_leaves_no_process(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the run's process group, as a terminal sends it) in the middle of a replay: exit 130, a
    line that accounts for every request, partial results, and no process of the run's Ray left (about 50 s: a Ray of its own)."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    out, err = tmp_path / "run.json", tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "aquatope", "run", "--workflow", str(WORKLOADS / "nap.yaml")]
    cmd += ["--trace", "synthetic:poisson:rate=20,minutes=5", "--minutes", "4", "--speedup", "6"]
    cmd += ["--num-cpus", "2", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with err.open("w") as stderr:
        # SIGINT back to its default in the child: a test run from a background shell (`cmd &`) inherits it
        # ignored, and Python then installs no KeyboardInterrupt handler (a terminal's Ctrl-C is never ignored)
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        wait_until(lambda: "replay:" in err.read_text() or proc.poll() is not None, "the replay to start", 180.0)
        assert proc.poll() is None, err.read_text()
        time.sleep(18.0)  # 18 s into the 40 s replay (its line comes after the warm-up): room for a slow start
        ray_processes = descendants(proc.pid)
        assert ray_processes, "the run started no Ray processes"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=120) == 130, err.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    text = err.read_text()
    assert "Traceback" not in text, text
    found = re.search(
        r"interrupted at trace second .*: (\d+) requests finished \((\d+) failed\); (\d+) in flight "
        r"and (\d+) not yet arrived were abandoned \(of (\d+) submitted\)",
        text,
    )
    assert found, text
    done, _, in_flight, pending, total = (int(x) for x in found.groups())
    assert done + in_flight > 0 and pending > 0 and done + in_flight + pending == total
    data = json.loads(out.read_text())
    assert data["interrupted"] and data["requests"] == done
    wait_until(lambda: not alive(ray_processes), f"the run's Ray processes to end: {alive(ray_processes)}", 30.0)
