"""Right-sizing methods against the exhaustive oracle on the built-in workflows (issue 5's targets).

For every workflow and seed, each method tunes with ``--budget`` measured configurations of ``k`` warm requests
on the simulator; its answer is scored by (a) its true expected cost relative to the oracle's, (b) whether it meets
the QoS on a fresh re-measurement (200 requests, another seed), (c) evaluations until its best measured feasible
cost is within 10% of the optimum. Prints a table per workflow and medians over everything.

Targets: aquatope-bo within 10% of the optimum in <= 30 evaluations on every workflow; its answer meets QoS on
fresh re-measurement in >= 95% of runs; it beats random and cherrypick on median evaluations-to-within-10%.

    python bench/tune_eval.py [--seeds 5] [--budget 30] [--workflows a,b] [--methods aquatope-bo,random,cherrypick]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from aquatope.experiments.tuning import compare_methods, make_problem
from aquatope.workflow import load_workflow

WORKFLOWS = ("ml-pipeline", "video-processing", "social-network", "chatbot", "map-reduce", "trip-booking")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=30)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--workflows", default=",".join(WORKFLOWS))
    parser.add_argument("--methods", default="aquatope-bo,random,cherrypick")
    args = parser.parse_args()
    methods = tuple(args.methods.split(","))
    rows: dict[str, list[tuple[float, float, float]]] = {m: [] for m in methods}
    for name in args.workflows.split(","):
        problem = make_problem(load_workflow(name), "decoupled", args.budget, seed=0)
        start = time.perf_counter()
        oracle, summaries = compare_methods(problem, list(range(args.seeds)), methods, args.k)
        print(
            f"\n{name}: oracle ${oracle.cost_per_request_usd:.4g} per request ({oracle.method}); {time.perf_counter() - start:.0f} s"
        )
        print(f"  {'method':<14}{'cost/opt':>9}{'fresh QoS':>11}{'evals<=10%':>12}{'never':>7}")
        for s in summaries:
            evals = "never" if math.isinf(s.evals_to_10pct_median) else f"{s.evals_to_10pct_median:.0f}"
            print(
                f"  {s.method:<14}{s.cost_ratio_median:>9.3f}{s.fresh_qos_met:>11.0%}{evals:>12}{s.never_within_10pct:>7}"
            )
            rows[s.method].append((s.cost_ratio_median, s.fresh_qos_met, s.evals_to_10pct_median))
    print("\nover all workflows (median of per-workflow medians; fresh QoS: mean):")
    for m, r in rows.items():
        a = np.array(r)
        print(
            f"  {m:<14} cost/opt {np.median(a[:, 0]):.3f}  fresh QoS {np.mean(a[:, 1]):.0%}  evals<=10% {np.median(a[:, 2]):.1f}"
        )


if __name__ == "__main__":
    main()
