"""The paired comparison of tuning runs (`experiments/paired.py`) and its script (`bench/tune_compare.py`)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.experiments.paired import FAIL_SCORE, by_offset, compare, load_runs, name, score

BENCH = Path(__file__).resolve().parents[2] / "bench" / "tune_compare.py"


def row(scenario: str, wf: str, seed: int, ratio: float | None, fresh: bool = True, offset: int = 0,
        method: str = "aquatope-bo") -> dict[str, Any]:  # fmt: skip
    return {"scenario": scenario, "workflow": wf, "seed": seed, "budget": 20, "k": 20, "start": "design", "load": None,
            "sizer_seed_offset": offset, "method": method, "ratio": ratio, "fresh": fresh}  # fmt: skip


def runs(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {name(r): r for r in rows}


def world(shift: dict[str, float], seed: int, n: int = 40) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Base and new runs on the same names: log ratios drawn per name, the new version's shifted per scenario by
    ``shift`` plus its own noise (path luck), as tune_eval's runs are."""
    rng = np.random.default_rng(seed)
    base, new = [], []
    for sc in ("calm", "noisy"):
        for i in range(n):
            level = rng.gamma(2.0, 0.03)
            base.append(row(sc, f"wf{i % 7}", i, math.exp(level + rng.normal(0, 0.03))))
            new.append(row(sc, f"wf{i % 7}", i, math.exp(max(0.0, level + shift[sc] + rng.normal(0, 0.03)))))
    return runs(new), runs(base)


def test_scores_cap_at_twice_the_optimum_and_a_missing_or_failing_answer_scores_the_cap() -> None:
    assert score(row("calm", "a", 0, 1.02)) == pytest.approx(math.log(1.02))
    assert score(row("calm", "a", 0, 3.0)) == FAIL_SCORE
    assert score(row("calm", "a", 0, None, fresh=False)) == FAIL_SCORE
    assert score(row("calm", "a", 0, 1.01, fresh=False)) == FAIL_SCORE


def test_a_version_better_everywhere_is_better_and_the_same_runs_show_no_difference() -> None:
    new, base = world({"calm": -0.03, "noisy": -0.03}, seed=0)
    result = compare(new, base)
    assert result["verdict"] == "better" and result["pairs"] == 80
    assert result["scenarios"]["calm"]["p_better"] < 0.01
    same = compare(base, base)
    assert same["verdict"] == "no difference shown" and same["pooled"]["p_better"] == 1.0
    assert compare(base, new)["verdict"] == "worse"


def test_a_gain_in_one_scenario_does_not_buy_a_loss_in_the_other() -> None:
    new, base = world({"calm": -0.06, "noisy": 0.04}, seed=1)
    result = compare(new, base)
    assert result["scenarios"]["calm"]["p_better"] < 0.05 and result["scenarios"]["noisy"]["p_worse"] < 0.05
    assert result["verdict"] == "no difference shown"


def test_on_unchanged_code_the_verdict_says_better_about_as_rarely_as_alpha() -> None:
    # 200 null comparisons (no shift, only path luck): "better" at alpha 0.05 in at most 4% + 3 s.e.
    wins = sum(compare(*world({"calm": 0.0, "noisy": 0.0}, seed=s))["verdict"] == "better" for s in range(200))
    assert wins <= 0.04 * 200 + 3 * math.sqrt(200 * 0.05 * 0.95)


def test_offsets_of_one_file_pair_up_as_a_null_comparison() -> None:
    rows = [row("calm", "a", s, 1.0 + 0.01 * s, offset=o) for s in range(6) for o in (0, 1)]
    both = runs(rows)
    zero, one = by_offset(both, 0), by_offset(both, 1)
    assert set(zero) == set(one) and len(zero) == 6
    assert compare(one, zero)["pooled"]["p_better"] == 1.0  # identical scores: no nonzero difference


def test_bad_files_name_the_file_line_and_field(tmp_path: Path) -> None:
    good = json.dumps(row("calm", "a", 0, 1.02))
    path = tmp_path / "runs.jsonl"
    path.write_text(good + "\n{oops\n")
    with pytest.raises(InputError, match=r"runs.jsonl:2: not JSON"):
        load_runs([path], "aquatope-bo")
    path.write_text(good + "\n" + json.dumps({k: v for k, v in row("calm", "a", 1, 1.0).items() if k != "fresh"}))
    with pytest.raises(InputError, match=r"runs.jsonl:2, field 'fresh': missing"):
        load_runs([path], "aquatope-bo")
    path.write_text(json.dumps(row("calm", "a", 0, -1.0)))
    with pytest.raises(InputError, match=r"field 'ratio'"):
        load_runs([path], "aquatope-bo")
    with pytest.raises(InputError, match="not found"):
        load_runs([tmp_path / "missing.jsonl"], "aquatope-bo")
    with pytest.raises(InputError, match="share no run"):
        compare(runs([row("calm", "a", 0, 1.0)]), runs([row("calm", "a", 1, 1.0)]))


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("tune_compare", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_prints_the_verdict_writes_json_and_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new, base = world({"calm": -0.03, "noisy": -0.03}, seed=2)
    a, b = tmp_path / "new.jsonl", tmp_path / "base.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in new.values()))
    b.write_text("".join(json.dumps(r) + "\n" for r in base.values()))
    script = _script()
    out = tmp_path / "cmp.json"
    assert script.main([str(a), str(b), "--json", str(out)]) == 0
    assert "verdict at alpha 0.05: better" in capsys.readouterr().out
    assert json.loads(out.read_text())["verdict"] == "better"
    assert script.main([str(a), str(tmp_path / "nope.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.jsonl" in err[0] and "not found" in err[0]
    assert script.main(["--null", "0,x", str(b)]) == 2
    assert "field '--null'" in capsys.readouterr().err
    assert script.main([str(a), str(b), "--json", str(a)]) == 2  # never over an input
