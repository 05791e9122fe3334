"""Pools that hold at load: the text pipeline on Ray, a 30-minute segment of a bursty Azure function, per system.

    python bench/ray_load.py                                   # openwhisk, aquatope, knative at speed-up 1
    python bench/ray_load.py --systems openwhisk,aquatope      # a subset
    python bench/ray_load.py --minutes 5 --speedup 5           # a smoke run (about 10 minutes)

Each system runs ``aquatope run``'s protocol (:func:`aquatope.experiments.ray_run.run_on_ray`) on its own local Ray
with 8 logical CPUs on the 2-core machine (CPU limits overcommitted, as Kubernetes limits are: the containers mostly
wait between millisecond executions; with 2, reservations alone would evict containers during a burst) and 2
containers starting at once (the real cores): right-sizing measured on Ray where the system sizes (its cost counted), one warm-up
interval, then the segment replayed in real time (speed-up 1: the concurrency the pools see is the trace's), the
controller ticking every 60 s. A full run takes about 35 minutes per system.

**The segment** is chosen by a rule fixed before any run: among the functions of
``src/aquatope/data/azure2019-sample-250`` that the trace classifier calls bursty, windows of ``--minutes`` minutes
that start after at least 12 hours of history (the forecaster's training) and hold at least 1,000 requests, whose
busiest minute is at most 300 requests (5 per second, a load the dry-run estimate puts at a quarter of a 2-core
machine, leaving room for other work on it), the window with the largest coefficient of variation of its per-minute
counts. ``--function``/``--start-minute`` override it.

**Targets** (issue 14): aquatope's cold-start rate < 5% and its p95 within the QoS target (500 ms) at less cost than
openwhisk. Printed: per system, requests, cold-start rate, latency percentiles, QoS violation rate, cost (total and
right-sizing), mean and peak warm containers, the replay's worst lag, wall time; and the cost ratio to openwhisk.
``knative`` is the ``reactive`` pool (Knative's KPA) with the YAML's configurations. The cost includes right-sizing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from aquatope.errors import InputError
from aquatope.experiments.ray_run import RayOptions, RunSpec, run_on_ray, run_system_spec
from aquatope.numerics import pin_arithmetic
from aquatope.runtime.plan import estimate_replay
from aquatope.traces import load_trace
from aquatope.traces.classify import classify
from aquatope.workflow import load_workflow

ROOT = Path(__file__).resolve().parents[1]
TRACE = ROOT / "src/aquatope/data/azure2019-sample-250"
WORKFLOW = ROOT / "examples/text-pipeline.yaml"
TRAIN_MINUTES = 720
MIN_REQUESTS = 1000
MAX_PEAK_PER_MINUTE = 300


def choose_segment(trace, minutes: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(row, start minute) by the rule in the module docstring."""
    best: tuple[float, int, int] | None = None
    for row, cls in enumerate(classify(trace)):
        if "bursty" not in str(cls).lower():
            continue
        counts = trace.counts[row]
        for start in range(TRAIN_MINUTES, counts.size - minutes + 1):
            seg = counts[start : start + minutes]
            if seg.sum() < MIN_REQUESTS or seg.max() > MAX_PEAK_PER_MINUTE:
                continue
            cv = float(seg.std() / seg.mean())
            if best is None or cv > best[0]:
                best = (cv, row, start)
    if best is None:
        sys.exit(f"no bursty window of {minutes} minutes with >= {MIN_REQUESTS} requests in {TRACE}")
    return best[1], best[2]


def run_system(system: str, args: argparse.Namespace, row: int, start: int) -> dict:  # type: ignore[type-arg]
    wf = load_workflow(WORKFLOW)
    trace = load_trace(str(TRACE))
    spec = RunSpec(
        system=system,
        minutes=args.minutes,
        start_minute=start,
        speedup=args.speedup,
        function=str(row),
        seed=args.seed,
        tune_on=args.tune_on,
        on_lag="warn",
    )
    ray = RayOptions(num_cpus=args.num_cpus, platform=args.platform, start_slots=args.start_slots)
    began = time.perf_counter()
    result = run_on_ray(wf, trace, spec, ray=ray, notify=lambda line: print(f"  {system}: {line}", flush=True))
    out = result.to_dict()
    out["bench_wall_s"] = time.perf_counter() - began
    return out


def row_text(name: str, r: dict, base_cost: float | None) -> str:  # type: ignore[type-arg]
    lat = r["latency_ms"]
    cost = r["cost_usd"]["total"]  # right-sizing included
    ratio = f"{cost / base_cost:5.2f}" if base_cost else "  -  "
    return (
        f"{name:<12} {r['requests']:>6,} {r['cold_start_rate']:>7.2%} {lat['p50']:>7.0f} {lat['p95']:>7.0f} "
        f"{lat['p99']:>7.0f} {r['qos_violation_rate']:>7.2%} ${cost:>9.5f} "
        f"${r['cost_usd']['tuning']:>8.5f} {ratio} {r['mean_warm_containers']:>5.1f}/{r['peak_warm_containers']:<3} "
        f"{r['lag']['max_lag_s']:>6.1f} {r['wall_s'] / 60:>6.1f}"
    )


def main() -> None:
    pin_arithmetic()  # before any network runs (aquatope.numerics)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="openwhisk,aquatope,knative")
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--function", type=int, default=None, help="trace row (default: the rule's choice)")
    parser.add_argument("--start-minute", type=int, default=None)
    parser.add_argument("--speedup", type=float, default=1.0)
    parser.add_argument("--tune-on", default="ray")
    parser.add_argument("--platform", default="ray")
    parser.add_argument("--num-cpus", type=int, default=8, help="logical CPUs of the local Ray (overcommitted)")
    parser.add_argument("--start-slots", type=int, default=2, help="containers starting at once (the real cores)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    trace = load_trace(str(TRACE))
    row, start = choose_segment(trace, args.minutes)
    if args.function is not None:
        row, start = args.function, args.start_minute if args.start_minute is not None else start
    seg = trace.counts[row][start : start + args.minutes]
    wf = load_workflow(WORKFLOW)
    est = estimate_replay(wf, wf.default_configs(), seg, args.speedup, float(args.num_cpus))
    print(f"segment: trace row {row} ({trace.function_ids[row][:12]}), minutes {start}-{start + args.minutes}")
    print(f"  counts per minute: {seg.tolist()}")
    print(f"  estimate: {est.summary()}", flush=True)
    results: dict[str, dict] = {}  # type: ignore[type-arg]
    for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
        try:
            run_system_spec(system)
        except InputError as exc:
            print(f"{system}: skipped ({exc})")
            continue
        print(f"{system}: running", flush=True)
        results[system] = run_system(system, args, row, start)
    base = results.get("openwhisk")
    base_cost = base["cost_usd"]["total"] if base else None
    qos = wf.qos.latency_ms
    print(f"\ntext pipeline on Ray, QoS p95 <= {qos:g} ms, speed-up {args.speedup:g}, seed {args.seed}")
    print("system       reqs    cold%     p50     p95     p99  viol%       cost  sizing$ x ow  warm m/pk maxlag  min")
    for name, r in results.items():
        print(row_text(name, r, base_cost))
    aq = results.get("aquatope")
    if aq is not None:
        checks = {
            "cold-start rate < 5%": aq["cold_start_rate"] < 0.05,
            f"p95 <= {qos:g} ms": bool(np.isfinite(aq["latency_ms"]["p95"]) and aq["latency_ms"]["p95"] <= qos),
        }
        if base_cost:
            checks["cost < openwhisk"] = aq["cost_usd"]["total"] < base_cost
        print("aquatope targets: " + "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
    if args.json is not None:
        meta = {"row": row, "function": trace.function_ids[row], "start_minute": start, "estimate": est.to_dict()}
        args.json.write_text(json.dumps({"segment": meta, "results": results}, indent=1, default=str))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
