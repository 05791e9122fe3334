"""Simulator throughput: replay the bundled 250-function Azure sample (one day, ~2.1 M invocations) in
single-function mode with keepalive:600 and print invocations per second and peak memory.

Target (issue 3): the whole day in under 20 s on one core, i.e. at least 100k invocations per second.

    python bench/sim_throughput.py [--repeats 3] [--trace PATH] [--prewarm keepalive:600]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import aquatope
from aquatope.experiments.simulate import simulate_single_functions
from aquatope.traces import load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--prewarm", default="keepalive:600")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    trace = load_trace(args.trace)
    rates, walls = [], []
    for i in range(args.repeats):
        t0 = time.perf_counter()
        result = simulate_single_functions(trace, prewarm=args.prewarm, seed=args.seed)
        total_s = time.perf_counter() - t0
        m = result.metrics
        rates.append(m.invocations / result.wall_s)
        walls.append(result.wall_s)
        print(
            f"run {i + 1}: {m.invocations:,} invocations in {result.wall_s:.2f} s of event loop "
            f"({total_s:.2f} s with set-up and metrics) = {rates[-1]:,.0f} inv/s; "
            f"cold-start rate {m.cold_start_rate:.2%}, containers {m.containers_started:,}, "
            f"cost ${m.cost_usd['total']:,.2f}"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"median: {statistics.median(walls):.2f} s, {statistics.median(rates):,.0f} invocations/s (target >= 100,000)"
    )
    print(f"peak memory (max RSS): {peak_mb:,.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
