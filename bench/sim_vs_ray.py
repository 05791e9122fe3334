"""Calibrating the simulator against Ray: the same workflow and trace on both, the simulator's perf models fitted
from Ray measurements.

    python bench/sim_vs_ray.py                       # about 25 minutes on a 2-core machine
    python bench/sim_vs_ray.py --minutes 3 --levels 0.25,1.0 --requests 10   # a smoke run (~10 minutes)

1. **Measure on Ray** (RayPlatform, speed-up 1, the text pipeline): at each CPU level (``--levels``, memory at the
   YAML's), every function at that level, a pool of warm containers, then ``--requests`` requests one after another.
   A function's warm samples are its mean execution time per request (``FunctionObservation.busy_s / completed``:
   the container's busy time, Ray's dispatch included, as the simulator's stage times are); its cold samples add
   each new container's start time (ready - start) to the warm median.
2. **Fit** a parametric model per function with :func:`aquatope.perf.fit_parametric` (errors printed).
3. **Replay** a segment of the bursty Azure function that ``bench/ray_load.py`` uses (``--minutes`` from the
   segment's first active minute) under each system (``--systems``, default sizing so that both sides run the same
   configurations) on Ray, on the simulator with the fitted models, and on the simulator with the YAML's models; and
   compare p50/p95 latency, cold-start rate and mean/peak warm containers.

The local Ray has 8 logical CPUs and 2 start slots, as in ``bench/ray_load.py``; the simulator runs its default
cluster (room is never short) and calm scenario. The machine is shared: figures are from one run, with the load
average printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from aquatope.experiments.ray_run import RayOptions, RunSpec, run_on_platform, run_on_ray
from aquatope.perf import fit_parametric
from aquatope.perf.measurements import Measurements
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.runtime.platform import RayPlatform
from aquatope.sim import SimConfig, Simulator
from aquatope.traces import load_trace
from aquatope.workflow import Workflow, load_workflow

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples/text-pipeline.yaml"
TRACE = ROOT / "src/aquatope/data/azure2019-sample-250"
ROW, FIRST_ACTIVE = 238, 1339  # bench/ray_load.py's segment (row 238 from minute 1319) from its first active minute


def measure_level(
    p: RayPlatform, wf: Workflow, cpu: float, n: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(warm ms samples, cold start ms samples) per function with every function at ``cpu`` vCPU."""
    calls = wf.invocations_per_request()
    configs = {f: ResourceConfig(cpu, wf.functions[f].resources.memory_mb) for f in wf.function_names}
    known = {c.container_id for c in p.container_records()}
    for f in wf.function_names:
        p.set_resources(f, configs[f])
        p.set_pool(f, PoolTarget(calls[f], 3600))
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        now = p.now_s
        ready = [c for c in p.container_records() if c.container_id not in known and c.ready_s <= now <= c.end_s]
        if len(ready) >= sum(calls.values()):
            break
        p.advance(now + 0.5)
    p.observe()
    warm: dict[str, list[float]] = {f: [] for f in wf.function_names}
    for _ in range(n):
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
        for f, o in p.observe().items():
            if o.completed:
                warm[f].append(o.busy_s / o.completed * 1000.0)
    cold: dict[str, list[float]] = {f: [] for f in wf.function_names}
    for c in p.container_records():
        if c.container_id not in known and math.isfinite(c.ready_s) and c.config == configs[c.function]:
            cold[c.function].append((c.ready_s - c.start_s) * 1000.0)
    return warm, cold


def fit_models(wf: Workflow, levels: list[float], n: int, ray: RayOptions) -> dict[str, object]:
    p = RayPlatform(num_cpus=ray.num_cpus, start_slots=ray.start_slots)
    rows: dict[str, dict[str, list]] = {f: {"cpu": [], "mem": [], "cold": [], "ms": []} for f in wf.function_names}
    try:
        p.deploy(wf)
        for cpu in levels:
            warm, cold = measure_level(p, wf, cpu, n)
            for f in wf.function_names:
                med = float(np.median(warm[f]))
                samples = [(w, False) for w in warm[f]] + [(med + c, True) for c in cold[f]]
                for value, is_cold in samples:
                    r = rows[f]
                    r["cpu"].append(cpu)
                    r["mem"].append(wf.functions[f].resources.memory_mb)
                    r["cold"].append(is_cold)
                    r["ms"].append(max(value, 1e-3))
                print(
                    f"  {cpu:g} vCPU {f:9s} warm median {med:7.2f} ms, cold starts {np.round(cold[f], -1).tolist()} ms"
                )
    finally:
        p.shutdown()
    models = {}
    for f, r in rows.items():
        m = Measurements.from_arrays(r["mem"], r["cold"], r["ms"], cpu=r["cpu"], source=f"ray:{f}")
        fit = fit_parametric(m)
        print(f"fit {f}: {fit.model.describe()}\n{fit.table()}")
        models[f] = fit.model
    return models


def with_models(wf: Workflow, models: dict[str, object]) -> Workflow:
    functions = {f: dataclasses.replace(spec, perf=models[f]) for f, spec in wf.functions.items()}
    return dataclasses.replace(wf, functions=functions)


def figures(r) -> dict[str, float]:  # type: ignore[no-untyped-def]
    m = r.metrics
    return {
        "requests": m.requests,
        "p50_ms": m.latency_ms["p50"],
        "p95_ms": m.latency_ms["p95"],
        "cold_start_rate": m.cold_start_rate,
        "mean_warm": m.mean_warm_containers,
        "peak_warm": m.peak_warm_containers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="0.1,0.25,0.5,1.0")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--systems", default="openwhisk,knative")
    parser.add_argument("--num-cpus", type=int, default=8)
    parser.add_argument("--start-slots", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    wf = load_workflow(WORKFLOW)
    ray = RayOptions(num_cpus=args.num_cpus, start_slots=args.start_slots)
    models = fit_models(wf, [float(x) for x in args.levels.split(",")], args.requests, ray)
    calibrated = with_models(wf, models)
    trace = load_trace(str(TRACE))
    out: dict[str, dict[str, dict[str, float]]] = {}
    for system in args.systems.split(","):
        spec = RunSpec(system, args.minutes, FIRST_ACTIVE, 1.0, str(ROW), seed=args.seed, on_lag="warn")
        sim = lambda speedup, pricing, lag: Simulator(SimConfig(), seed=args.seed)  # noqa: E731
        rows = {  # the simulator first: seconds, and a failure there does not cost the Ray replay
            "sim (fitted)": figures(run_on_platform(calibrated, trace, spec, sim, "sim")),
            "sim (YAML)": figures(run_on_platform(wf, trace, spec, sim, "sim")),
        }
        out[system] = {"ray": figures(run_on_ray(wf, trace, spec, ray=ray)), **rows}
        print(f"{system}: done (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"\ntext pipeline, trace row {ROW} minutes {FIRST_ACTIVE}-{FIRST_ACTIVE + args.minutes}, seed {args.seed}")
    print(f"{'system':<10} {'where':<13} {'reqs':>5} {'p50 ms':>9} {'p95 ms':>9} {'cold%':>7} {'warm m/pk':>10}")
    for system, rows in out.items():
        for where, f in rows.items():
            print(
                f"{system:<10} {where:<13} {f['requests']:>5} {f['p50_ms']:>9,.0f} {f['p95_ms']:>9,.0f} "
                f"{f['cold_start_rate']:>7.2%} {f['mean_warm']:>5.1f}/{f['peak_warm']:<4}"
            )
    if args.json is not None:
        args.json.write_text(json.dumps({"models": {f: m.to_spec() for f, m in models.items()}, "results": out}))
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
