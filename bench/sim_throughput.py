"""Simulator throughput: replay the bundled 250-function Azure sample (one day, ~2.1 M invocations) in
single-function mode with keepalive:600, in the calm world, in the shared one without contention (``shared-static``: a finite
cluster sized for the day's busiest minute at 60% CPU, cold-start storms) and in the shared one (with interference
and processor sharing while invocations run), and print invocations per second of CPU time (the machine is shared: CPU time, not wall time) and peak memory; the two run interleaved and
their ratio is the figure to trust.

Targets: calm >= 100k invocations/s (issue 3); with the shared world's sources of uncertainty on, >= 300k (issue 11,
measured against ~430k calm on an idle machine).

    python bench/sim_throughput.py [--repeats 3] [--hours 24] [--scenarios calm,shared]   # ~1-2 min per repeat
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import aquatope
from aquatope.experiments.simulate import parse_prewarm, replay_arrivals
from aquatope.scenarios import Scenario, load_scenario
from aquatope.scenarios.world import functions_busy_per_minute
from aquatope.sim import Simulator
from aquatope.sim.singlefn import single_function_workflows
from aquatope.traces import load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"


def variant(name: str) -> Scenario:
    """A named scenario, or ``shared-static``: the shared world (finite cluster, storms) without contention, to
    separate the cost of the cluster and storms from that of the dynamic interference model."""
    if name == "shared-static":
        s = load_scenario("shared")
        cluster = dataclasses.replace(s.cluster, cpu_overcommit=1.0)
        return dataclasses.replace(s, name=name, cluster=cluster, interference_cpu=0.0, interference_memory=0.0)
    return load_scenario(name)


def one_run(
    trace_path: str, scenario: str, minutes: int, prewarm: str, seed: int
) -> tuple[int, float, dict[str, float]]:
    """(invocations, CPU seconds of the event loop, figures) of one replay."""
    trace = load_trace(trace_path).slice_minutes(0, minutes)
    s = variant(scenario)
    fset = single_function_workflows(trace)
    invokers = s.cluster.invokers
    if invokers is None:
        busy = functions_busy_per_minute(fset.workflows, trace.counts)
        invokers = max(1, math.ceil(float(busy.max()) / (s.cluster.peak_utilisation * s.cluster.invoker_cpu)))
    config = s.sim_config(invokers=invokers)
    sim = Simulator(config, seed=seed, default_pool=parse_prewarm(prewarm), track_utilisation=True)
    rng = np.random.default_rng(seed)
    for i, wf in enumerate(fset.workflows):
        sim.deploy(wf)
        arrivals = replay_arrivals(trace.counts[i], config.arrival_mode, rng)
        if arrivals.size:
            sim.submit(wf.name, arrivals)
    start = time.process_time()
    sim.advance(math.inf)
    cpu_s = time.process_time() - start
    inv = sum(f.total_inv for f in sim.functions)
    util = sim.utilisation.per_bucket() if sim.utilisation is not None else np.zeros(1)
    cold = sum(f.total_cold for f in sim.functions) / max(1, inv)
    return (
        inv,
        cpu_s,
        {"invokers": invokers, "cold": cold, "util_max": float(util.max()), "util_mean": float(util.mean())},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trace", default=str(SAMPLE))
    parser.add_argument("--prewarm", default="keepalive:600")
    parser.add_argument("--scenarios", default="calm,shared-static,shared")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    minutes = round(args.hours * 60)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(args.repeats):
        for name in names:  # interleaved, so that a change in the machine's load hits every scenario alike
            inv, cpu_s, fig = one_run(args.trace, name, minutes, args.prewarm, args.seed)
            rates[name].append(inv / cpu_s)
            print(
                f"run {rep + 1} {name:>7}: {inv:,} invocations in {cpu_s:.1f} s of CPU = {inv / cpu_s:,.0f} inv/s; "
                f"{fig['invokers']} invokers, CPU utilisation mean {fig['util_mean']:.0%} max {fig['util_max']:.0%}, "
                f"cold starts {fig['cold']:.2%}",
                flush=True,
            )
    for name in names:
        print(f"median {name}: {statistics.median(rates[name]):,.0f} invocations/s of CPU time")
    if len(names) > 1:
        base = statistics.median(rates[names[0]])
        for name in names[1:]:
            print(f"{name} / {names[0]}: {statistics.median(rates[name]) / base:.2f}")
    print(f"peak memory (max RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
