"""Pre-warming policies on the bundled 250-function Azure sample: train on the first 960 minutes, replay the rest.

Prints per policy the cold-start rate, idle GB-s, cost and p99 latency, the forecaster's accuracy, and the target
check: aquatope:q=0.9 has fewer cold starts than keepalive:600 and than hybrid-histogram while using no more idle
GB-s than hybrid-histogram.

With ``--sweep`` it also runs aquatope at q in SWEEP_Q and checks that q trades cold starts against idle GB-s
monotonically (cold starts never rise and idle GB-s never fall as q rises; 2% tolerance).

    python bench/prewarm_eval.py [--forecaster bayes-lstm|ewma|...] [--functions N] [--seed 0] [--sweep] [--json OUT]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import aquatope
from aquatope.experiments.prewarm_eval import DEFAULT_POLICIES, SWEEP_Q, EvalConfig, evaluate_prewarm
from aquatope.jsonio import write_json_atomic
from aquatope.traces import load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"


def sweep_is_monotone(sweep: list[dict[str, float]], tolerance: float = 0.02) -> bool:
    """Print the q sweep; True if, as q rises, cold starts never rise and idle GB-s never fall (within tolerance)."""
    ok = True
    for prev, row in zip([None, *sweep[:-1]], sweep, strict=True):
        print(f"  sweep q={row['q']:<5g}{row['cold_start_rate']:>11.2%}{row['idle_gb_s']:>14,.0f}")
        if prev is not None:
            ok &= row["cold_starts"] <= prev["cold_starts"] * (1 + tolerance)
            ok &= row["idle_gb_s"] >= prev["idle_gb_s"] * (1 - tolerance)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--forecaster", default="bayes-lstm")
    parser.add_argument("--functions", type=int, default=None)
    parser.add_argument("--train-minutes", type=int, default=960)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sweep", action="store_true", help=f"also run aquatope at q in {SWEEP_Q}")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    config = EvalConfig(
        policies=DEFAULT_POLICIES,
        forecaster=args.forecaster,
        train_minutes=args.train_minutes,
        functions=args.functions,
        seed=args.seed,
        sweep_q=SWEEP_Q if args.sweep else (),
    )
    start = time.perf_counter()
    result = evaluate_prewarm(load_trace(args.trace, seed=args.seed), config)
    wall = time.perf_counter() - start
    s = result.setup
    print(
        f"{s['functions']} functions, train {s['train_minutes']} min, test {s['test_minutes']} min, "
        f"forecaster {s['forecaster']}, seed {s['seed']}, {wall:.1f} s"
    )
    print(f"{'policy':<18}{'cold-start':>11}{'idle GB-s':>14}{'cost USD':>11}{'p99 ms':>12}{'fallback':>10}")
    for name, m in result.policies.items():
        print(
            f"{name:<18}{m['cold_start_rate']:>11.2%}{m['idle_gb_s']:>14,.0f}{m['cost_usd']:>11.2f}"
            f"{m['p99_latency_ms']:>12,.0f}{m['fallback_ticks']:>10}"
        )
    for name, acc in result.forecasters.items():
        print(f"forecaster {name}: MAE {acc['mae']:.3f}, 90% coverage {acc['coverage_90']:.1%}")
    p = result.policies
    aq, ka, hh = p["aquatope:q=0.9"], p["keepalive:600"], p["hybrid-histogram"]
    checks = {
        "cold starts < keepalive:600": aq["cold_start_rate"] < ka["cold_start_rate"],
        "cold starts < hybrid-histogram": aq["cold_start_rate"] < hh["cold_start_rate"],
        "idle GB-s <= hybrid-histogram": aq["idle_gb_s"] <= hh["idle_gb_s"],
    }
    if result.sweep:
        checks["q sweep monotone"] = sweep_is_monotone(result.sweep)
    for what, ok in checks.items():
        print(f"target aquatope:q=0.9 {what}: {'PASS' if ok else 'FAIL'}")
    if args.json:
        write_json_atomic(args.json, {**result.to_dict(), "targets": checks, "wall_s": wall})


if __name__ == "__main__":
    main()
