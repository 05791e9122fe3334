"""Aquatope BO variants (paper / warm / dag) and CherryPick against each other on the built-in workflows.

For every workflow x seed x method: run the sizer on the simulator (decoupled space, budget 30, k=20) and report

* ``evals``: evaluations until the best feasible cost is within 10% of the reference cost of that workflow (the
  exhaustive oracle when ``aquatope.sizing.exhaustive`` is available, else the best any method found); a run that
  never gets there counts as budget + 1;
* ``qos_ok``: whether the answer meets QoS when measured again on a fresh simulator (new seed, k=200);
* ``gap``: answer cost / reference cost - 1;
* ``suggest_s``: median wall time of one BO ``suggest()`` call.

Usage: ``PYTHONPATH=src python bench/tune_bo_variants.py [--seeds 3] [--workflows a,b] [--methods ...]``.
SMOKE_TEST=1 runs one seed on two workflows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from aquatope.resources import ResourceConfig, ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig
from aquatope.sizing.bo import make_bo_sizer
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.workflow import load_workflow

WORKFLOWS = ("ml-pipeline", "video-processing", "social-network", "chatbot", "map-reduce", "trip-booking")
METHODS = ("aquatope-bo:paper", "aquatope-bo:warm", "aquatope-bo:dag", "cherrypick")
BUDGET, K, K_CHECK = 30, 20, 200


class SafeMeasurer(Measurer):
    """Measurer that turns a configuration whose containers never start (e.g. below the memory a function
    needs) into a failed measurement instead of an exception, on a fresh simulator afterwards."""

    def measure(self, config: Mapping[str, ResourceConfig]) -> Measurement:
        try:
            return super().measure(config)
        except RuntimeError:
            self.failures = getattr(self, "failures", 0) + 1
            self.platform = Simulator(seed=self.evaluations + 1000)
            self.platform.deploy(self.problem.workflow)
            self.evaluations += 1
            wf, nan = self.problem.workflow, np.full(self.k, np.nan)
            cost = sum(
                n * self.problem.pricing.usd_per_second(config[f]) * self.problem.qos_ms / 1000.0 / len(wf.stages)
                for f, n in self.calls.items()
            )
            return Measurement(
                dict(config), nan, {s.name: nan for s in wf.stages}, cost, self.problem.quantile, self.problem.qos_ms
            )


def reference_cost(problem: SizingProblem) -> float | None:
    """The exhaustive oracle's cost, when that module exists and finds something."""
    try:
        from aquatope.sizing import exhaustive
    except ImportError:
        return None
    try:
        result = exhaustive.exhaustive_search(problem)  # type: ignore[attr-defined]
    except Exception as exc:
        print(f"  oracle failed: {exc!r}", file=sys.stderr)
        return None
    best = float(getattr(result, "cost_per_request_usd", float("inf")))
    return best if np.isfinite(best) else None


def one_run(problem: SizingProblem, method: str, seed: int) -> dict[str, Any]:
    sizer = make_bo_sizer(method, problem, seed)
    times: list[float] = []
    suggest = sizer.suggest

    def timed() -> list[WorkflowConfig]:
        t0 = time.perf_counter()
        out = suggest()
        times.append(time.perf_counter() - t0)
        return out

    sizer.suggest = timed  # type: ignore[method-assign]
    result = run_sizer(sizer, SafeMeasurer(Simulator(seed=seed), problem, k=K), BUDGET)
    qos_ok = None
    if result.best is not None:
        check = SafeMeasurer(Simulator(seed=seed + 10_000), problem, k=K_CHECK).measure(result.best.config)
        qos_ok = check.feasible
    bo_times = times[-max(1, len(times) // 2) :]  # BO steps (the initial design is instant)
    return {
        "method": method,
        "seed": seed,
        "curve": result.best_cost_curve(),
        "best": None if result.best is None else result.best.cost_per_request_usd,
        "qos_ok": qos_ok,
        "evaluations": result.evaluations,
        "suggest_s": statistics.median(bo_times),
        "rechecks": getattr(sizer, "rechecks", 0),
    }


def evals_to_within(curve: list[float | None], ref: float, tol: float = 0.10) -> int:
    for i, c in enumerate(curve):
        if c is not None and c <= ref * (1 + tol):
            return i + 1
    return BUDGET + 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--workflows", default=",".join(WORKFLOWS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    smoke = os.environ.get("SMOKE_TEST") == "1"
    workflows = args.workflows.split(",")[: 2 if smoke else None]
    seeds = range(args.first_seed, args.first_seed + (1 if smoke else args.seeds))
    runs: list[dict[str, Any]] = []
    for name in workflows:
        problem = SizingProblem(load_workflow(name), ResourceSpace.decoupled(), budget=BUDGET)
        oracle = reference_cost(problem)
        wf_runs = [one_run(problem, m, s) for m in args.methods.split(",") for s in seeds]
        found = [r["best"] for r in wf_runs if r["best"] is not None]
        ref = oracle if oracle is not None else (min(found) if found else float("nan"))
        for r in wf_runs:
            r.update(workflow=name, ref=ref, oracle=oracle is not None, evals=evals_to_within(r["curve"], ref))
            print(
                f"{name:17s} dims {problem.dims:2d} {r['method']:18s} seed {r['seed']} evals {r['evals']:3d} best {r['best']} "
                f"gap {None if r['best'] is None else round(r['best'] / ref - 1, 3)} qos_ok {r['qos_ok']} "
                f"suggest {r['suggest_s']:.2f}s rechecks {r['rechecks']}",
                flush=True,
            )
        runs += wf_runs
    summarize(runs)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(runs, f, indent=1)


def summarize(runs: list[dict[str, Any]]) -> None:
    print(f"\n{'method':18s} {'median evals':>12s} {'qos ok':>8s} {'median gap':>10s} {'median suggest s':>16s}")
    for method in dict.fromkeys(r["method"] for r in runs):
        rs = [r for r in runs if r["method"] == method]
        ok = [r["qos_ok"] for r in rs]
        gaps = [r["best"] / r["ref"] - 1 for r in rs if r["best"] is not None]
        print(
            f"{method:18s} {statistics.median(r['evals'] for r in rs):12.1f} "
            f"{sum(1 for o in ok if o)}/{len(ok):<6d} {statistics.median(gaps) if gaps else float('nan'):10.3f} "
            f"{statistics.median(r['suggest_s'] for r in rs):16.2f}"
        )


if __name__ == "__main__":
    main()
