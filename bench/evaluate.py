"""Full end-to-end evaluation: all six workflows x all five systems on the bundled trace sample.

    PYTHONPATH=src python bench/evaluate.py [--hours 2] [--seeds 1] [--budget 20] [--out bench-evaluate]

Prints the per-system summary and checks the targets: aquatope vs the best QoS-meeting baseline (>= 5x fewer QoS
violations, >= 30% lower cost) and aquatope vs the oracle (cost within 15% at <= 1.5x its violations).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from aquatope.experiments.evaluate import EvaluateConfig, evaluate
from aquatope.experiments.report import write_outputs
from aquatope.experiments.systems import Budgets
from aquatope.traces import load_trace

TRACE = Path(__file__).resolve().parent.parent / "src" / "aquatope" / "data" / "azure2019-sample-250"
BASELINES = ("openwhisk", "hist-powertune", "cherrypick")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--budget", type=int, default=20)
    ap.add_argument("--out", type=Path, default=Path("bench-evaluate"))
    args = ap.parse_args()
    config = EvaluateConfig(hours=args.hours, seeds=args.seeds, budgets=Budgets(tuning_budget=args.budget))
    began = time.perf_counter()
    results = evaluate(load_trace(str(TRACE)), config, lambda what, f: print(f"[{f:5.1%}] {what}", flush=True))
    write_outputs(results, args.out)
    s = results["systems"]
    print(f"\nwall {time.perf_counter() - began:.0f} s; outputs in {args.out}")
    print(f"{'system':16s} {'viol':>8s} {'cost':>9s} {'v/aq':>6s} {'c/aq':>6s} {'v/or':>6s} {'c/or':>6s} meets")
    for name, m in s.items():
        print(
            f"{name:16s} {m['qos_violation_rate']:8.2%} {m['cost_usd']:9.4f} {m['violations_vs_aquatope']:6.2f} "
            f"{m['cost_vs_aquatope']:6.2f} {m['violations_vs_oracle']:6.2f} {m['cost_vs_oracle']:6.2f} "
            f"{m['workflows_meeting_qos']}"
        )
    n_wf = len(results["per_workflow"])
    meeting = [b for b in BASELINES if s[b]["workflows_meeting_qos"] == n_wf] or list(BASELINES)
    best = min(meeting, key=lambda b: s[b]["cost_usd"])
    print(f"\nbest QoS-meeting baseline: {best}")
    print(f"  violations baseline/aquatope = {s[best]['violations_vs_aquatope']:.2f}x (target >= 5)")
    print(f"  cost aquatope/baseline = {1 / s[best]['cost_vs_aquatope']:.2f} (target <= 0.70)")
    print(f"  aquatope cost / oracle = {s['aquatope']['cost_vs_oracle']:.2f} (target <= 1.15)")
    print(f"  aquatope violations / oracle = {s['aquatope']['violations_vs_oracle']:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
