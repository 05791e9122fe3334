"""Ray runtime figures: platform overhead per warm no-op stage, cold vs warm latency, and openwhisk vs aquatope on
a compressed trace with real cold starts.

    python bench/ray_overhead.py                   # everything (~3-4 minutes on 2 cores)
    python bench/ray_overhead.py --skip-systems    # only overhead and cold vs warm (~30 s)

1. **Overhead.** A chain of 5 no-op stages, every container warm; requests one after another. Per stage: the
   stage latency the platform records (dispatch, actor call, status back) minus nothing (the handler returns its
   input). Target: median < 5 ms.
2. **Cold vs warm.** The example workflows' first request (every container cold: worker process, imports, init)
   against the median of the next ones (warm).
3. **Systems.** ``aquatope run``'s protocol (:func:`aquatope.experiments.ray_run.run_on_ray`) on the text pipeline under
   a bursty synthetic trace, 5 trace minutes compressed by ``--time-scale`` (default 10: 30 wall seconds), for the
   openwhisk and aquatope systems: cold-start rate, p99 latency, cost.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from pathlib import Path

import numpy as np

from aquatope.platform import PoolTarget
from aquatope.runtime.platform import RayPlatform
from aquatope.workflow import load_workflow, workflow_from_dict

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOOP_PERF = {
    "model": "parametric",
    "serial_ms": 0.01,
    "parallel_ms": 0,
    "max_parallelism": 1,
    "io_ms": 0,
    "working_set_mb": 64,
    "min_memory_mb": 32,
    "cv": 0.1,
    "cold_start_ms": 100,
}


def noop(payload: object) -> object:
    return payload


def overhead(p: RayPlatform, stages: int = 5, requests: int = 200) -> None:
    funcs = {f"noop{i}": {"resources": {"cpu": 0.2, "memory_mb": 256}, "perf": NOOP_PERF} for i in range(stages)}
    chain = {f"noop{i}": ({"after": [f"noop{i - 1}"]} if i else {}) for i in range(stages)}
    wf = workflow_from_dict(
        {"name": "noop-chain", "qos": {"latency_ms": 1000}, "functions": funcs, "stages": chain}, base_dir=Path(".")
    )
    for name in funcs:
        p.bind(name, noop)
    p.deploy(wf)
    for name in funcs:
        p.set_pool(name, PoolTarget(1, 3600))
    deadline = time.monotonic() + 60
    while sum(c.state == "idle" for c in p.live_containers()) < stages and time.monotonic() < deadline:
        p.advance(p.now_s + 0.1)
    for _ in range(requests):
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
    recs = [r for r in p.request_records() if r.workflow == wf.name][20:]  # skip the first (warming) requests
    per_stage = [v for r in recs for v in r.stage_latency_ms.values()]
    e2e = [r.latency_ms for r in recs]
    print(f"== overhead: {stages} warm no-op stages, {len(recs)} sequential requests")
    print(
        f"   per stage: median {statistics.median(per_stage):.2f} ms, p95 {np.percentile(per_stage, 95):.2f} ms"
        f"  (target < 5 ms median)"
    )
    print(f"   end to end: median {statistics.median(e2e):.2f} ms ({statistics.median(e2e) / stages:.2f} ms per stage)")


def cold_vs_warm(p: RayPlatform, name: str, warm_requests: int = 20) -> None:
    wf = load_workflow(EXAMPLES / f"{name}.yaml")
    p.deploy(wf)
    p.submit(wf.name, np.array([p.now_s]))
    p.advance(math.inf)
    for _ in range(warm_requests):
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
    recs = [r for r in p.request_records() if r.workflow == wf.name]
    cold, warm = recs[0], recs[1:]
    warm_ms = statistics.median(r.latency_ms for r in warm)
    starts = [c.ready_s - c.start_s for c in p.container_records() if c.function in wf.functions]
    print(
        f"== {name}: cold request {cold.latency_ms:,.0f} ms ({cold.cold_starts} cold starts), "
        f"warm median {warm_ms:,.1f} ms; container start median {statistics.median(starts):.2f} s, "
        f"max {max(starts):.2f} s"
    )


def systems(time_scale: float, trace_spec: str) -> None:
    from aquatope.experiments.ray_run import RayOptions, run_on_ray
    from aquatope.traces import load_trace

    wf = load_workflow(EXAMPLES / "text-pipeline.yaml")
    trace = load_trace(trace_spec, seed=0)
    print(f"== systems: text-pipeline, last 5 minutes of {trace_spec}, time scale {time_scale:g}")
    print(f"   {'system':<10} {'requests':>8} {'cold-start rate':>15} {'p99 ms':>9} {'QoS viol.':>9} {'cost $':>9}")
    for system in ("openwhisk", "aquatope"):
        r = run_on_ray(wf, trace, system=system, minutes=5, time_scale=time_scale, ray=RayOptions(num_cpus=2))
        m = r.metrics
        cost = m.cost_usd["total"] + r.tuning_cost_usd
        print(
            f"   {system:<10} {m.requests:>8} {m.cold_start_rate:>15.2%} {m.latency_ms['p99']:>9,.0f} "
            f"{m.qos_violation_rate:>9.2%} {cost:>9.4f}   (wall {r.wall_s:.0f} s, {r.enforcement['cpu']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-systems", action="store_true")
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--trace", default="synthetic:bursty:rate=4,minutes=240")
    args = parser.parse_args()
    p = RayPlatform(num_cpus=2)
    try:
        print(f"enforcement here: {p.enforcement()}")
        overhead(p)
        for name in ("text-pipeline", "image-pipeline"):
            cold_vs_warm(p, name)
        print(f"enforcement reported by the containers: {p.enforcement()}")
    finally:
        p.shutdown()
    if not args.skip_systems:
        systems(args.time_scale, args.trace)


if __name__ == "__main__":
    main()
