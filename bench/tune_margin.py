"""How strict is the shared answer rule against what its check really needs? A diagnosis, per scenario and workflow.

The answer rule (``src/aquatope/sizing/answer.py``) accepts a configuration when its mean log latency plus the
pooled noise's QoS-quantile ``tail`` plus a ``margin`` is under the target. The margin is mostly the variability of
the 200-request check the answer must pass: the 95% quantile, over a two-level bootstrap of the pooled residuals,
of the check's percentile minus the tail. This script measures the shared design of each run (the start every
method gets, ``aquatope-design``'s measurements, staging world of the scenario), builds the rule's noise model
from them, and sets it against the truth for one design probe (the cheapest whose measured percentile met the
target, else the fastest), in the world the check runs in (``remeasure``: no noisy neighbours):

* ``tail``: the rule's pooled tail against the probe's true tail (20,000 requests);
* ``check``: the rule's 95% quantile of the check's excess over the tail against the true one (200 checks of 200
  requests each: the 95% quantile of their percentile minus the true percentile);
* ``one-level``: the same allowance from a one-level bootstrap (200 draws straight from the pooled residuals, no
  resample first), an alternative the rule does not use;
* ``excess``: how much stricter the rule's threshold for a fresh 20-request evaluation is than what would give
  the probe a 95% chance of passing its check, in log (positive: stricter).

A diagnosis on training seeds (default 100-102); nothing here changes a method.

    python bench/tune_margin.py [--seeds 3] [--first-seed 100] [--scenarios calm,noisy] [--workflows a,b]
        [--checks 200] [--jobs 2] [--json PATH]

About 20 minutes on 2 cores with the defaults (42 runs, each 40,000 check requests and 20,000 for the truth).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from tune_eval import WORKFLOWS, problem_for

from aquatope.experiments.tuning import remeasure, tune
from aquatope.sizing.answer import ANSWER_CONFIDENCE, BOOTSTRAP_DRAWS, VERIFY_REQUESTS, noise_model, residuals

TRUTH_REQUESTS, CHECK_SEED, K = 20_000, 10_000, 20
"""``K``: requests per evaluation, as ``bench/tune_eval.py``'s default ``--k``."""


def _log(latency_ms: np.ndarray) -> np.ndarray:
    return np.log(latency_ms[np.isfinite(latency_ms)])


def one_run(task: tuple[str, str, int, int]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    scenario, workflow, seed, checks = task
    p = problem_for(workflow, 20, seed, None)
    design = [m for m, s in zip(*_design(p, scenario), strict=True) if s == "design" and m.failed == 0]
    noise = noise_model(design, p.quantile)
    assert noise is not None
    met = [m for m in design if m.feasible]
    probe = (
        min(met, key=lambda m: m.cost_per_request_usd) if met else min(design, key=lambda m: _log(m.latency_ms).mean())
    )
    truth = _log(remeasure(p, probe.config, seed, k=TRUTH_REQUESTS, scenario=scenario).latency_ms)
    true_pctl, true_loc = float(np.quantile(truth, p.quantile)), float(truth.mean())
    excess = [
        float(np.quantile(_log(remeasure(p, probe.config, CHECK_SEED + seed * checks + i, scenario=scenario).latency_ms),
                          p.quantile)) - true_pctl
        for i in range(checks)
    ]  # fmt: skip
    true_check = float(np.quantile(excess, ANSWER_CONFIDENCE))
    rule_check = float(np.quantile(noise.checks, ANSWER_CONFIDENCE))
    pooled = np.concatenate([r for m in design if (r := residuals(m)).size])
    one_level = np.quantile(
        np.random.default_rng(0).choice(pooled, (BOOTSTRAP_DRAWS, VERIFY_REQUESTS)), p.quantile, axis=1
    )
    one_level_check = float(np.quantile(one_level - noise.tail, ANSWER_CONFIDENCE))
    margin = float(noise.margin(K))
    return {
        "scenario": scenario, "workflow": workflow, "seed": seed, "design_measurements": len(design),
        "rule_tail": noise.tail, "true_tail": true_pctl - true_loc, "rule_sd": noise.sd,
        "rule_check": rule_check, "true_check": true_check, "rule_margin_20": margin,
        "one_level_check": one_level_check,
        "excess": (noise.tail + margin) - (true_pctl - true_loc + true_check),
        "probe_pctl_over_target": math.exp(true_pctl) / p.qos_ms,
    }  # fmt: skip


def _design(p: Any, scenario: str) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    result = tune(p, "aquatope-design", K, scenario=scenario)
    return result.history, result.sources


def summarize(rows: list[dict[str, Any]]) -> None:
    print(f"{'scenario':8} {'workflow':17} {'tail rule/true':>15} {'check rule/true':>16} {'one-level':>9} {'excess':>8}  (log; medians over seeds)")  # fmt: skip
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        for wf in dict.fromkeys(r["workflow"] for r in rows):
            rs = [r for r in rows if r["scenario"] == sc and r["workflow"] == wf]
            if not rs:
                continue
            keys = ("rule_tail", "true_tail", "rule_check", "true_check", "one_level_check", "excess")
            med = {k: float(np.median([r[k] for r in rs])) for k in keys}
            print(f"{sc:8} {wf:17} {med['rule_tail']:6.3f} / {med['true_tail']:<6.3f} {med['rule_check']:7.3f} / "
                  f"{med['true_check']:<6.3f} {med['one_level_check']:9.3f} {med['excess']:+8.3f}")  # fmt: skip
        rs = [r for r in rows if r["scenario"] == sc]
        ex = np.array([r["excess"] for r in rs])
        ratio = np.array([r["rule_check"] / max(r["true_check"], 1e-9) for r in rs])
        one = np.array([r["one_level_check"] / max(r["true_check"], 1e-9) for r in rs])
        print(f"{sc:8} {'all':17} excess median {np.median(ex):+.3f} [{np.quantile(ex, 0.1):+.3f}, {np.quantile(ex, 0.9):+.3f}] "
              f"(10-90%), rule's check term over the true one: median {np.median(ratio):.2f}x (one level "
              f"{np.median(one):.2f}x), {len(rs)} runs")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--scenarios", default="calm,noisy")
    ap.add_argument("--workflows", default=",".join(WORKFLOWS))
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    tasks = [(s, w, seed, args.checks) for s in args.scenarios.split(",") for w in args.workflows.split(",") for seed in seeds]  # fmt: skip
    rows = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for i, row in enumerate(pool.map(one_run, tasks), 1):
            rows.append(row)
            print(
                f"[{i}/{len(tasks)}] {row['scenario']} {row['workflow']} {row['seed']}: excess {row['excess']:+.3f}",
                flush=True,
            )
    summarize(rows)
    if args.json:
        out = Path(args.json)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(rows, indent=1) + "\n")
        os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
