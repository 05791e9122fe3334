"""``aquatope evaluate`` end to end on a tiny trace: outputs, results keys, resume, and refused options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aquatope.cli import app


def _trace(tmp_path: Path, minutes: int = 45) -> Path:
    rng = np.random.default_rng(0)
    rows = ["HashOwner,HashApp,HashFunction,Trigger," + ",".join(str(m + 1) for m in range(minutes))]
    for i in range(4):
        counts = rng.poisson([1.0, 5.0, 0.2, 20.0][i], size=minutes)
        rows.append(f"o{i},a{i},f{i},http," + ",".join(str(c) for c in counts))
    path = tmp_path / "invocations.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


ARGS = ["--workflows", "trip-booking", "--systems", "openwhisk,lower-bound,knative", "--seeds", "1"]
ARGS += ["--scenarios", "calm", "--window-hours", "0.25", "--train-hours", "0.5", "--ray-address", "none"]


def test_evaluate_writes_the_outputs_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", *ARGS, "--trace", str(_trace(tmp_path)), "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"results.json", "report.md", "runs.jsonl", "pareto.png", "iso_qos.png", "pool_sizer.png"} <= names
    assert not [n for n in names if n.startswith(".")]  # no temporary leftovers
    results = json.loads((out / "results.json").read_text())
    ow = results["systems"]["openwhisk"]
    for key in ("window_violation_rate", "window_violation_rate_ci95", "qos_violation_rate_ci95", "cost_usd_ci95"):
        assert key in ow
    assert set(ow["cost_split_usd"]) == {"execution", "idle", "requests", "tuning"}
    assert ow["cost_over_lower_bound"] > 1.0 and results["systems"]["lower-bound"]["cost_over_lower_bound"] == 1.0
    assert results["scenario"]["name"] == "calm" and results["setup"]["runs"] == 3
    assert "## Hypotheses" in (out / "report.md").read_text()
    lines = (out / "runs.jsonl").read_text().splitlines()
    again = runner.invoke(app, ["evaluate", *ARGS, "--trace", str(_trace(tmp_path)), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "runs.jsonl").read_text().splitlines() == lines  # resumed: nothing ran again


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--systems", "nope"], "--systems"),
        (["--window-hours", "0"], "--window-hours"),
        (["--windows", "noon"], "--windows"),
        (["--scenarios", "stormy"], "--scenario"),
        (["--max-rps", "-1"], "--max-rps"),
        (["--first-seed", "-1"], "--first-seed"),
    ],
)
def test_bad_options_are_refused_with_the_field(tmp_path: Path, extra: list[str], field: str) -> None:
    args = ["evaluate", *ARGS, *extra, "--trace", str(_trace(tmp_path)), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert field in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_a_trace_too_short_for_the_protocol_is_refused(tmp_path: Path) -> None:
    args = ["evaluate", *ARGS, "--trace", str(_trace(tmp_path, minutes=30)), "--out", str(tmp_path / "o")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "need 45" in result.output


def test_first_seed_starts_the_block_of_seeds() -> None:
    from aquatope.experiments.evaluate import EvaluateConfig, full_study_config

    assert EvaluateConfig(seeds=3).design().seeds == (0, 1, 2)
    assert EvaluateConfig(seeds=2, first_seed=5).design().seeds == (5, 6)
    assert full_study_config(seeds=2, first_seed=7).design().seeds == (7, 8)
