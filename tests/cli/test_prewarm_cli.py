"""The prewarm CLI: train a model file, then evaluate with it; models are matched to the trace by function name."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()
TRACE = "synthetic:diurnal:rate=10,minutes=240,functions=3"
QUICK = ["--param", "epochs=1", "--param", "n_windows=500", "--param", "min_steps=0", "--param", "hidden=8"]


def test_train_then_evaluate_with_the_saved_model(tmp_path: Path) -> None:
    model, out = tmp_path / "m.safetensors", tmp_path / "r.json"
    result = runner.invoke(app, ["prewarm", "train", "--trace", TRACE, "--out", str(model), *QUICK])
    assert result.exit_code == 0, result.output
    assert "served by" in result.output and model.stat().st_size > 0
    args = ["prewarm", "evaluate", "--trace", TRACE, "--model", str(model), "--policies", "keepalive:60,aquatope:q=0.9"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["policies"]) == {"keepalive:60", "aquatope:q=0.9"}
    assert "over" in result.output and "p99" not in result.output  # judged per function, not pooled
    assert list(data["forecasters"]) == ["bayes-lstm", "moving-average"]
    bayes = data["forecasters"]["bayes-lstm"]
    assert sum(bayes["components"].values()) == 3 and set(bayes["components"]) <= {"lstm", "phase", "moving-average"}
    assert set(bayes["mae_by_class"]) == set(bayes["coverage_90_by_class"]) == {"mid"}
    assert bayes["validation"]["functions"] == 3
    assert data["forecasters"]["moving-average"]["components"] == {"moving-average": 3}
    # a subset of the trace's functions is served by name
    two = runner.invoke(app, [*args, "--functions", "2"])
    assert two.exit_code == 0, two.output


def test_bad_model_files_and_mismatched_traces_are_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.safetensors"
    assert runner.invoke(app, ["prewarm", "train", "--trace", TRACE, "--out", str(model), *QUICK]).exit_code == 0
    base = ["prewarm", "evaluate", "--policies", "keepalive:60,aquatope:q=0.9"]
    other = "synthetic:diurnal:rate=10,minutes=240,functions=4"  # one function the model never saw
    bad = runner.invoke(app, [*base, "--trace", other, "--model", str(model)])
    assert bad.exit_code == 2 and "not in the model" in bad.output and "Traceback" not in bad.output
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    bad = runner.invoke(app, [*base, "--trace", TRACE, "--model", str(tmp_path / "bad.pt")])
    assert bad.exit_code == 2 and "bad.pt" in bad.output
    bad = runner.invoke(app, [*base, "--trace", TRACE, "--model", str(model), "--forecaster", "ewma"])
    assert bad.exit_code == 2 and "--model" in bad.output


def test_train_refuses_too_little_history_and_bad_parameters(tmp_path: Path) -> None:
    out = tmp_path / "m.safetensors"
    short = runner.invoke(app, ["prewarm", "train", "--trace", TRACE, "--out", str(out), "--train-minutes", "10"])
    assert short.exit_code == 2 and "too little history" in short.output and not out.exists()
    for bad in (["--param", "window=1"], ["--param", "window"], ["--param", "windw=3"]):
        res = runner.invoke(app, ["prewarm", "train", "--trace", TRACE, "--out", str(out), *bad])
        assert res.exit_code == 2, (bad, res.output)
        assert not out.exists()
