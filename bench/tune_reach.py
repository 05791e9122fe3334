"""How close to the optimum the shared answer rule lets any sizer come in the budget: the ceiling of issue #13's
"within 5% of the optimum" target, per run, next to aquatope-bo's runs.

For each scenario and workflow, the exhaustive oracle (in the scenario's world, as ``bench/tune_eval.py``'s) finds
the *headroom configuration*: among configurations that cost at most 1.05x the p95 optimum, the one with the most
room under the target. It is the cheapest configuration whose true p95 is under ``f`` x the target, for the smallest
``f`` (bisection, 6 steps from [0.6, 1]) at which that costs at most 1.05x the optimum. Then, per seed, a *reach*
sizer measures the shared starting design (as every method does) and then the headroom configuration, again and
again, until the budget is spent; the answer is the shared rule's (:mod:`aquatope.sizing.answer`), as for every
sizer. Nothing is chosen from these runs: they are not a method (the reach sizer reads the oracle).

Reading it: a run whose reach sizer ends without a within-5% answer is one where no sizer with this rule, design and
budget can meet the target (roughly: another within-5% configuration has less room under the target, so the rule
accepts it later or never; the rule's pooled noise shape would differ a little with other measurements). A run
where the reach sizer gets there and aquatope-bo does not is a search loss. The summary crosses the two per scenario
and workflow (aquatope-bo's rows from ``--runs``, ``bench/tune_eval.py``'s output).

    python bench/tune_reach.py [--seeds 5] [--first-seed 0] [--scenarios calm,noisy] [--workflows a,b] [--jobs 2]
        [--runs bench/results/tune_eval.jsonl] [--out bench/results/tune_reach.jsonl]

About 15 minutes on 2 cores (the headroom searches: 6 oracle runs per scenario and workflow; then 70 short runs).
Runs and headroom configurations are cached in ``--out`` (resume) and next to it (``.headroom.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np
from tune_eval import DEFAULTS, TRUTH, WITHIN, WORKFLOWS, as_config, as_lists, load_done, on_target, problem_for

from aquatope.experiments.tuning import (
    first_within,
    remeasure,
    staging_config,
    true_cost_usd,
    truth_curve,
    world_effects,
)
from aquatope.sim import Simulator
from aquatope.sizing.answer import check_quantile
from aquatope.sizing.base import WorkflowConfig
from aquatope.sizing.exhaustive import exhaustive_search, sample_end_to_end_ms
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.sizer import BaseSizer, Proposal

STEPS, LOW = 6, 0.6
"""Bisection of the target factor: 6 halvings of [0.6, 1] locate it to 0.006 (a 0.6% latency margin)."""


class ReachSizer(BaseSizer):
    """The shared design, then one fixed configuration until the budget is spent (source ``search``)."""

    name = "reach"

    def __init__(self, problem: Any, seed: int, target: WorkflowConfig) -> None:
        super().__init__(problem, seed, "design")
        self.target = target

    def propose(self) -> Proposal | None:
        point = self.design_point()
        return point if point is not None else (dict(self.target), "search")


def headroom(scenario: str, workflow: str, opt_cost: float) -> dict[str, Any]:
    """The within-5% configuration with the most room under the target (module docstring)."""
    p = problem_for(workflow, 20, 0, None)
    world = world_effects(staging_config(p, scenario), p.workflow)
    qos = p.workflow.qos
    best: dict[str, Any] | None = None
    lo, hi = LOW, 1.0
    for _ in range(STEPS + 1):
        f = hi if best is None else (lo + hi) / 2.0
        scaled = dataclasses.replace(p.workflow, qos=dataclasses.replace(qos, latency_ms=f * qos.latency_ms))
        r = exhaustive_search(dataclasses.replace(p, workflow=scaled), mc_samples=10_000, samples=500, world=world)
        cost = math.inf if r.config is None else true_cost_usd(p, r.config, scenario)
        if cost <= (1.0 + WITHIN) * opt_cost:
            best, hi = {"factor": f, "config": r.config, "cost_ratio": cost / opt_cost}, f
        elif best is None:
            break  # the optimum itself did not verify at this sample size: no headroom configuration
        else:
            lo = f
    if best is None:
        return {"factor": None, "config": None}
    e2e = sample_end_to_end_ms(p, best["config"], 20_000, np.random.default_rng([0, 7]), world)
    levels = (p.quantile, check_quantile(p.quantile))
    p95, pcheck = (float(np.quantile(e2e, q)) / qos.latency_ms for q in levels)
    return {
        **best,
        "config": as_lists(best["config"]),
        "truth": TRUTH,
        "p95_over_target": p95,
        "check_pctl_over_target": pcheck,
    }


def one_run(task: dict[str, Any]) -> dict[str, Any]:
    warnings.simplefilter("ignore")
    p = problem_for(task["workflow"], task["budget"], task["seed"], None)
    target = as_config(task["target"])
    sizer = ReachSizer(p, task["seed"], target)
    platform = Simulator(staging_config(p, task["scenario"]), seed=p.seed)
    result = run_sizer(sizer, Measurer(platform, p, k=task["k"], seed=p.seed), p.budget)
    opt = task["oracle_cost"]
    curve = truth_curve(p, result, opt, task["scenario"])
    out = {**task, "evaluations": result.evaluations, "sources": list(result.sources), "curve": curve}
    out["design_evals"] = sum(s == "design" for s in result.sources)
    out["evals_to_within"] = first_within(curve, WITHIN)
    if result.best is None:
        return {**out, "ratio": None, "fresh": False, "answer_is_target": False}
    fresh = remeasure(p, result.best.config, task["seed"], scenario=task["scenario"])
    same = as_lists(result.best.config) == task["target"]
    return {**out, "ratio": curve[-1], "fresh": fresh.feasible, "answer_is_target": same}


def within(r: dict[str, Any] | None) -> bool:
    """Feasible (passes its fresh check) and within 5% of the optimum: issue #13's target, as tune_eval scores it."""
    return r is not None and on_target(r["ratio"], r["fresh"])


def summarize(rows: list[dict[str, Any]], bo: dict[tuple[str, str, int], dict[str, Any]]) -> None:
    print("\nper scenario and workflow: runs within 5% of the optimum (reach ceiling; aquatope-bo); fresh passes")
    for scenario in dict.fromkeys(r["scenario"] for r in rows):
        cross = {"both": 0, "reach only": 0, "bo only": 0, "neither": 0}
        for wf in dict.fromkeys(r["workflow"] for r in rows if r["scenario"] == scenario):
            rs = sorted((r for r in rows if (r["scenario"], r["workflow"]) == (scenario, wf)), key=lambda r: r["seed"])
            reach = "".join("+" if within(r) else "." for r in rs)
            bos = "".join("+" if within(bo.get((scenario, wf, r["seed"]))) else "." for r in rs)
            h = rs[0]["headroom"]
            room = "none" if h["factor"] is None else (
                f"f {h['factor']:.3f}, p95 {h['p95_over_target']:.3f}x, p96.9 {h['check_pctl_over_target']:.3f}x target, "
                f"cost {h['cost_ratio']:.3f}x")  # fmt: skip
            accepted = [r["evals_to_within"] for r in rs if r["evals_to_within"] is not None]
            print(f"  {scenario:6s} {wf:16s} reach {reach}  bo {bos}  reach fresh {sum(r['fresh'] for r in rs)}/{len(rs)}"
                  f"  first within at eval {accepted or '-'}  ({room})")  # fmt: skip
            for r in rs:
                b = within(bo.get((scenario, wf, r["seed"])))
                name = ("both" if b else "reach only") if within(r) else ("bo only" if b else "neither")
                cross[name] += 1
        n = sum(cross.values())
        print(f"  {scenario}: reach within 5% on {cross['both'] + cross['reach only']}/{n}, aquatope-bo on "
              f"{cross['both'] + cross['bo only']}/{n}; " + ", ".join(f"{k} {v}" for k, v in cross.items()))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--scenarios", default="calm,noisy")
    ap.add_argument("--workflows", default=",".join(WORKFLOWS))
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--runs", default="bench/results/tune_eval.jsonl")
    ap.add_argument("--out", default="bench/results/tune_reach.jsonl")
    args = ap.parse_args(argv)
    out, runs = Path(args.out), Path(args.runs)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    out.parent.mkdir(parents=True, exist_ok=True)
    oracles = json.loads(runs.with_suffix(".oracles.json").read_text())
    cache = out.with_suffix(".headroom.json")
    rooms = json.loads(cache.read_text()) if cache.exists() else {}
    rooms = {k: v for k, v in rooms.items() if v.get("truth") == TRUTH}
    pairs = [(s, w) for s in args.scenarios.split(",") for w in args.workflows.split(",")]
    todo = [f"{s}/{w}" for s, w in pairs if f"{s}/{w}" not in rooms]
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futs = {pool.submit(headroom, *name.split("/"), oracles[f"{name}/None"]["cost"]): name for name in todo}
        for fut in as_completed(futs):
            rooms[futs[fut]] = fut.result()
            cache.write_text(json.dumps(rooms, indent=1))
            print(f"headroom {futs[fut]}: {rooms[futs[fut]]}", flush=True)
    done = load_done(out)
    done = [r for r in done if r["headroom"].get("truth") == TRUTH]  # runs scored before the truth are redone
    have = {(r["scenario"], r["workflow"], r["seed"], r["budget"], r["k"]) for r in done}
    tasks = [
        dict(scenario=s, workflow=w, seed=seed, budget=args.budget, k=args.k, oracle_cost=oracles[f"{s}/{w}/None"]["cost"],
             headroom=rooms[f"{s}/{w}"], target=rooms[f"{s}/{w}"]["config"])
        for s, w in pairs for seed in seeds
        if rooms[f"{s}/{w}"]["config"] is not None and (s, w, seed, args.budget, args.k) not in have
    ]  # fmt: skip
    print(f"{len(done)} reach runs done, {len(tasks)} to run", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool, out.open("a") as sink:
        for fut in as_completed([pool.submit(one_run, t) for t in tasks]):
            r = fut.result()
            sink.write(json.dumps(r) + "\n")
            sink.flush()
            done.append(r)
    rows = [r for r in done if (r["scenario"], r["workflow"]) in pairs and r["seed"] in seeds
            and (r["budget"], r["k"]) == (args.budget, args.k)]  # fmt: skip
    bo = {(r["scenario"], r["workflow"], r["seed"]): r for r in load_done(runs)
          if r["method"] == "aquatope-bo" and r["start"] == "design" and r["load"] is None
          and r.get("sizer_seed_offset", 0) == 0 and r.get("rule", DEFAULTS["rule"]) == DEFAULTS["rule"]
          and (r["budget"], r["k"]) == (args.budget, args.k)}  # fmt: skip
    summarize(rows, bo)


if __name__ == "__main__":
    sys.exit(main())
