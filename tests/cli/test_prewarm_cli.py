"""The prewarm CLI: train a model file, then evaluate with it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from aquatope.cli import app

runner = CliRunner()


def test_train_then_evaluate_with_the_saved_model(tmp_path: Path) -> None:
    model, out = tmp_path / "m.pt", tmp_path / "r.json"
    trace = "synthetic:diurnal:rate=10,minutes=240,functions=3"
    result = runner.invoke(app, ["prewarm", "train", "--trace", trace, "--out", str(model)])
    assert result.exit_code == 0, result.output
    assert model.stat().st_size > 0
    args = ["prewarm", "evaluate", "--trace", trace, "--model", str(model), "--policies", "keepalive:60,aquatope:q=0.9"]
    result = runner.invoke(app, [*args, "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert set(data["policies"]) == {"keepalive:60", "aquatope:q=0.9"}
    assert "bayes-lstm" in data["forecasters"]
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    bad = runner.invoke(app, [*args[:-2], "--model", str(tmp_path / "bad.pt")])
    assert bad.exit_code == 2 and "bad.pt" in bad.output
