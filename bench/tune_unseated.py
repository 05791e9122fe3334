"""Answers the shared rule unseats: were they good? A diagnosis on training seeds; nothing here changes a method.

A run of ``bench/tune_eval.py`` records the answer's true cost after every evaluation (``curve``). In some runs the
answer is within 5% of the optimum at some evaluation and the run still ends above it: the rule (``sizing/answer.py``)
stopped accepting that answer. This script takes those runs from ``--runs`` (one method, one sizer-seed offset),
runs each again (the runs are deterministic: it checks that the curve comes out the same), and for every answer
that was within 5% and was later unseated estimates its pass probability with ``--checks`` fresh checks (the same
checks as ``bench/pass_probability.py``), next to the final answer's. It also says what the evaluation that unseated
it was (its source): ``confirm`` or ``recheck`` re-measured a configuration; ``model`` and ``design`` measured
another one, so the answer's own measurements did not change and only the rule's pooled noise model did (its tail,
the check allowance, or the between-evaluation spread ``tau``).

    python bench/tune_unseated.py [--runs bench/results/tune_eval_training_sizer_seeds.jsonl]
        [--method aquatope-bo] [--sizer-seed-offset 0] [--checks 20] [--jobs 2]
        [--out bench/results/tune_unseated.jsonl] [--summary]

About 3 minutes on 2 cores for the default (52 runs of training seeds 100-134, sizer seed 0, 2026-11-28).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pass_probability
from tune_eval import WITHIN, as_lists, load_done, problem_for, sizer_seed_for

from aquatope.experiments.tuning import truth_curve, tune
from aquatope.sizing.answer import ANSWER_CONFIDENCE

RUN_FIELDS = ("scenario", "workflow", "method", "seed", "budget", "k", "start", "load")


def lost(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runs whose answer was within 5% of the optimum after some evaluation and is not at the end."""
    near = [r for r in rows if any(c is not None and c <= 1.0 + WITHIN for c in r["curve"])]
    return [r for r in near if r["ratio"] is None or r["ratio"] > 1.0 + WITHIN]


def _passed(row: dict[str, Any], config: dict[str, list[float]], checks: int) -> int:
    task = {**{k: row[k] for k in RUN_FIELDS}, "fresh": None, "config": config, "checks": checks}
    return int(pass_probability.checks(task)["passed"])


def one_run(task: tuple[dict[str, Any], int]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    row, checks = task
    p = problem_for(row["workflow"], row["budget"], row["seed"], row["load"], row.get("rule"))
    offset = row.get("sizer_seed_offset", 0)
    method = row["method"]
    result = tune(p, method, row["k"], start=row["start"], scenario=row["scenario"],
                  sizer_seed=sizer_seed_for(row["seed"], offset))  # fmt: skip
    curve = truth_curve(p, result, row["oracle_cost"], row["scenario"])
    if [None if c is None else round(c, 9) for c in curve] != [
        None if c is None else round(c, 9) for c in row["curve"]
    ]:
        raise RuntimeError(f"{row['scenario']} {row['workflow']} seed {row['seed']}: the run did not reproduce")
    final = result.answer_index[-1]
    unseated, seen = [], set()
    for n, (i, c) in enumerate(zip(result.answer_index, curve, strict=True), start=1):
        if i is None or i == final or i in seen or c is None or c > 1.0 + WITHIN:
            continue
        seen.add(i)
        last = max(m for m, j in enumerate(result.answer_index, start=1) if j == i)
        by = result.sources[last] if last < len(result.sources) else None
        config = as_lists(result.history[i].config)
        unseated.append({"ratio": c, "first": n, "last": last, "unseated_by": by,
                         "passed": _passed(row, config, checks)})  # fmt: skip
    fin = None if final is None else _passed(row, as_lists(result.history[final].config), checks)
    return {**{k: row[k] for k in RUN_FIELDS}, "sizer_seed_offset": offset, "final_ratio": row["ratio"],
            "final_passed": fin, "checks": checks, "unseated": unseated}  # fmt: skip


def summarize(out: list[dict[str, Any]]) -> None:
    for scenario in sorted({r["scenario"] for r in out}):
        rs = [r for r in out if r["scenario"] == scenario]
        answers = [u | {"workflow": r["workflow"], "checks": r["checks"]} for r in rs for u in r["unseated"]]
        good = [u for u in answers if u["passed"] >= ANSWER_CONFIDENCE * u["checks"]]  # the rule's aim
        print(f"{scenario}: {len(rs)} runs lost the 5%; {len(answers)} answers within 5% unseated, "
              f"{len(good)} of them passing >= 95% of their checks; unseated by {dict(Counter(u['unseated_by'] for u in answers))}")  # fmt: skip
        for wf in sorted({u["workflow"] for u in answers}):
            w = [u for u in answers if u["workflow"] == wf]
            g = sum(u in good for u in w)
            print(f"  {wf:17} {len(w):3} unseated, {g:3} passing >= 95%")
        finals = [r["final_passed"] / r["checks"] for r in rs if r["final_passed"] is not None]
        print(f"  final answers: mean pass probability {sum(finals) / max(len(finals), 1):.3f} over {len(finals)}, "
              f"{len(rs) - len(finals)} runs with none")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", default="bench/results/tune_eval_training_sizer_seeds.jsonl")
    ap.add_argument("--method", default="aquatope-bo")
    ap.add_argument("--sizer-seed-offset", type=int, default=0)
    ap.add_argument("--checks", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", default="bench/results/tune_unseated.jsonl")
    ap.add_argument("--summary", action="store_true", help="print the summary of --out without running")
    args = ap.parse_args(argv)
    out_path = Path(args.out)
    if args.summary:
        summarize(load_done(out_path))
        return
    rows = load_done(Path(args.runs))
    rows = [r for r in rows if r["method"] == args.method and r.get("sizer_seed_offset", 0) == args.sizer_seed_offset]
    todo = lost(rows)
    print(f"{len(todo)} of {len(rows)} runs were within 5% at some evaluation and are not at the end", flush=True)
    out: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        for n, res in enumerate(pool.map(one_run, [(r, args.checks) for r in todo]), start=1):
            out.append(res)
            print(f"[{n}/{len(todo)}] {res['scenario']} {res['workflow']} {res['seed']}: "
                  f"{[(round(u['ratio'], 3), u['passed'], u['unseated_by']) for u in res['unseated']]}", flush=True)  # fmt: skip
    tmp = out_path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in out))
    tmp.replace(out_path)
    summarize(out)


if __name__ == "__main__":
    sys.exit(main())
