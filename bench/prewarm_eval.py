"""Pre-warming policies on an Azure trace: train on the first 960 minutes, replay the rest, over seeds.

Prints per policy the cold-start rate, idle GB-s, cost and how many targets the onset floor decided; per
forecaster the MAE of the median and the 90% coverage per rate class and what served the functions; and the
target check: aquatope:q=0.9 has fewer cold starts than keepalive:600 and than hybrid-histogram while using no
more idle GB-s than hybrid-histogram. Figures are medians with [min, max] over seeds (each seed: its own forecaster
training, arrivals and execution times).

``--floor-ablation`` adds ``aquatope:q=0.9,no-floor`` (the same policy without the ``rho * last`` onset floor);
``--sweep`` runs aquatope at q in SWEEP_Q and checks that q trades cold starts against idle GB-s monotonically.

    python bench/prewarm_eval.py [--trace PATH] [--seeds 3] [--forecaster bayes-lstm] [--param KEY=VALUE]
                                 [--floor-ablation] [--sweep] [--json OUT]

About 6 min per seed on the bundled 250-function sample on a loaded 2-core machine (mostly the bayes-lstm fit).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import aquatope
from aquatope.experiments.prewarm_eval import DEFAULT_POLICIES, SWEEP_Q, EvalConfig, evaluate_prewarm
from aquatope.forecast import RATE_CLASSES, BayesLSTMForecaster
from aquatope.jsonio import write_json_atomic
from aquatope.numerics import pin_arithmetic
from aquatope.prewarm import ForecastPoolPolicy, PoolPolicy
from aquatope.traces import load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"


def spread(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.median(values), fmt)} [{format(min(values), fmt)}, {format(max(values), fmt)}]"


def sweep_is_monotone(sweep: list[dict[str, float]], tolerance: float = 0.02) -> bool:
    """True if, as q rises, cold starts never rise and idle GB-s never fall (within tolerance)."""
    ok = True
    for prev, row in itertools.pairwise(sweep):
        ok &= row["cold_starts"] <= prev["cold_starts"] * (1 + tolerance)
        ok &= row["idle_gb_s"] >= prev["idle_gb_s"] * (1 - tolerance)
    return ok


def print_policies(runs: list[dict[str, Any]]) -> None:
    print(f"{'policy':<28}{'cold-start rate':>26}{'idle GB-s':>34}{'floor decisions':>18}")
    for name in runs[0]["policies"]:
        rows = [r["policies"][name] for r in runs]
        print(
            f"{name:<28}{spread([100 * x['cold_start_rate'] for x in rows], '.2f'):>25}%"
            f"{spread([x['idle_gb_s'] / 1e6 for x in rows], '.2f'):>32}M"
            f"{spread([x['onset_floor_decisions'] for x in rows], '.0f'):>18}"
        )


def print_forecasters(runs: list[dict[str, Any]]) -> None:
    for name in runs[0]["forecasters"]:
        rows = [r["forecasters"][name] for r in runs]
        print(
            f"forecaster {name}: MAE {spread([x['mae'] for x in rows], '.3f')}, "
            f"90% coverage {spread([x['coverage_90'] for x in rows], '.3f')} "
            f"(PIT {spread([x['pit_coverage_90'] for x in rows], '.3f')})"
        )
        for c in RATE_CLASSES:
            if c in rows[0]["mae_by_class"]:
                print(
                    f"  {c:<9} ({rows[0]['functions_by_class'][c]} functions): MAE "
                    f"{spread([x['mae_by_class'][c] for x in rows], '.3f')}, 90% coverage "
                    f"{spread([x['coverage_90_by_class'][c] for x in rows], '.3f')} "
                    f"(PIT {spread([x['pit_coverage_90_by_class'][c] for x in rows], '.3f')})"
                )
        print("  served by, per seed: " + "; ".join(str(x["components"]) for x in rows))


def main() -> None:
    pin_arithmetic()  # before any network runs (aquatope.numerics)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--forecaster", default="bayes-lstm")
    parser.add_argument("--compare", default="moving-average", help="forecasters compared for accuracy")
    parser.add_argument("--functions", type=int, default=None)
    parser.add_argument("--train-minutes", type=int, default=960)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--floor-ablation", action="store_true", help="also run aquatope:q=0.9 without the floor")
    parser.add_argument("--sweep", action="store_true", help=f"also run aquatope at q in {SWEEP_Q}")
    parser.add_argument("--param", action="append", default=[], help="bayes-lstm KEY=VALUE (JSON values)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    params = {k: json.loads(v) for k, _, v in (p.partition("=") for p in args.param)}
    policies: list[str | PoolPolicy] = list(DEFAULT_POLICIES)
    if args.floor_ablation:
        policies.append(ForecastPoolPolicy(q=0.9, onset_floor=False))
    runs, walls = [], []
    for seed in range(args.seeds):
        config = EvalConfig(
            policies=tuple(policies),
            forecaster=args.forecaster,
            compare=tuple(c for c in args.compare.split(",") if c),
            train_minutes=args.train_minutes,
            functions=args.functions,
            seed=seed,
            sweep_q=SWEEP_Q if args.sweep else (),
        )
        start = time.perf_counter()
        model = BayesLSTMForecaster(**params, seed=seed) if args.forecaster == "bayes-lstm" else None
        runs.append(evaluate_prewarm(load_trace(args.trace, seed=seed), config, forecaster=model).to_dict())
        walls.append(time.perf_counter() - start)
    s = runs[0]["setup"]
    print(
        f"{s['trace']}: {s['functions']} functions, train {s['train_minutes']} min, test {s['test_minutes']} min, "
        f"forecaster {s['forecaster']} {params or ''}, seeds 0..{args.seeds - 1}, {spread(walls, '.0f')} s per seed"
    )
    print_policies(runs)
    print_forecasters(runs)
    checks = {}
    for what, ok in {
        "cold starts < keepalive:600": lambda p: (
            p["aquatope:q=0.9"]["cold_start_rate"] < p["keepalive:600"]["cold_start_rate"]
        ),
        "cold starts < hybrid-histogram": lambda p: (
            p["aquatope:q=0.9"]["cold_start_rate"] < p["hybrid-histogram"]["cold_start_rate"]
        ),
        "idle GB-s <= hybrid-histogram": lambda p: (
            p["aquatope:q=0.9"]["idle_gb_s"] <= p["hybrid-histogram"]["idle_gb_s"]
        ),
    }.items():
        checks[what] = [bool(ok(r["policies"])) for r in runs]
    if args.sweep:
        checks["q sweep monotone"] = [sweep_is_monotone(r["sweep"]) for r in runs]
    for what, oks in checks.items():
        print(f"target aquatope:q=0.9 {what}: {'PASS' if all(oks) else 'FAIL'} ({sum(oks)}/{len(oks)} seeds)")
    if args.json:
        write_json_atomic(args.json, {"runs": runs, "targets": checks, "wall_s": walls})


if __name__ == "__main__":
    main()
