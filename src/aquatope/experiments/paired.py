"""Is one sizer version better than another? A paired comparison of tuning runs (``bench/tune_compare.py``).

A run of ``bench/tune_eval.py`` is named by its scenario, workflow, measurement seed, sizer-seed offset, budget,
requests per evaluation, start and load. Two versions run under the same names measure the same world, so their runs
pair up. A run scores the log of its answer's true cost over the optimum, capped at ``log 2``; a run without an
answer, or whose answer failed its fresh check, scores ``log 2`` (a missed answer is as bad as paying twice the
optimum, never free). Per scenario and pooled over scenarios, a one-sided Wilcoxon signed-rank test of the paired
differences (zero differences dropped) asks whether the new version scores lower (better) or higher (worse).

Verdict: ``better`` if the pooled test for better is under ``alpha`` and no scenario's test for worse is; ``worse``
symmetrically; otherwise ``no difference shown``. Session 32 wrote this rule down before using it. The rule it
replaced ("more runs within 5% and a median not higher than one run of the current code") compares a candidate with
one draw of the sizer's own luck: unchanged code with its randomness seeded apart failed it three times in three
(session 31). The Wilcoxon test has a stated false-alarm rate instead (``alpha`` for the pooled test; the verdict
also asks that no scenario look worse, so it says "better" at most that often); on unchanged code (two sizer-seed
offsets against each other, :func:`by_offset`) its pooled test said "better" at 5% in 1 of the 6 pairings of four
offsets on three training seeds, and not on all 35 (pooled p 0.34; session 32).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wilcoxon

from aquatope.errors import InputError
from aquatope.jsonio import read_text

FAIL_SCORE = math.log(2.0)
"""Score of a run without a passing answer, and the cap of every score: twice the optimum's cost."""
WITHIN = 0.05
"""Issue #13's target for one run: an answer that passed its fresh check and costs at most 5% over the optimum."""
MAX_RUNS_BYTES = 256 * 2**20
"""Size limit of one runs file (tune_eval writes about 2 KB per run)."""
NAME_FIELDS = ("scenario", "workflow", "seed", "budget", "k", "start", "load")
"""What names a run besides its sizer-seed offset: only runs with the same budget, requests per evaluation, start and
load pair up, so neither version gets a budget or a start the other did not."""
RUN_FIELDS = (*NAME_FIELDS, "method", "ratio", "fresh")

Name = tuple[Any, ...]


def score(row: dict[str, Any]) -> float:
    """Log cost over the optimum, capped at :data:`FAIL_SCORE`; a run without a passing answer scores it."""
    ratio = row["ratio"]
    if ratio is None or not row["fresh"]:
        return FAIL_SCORE
    return min(math.log(ratio), FAIL_SCORE)


def on_target(ratio: float | None, fresh: bool) -> bool:
    """Issue #13's target for one run (``bench/tune_eval.py`` counts the same)."""
    return ratio is not None and ratio <= 1.0 + WITHIN and bool(fresh)


def within(row: dict[str, Any]) -> bool:
    return on_target(row["ratio"], row["fresh"])


def name(row: dict[str, Any]) -> Name:
    return (*(row[f] for f in NAME_FIELDS), row.get("sizer_seed_offset", 0))


def load_runs(paths: list[str | Path], method: str) -> dict[Name, dict[str, Any]]:
    """``method``'s runs in tune_eval JSONL files, by name (a later file's run replaces an earlier one's)."""
    runs: dict[Name, dict[str, Any]] = {}
    for path in paths:
        text = read_text(path, max_bytes=MAX_RUNS_BYTES, what="tune_eval JSONL file")
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON: {exc.msg}", source=path, line=number) from None
            if not isinstance(row, dict):
                raise InputError("not a run (a JSON object per line)", source=path, line=number)
            for field in RUN_FIELDS:
                if field not in row:
                    raise InputError("missing (not a bench/tune_eval.py run)", source=path, line=number, field=field)
            ratio = row["ratio"]
            if ratio is not None and not (isinstance(ratio, int | float) and ratio > 0 and math.isfinite(ratio)):
                raise InputError(f"must be a positive number or null, got {ratio!r}", source=path, line=number,
                                 field="ratio")  # fmt: skip
            if row["method"] == method:
                runs[name(row)] = row
    return runs


def by_offset(runs: dict[Name, dict[str, Any]], offset: int) -> dict[Name, dict[str, Any]]:
    """The runs of one sizer-seed offset, renamed to offset 0: two offsets of the same code then pair up (a null
    comparison, what luck alone does)."""
    return {(*n[:-1], 0): r for n, r in runs.items() if n[-1] == offset}


@dataclass(frozen=True)
class Side:
    within: int
    answered: int
    fresh: int
    median: float

    @staticmethod
    def of(rows: list[dict[str, Any]]) -> Side:
        ratios = [math.inf if r["ratio"] is None else r["ratio"] for r in rows]
        return Side(
            within=sum(within(r) for r in rows),
            answered=sum(r["ratio"] is not None for r in rows),
            fresh=sum(bool(r["fresh"]) for r in rows),
            median=float(np.median(ratios)) if ratios else math.nan,
        )


def one_sided(diff: np.ndarray) -> tuple[float, float]:
    """(p that the differences lean negative, p that they lean positive): Wilcoxon signed-rank, zeros dropped;
    (1, 1) without a nonzero difference."""
    nonzero = diff[diff != 0]
    if len(nonzero) == 0:
        return 1.0, 1.0
    less = float(wilcoxon(nonzero, alternative="less").pvalue)
    greater = float(wilcoxon(nonzero, alternative="greater").pvalue)
    return less, greater


def compare(new: dict[Name, dict[str, Any]], base: dict[Name, dict[str, Any]], alpha: float = 0.05) -> dict[str, Any]:
    """Paired comparison of ``new`` against ``base`` over the names both have (module docstring)."""
    common = sorted(set(new) & set(base), key=str)
    if not common:
        raise InputError(
            "the two sets of runs share no run (scenario, workflow, seed, sizer-seed offset, budget, k, start, load)"
        )
    scenarios: dict[str, Any] = {}
    pooled: list[float] = []
    for scenario in sorted({n[0] for n in common}):
        names = [n for n in common if n[0] == scenario]
        diff = np.array([score(new[n]) - score(base[n]) for n in names])
        pooled += list(diff)
        p_better, p_worse = one_sided(diff)
        scenarios[scenario] = {
            "pairs": len(names),
            "new": Side.of([new[n] for n in names]).__dict__,
            "base": Side.of([base[n] for n in names]).__dict__,
            "mean_difference": float(diff.mean()),
            "p_better": p_better,
            "p_worse": p_worse,
        }
    p_better, p_worse = one_sided(np.array(pooled))
    if p_better < alpha and all(s["p_worse"] >= alpha for s in scenarios.values()):
        verdict = "better"
    elif p_worse < alpha and all(s["p_better"] >= alpha for s in scenarios.values()):
        verdict = "worse"
    else:
        verdict = "no difference shown"
    return {
        "pairs": len(common),
        "alpha": alpha,
        "scenarios": scenarios,
        "pooled": {"mean_difference": float(np.mean(pooled)), "p_better": p_better, "p_worse": p_worse},
        "verdict": verdict,
    }
