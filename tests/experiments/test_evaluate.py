from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app
from aquatope.experiments.evaluate import FIGURES, pick_rows


def test_pick_rows_covers_the_classes_round_robin() -> None:
    import numpy as np

    classes = ["bursty", "sporadic", "periodic", "sporadic", "steady"]
    totals = np.array([50.0, 3.0, 10.0, 5.0, 100.0])
    assert pick_rows(classes, totals, 3, 0) == [3, 2, 0]
    assert pick_rows(classes, totals, 3, 1) == [1, 2, 0]  # rank 1 where the class has one
    assert pick_rows(classes, totals, 5, 0) == [3, 2, 0, 4, 1]


def test_evaluate_end_to_end_tiny(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--workflows",
            "trip-booking",
            "--trace",
            "synthetic:bursty:rate=20,minutes=60,seed=3",
            "--functions-per-workflow",
            "1",
            "--systems",
            "openwhisk,oracle",
            "--hours",
            "0.25",
            "--max-rps",
            "0.3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    assert set(data["systems"]) == {"openwhisk", "oracle"}
    for fig in FIGURES:
        assert fig in data["systems"]["oracle"]
        assert fig in data["per_workflow"]["trip-booking"]["openwhisk"]
    assert data["systems"]["openwhisk"]["cost_vs_oracle"] > 0
    assert data["per_workflow"]["trip-booking"]["oracle"]["tuning_evaluations"] == 0
    assert data["setup"]["seeds"] == [0]
    report = (out / "report.md").read_text()
    assert "## Per workflow" in report and "trip-booking" in report and "oracle" in report
    for png in ("cost_vs_violations.png", "latency_cdf.png", "warm_containers.png"):
        assert (out / png).stat().st_size > 0
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_evaluate_refuses_unknown_workflow(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evaluate", "--workflows", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown workflow" in result.output
