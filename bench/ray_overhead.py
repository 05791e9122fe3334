"""Per-stage overhead of the two real platforms (container actors vs Ray Serve), Ray's CPU per invocation, and cold
vs warm requests of the example workflows.

    python bench/ray_overhead.py                  # both platforms, CPU per invocation, cold vs warm (~6-10 min)
    python bench/ray_overhead.py --platforms ray  # RayPlatform only (~3 min)

Everything runs on one local Ray (``--num-cpus``, default 2), one platform after the other, so the two see the same
machine; the figures are medians over sequential requests (no two requests at once).

1. **Overhead per stage.** A chain of 5 no-op stages (the handler returns its input), every container warm (a pool
   of one per function, waited for), ``--requests`` requests one after another. Per stage: the stage latency the
   platform records (dispatch, the call to a container or a replica, the result back), median and p95; the first
   20 requests are left out (warming). RayPlatform's target: median < 5 ms.
2. **CPU per invocation** (RayPlatform): the CPU time of the whole process tree (the driver, Ray's raylet and GCS,
   the workers) during warm replays of the text pipeline at 5 and 20 requests per second, 10 s each; the slope
   between the two is the CPU per request, the intercept Ray's idle CPU. ``aquatope.runtime.plan`` uses them
   (``DISPATCH_CPU_S``, ``RAY_BASELINE_CPU``).
3. **Cold vs warm**: each example workflow's first request (every container cold: worker process, imports, init)
   against the median of the next 20.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from aquatope.platform import PoolTarget
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


def wait_warm(p, n: int, timeout_s: float = 600.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until ``n`` containers are ready and idle (from the platform's records)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = p.now_s
        ready = [c for c in p.container_records() if c.ready_s <= now and c.end_s >= now]
        if len(ready) >= n:
            return
        p.advance(now + 0.2)
    sys.exit(f"{n} containers did not become ready within {timeout_s} s")


def overhead(p, label: str, stages: int, requests: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
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
    wait_warm(p, stages)
    for _ in range(requests):
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
    recs = [r for r in p.request_records() if r.workflow == wf.name][20:]
    per_stage = [v for r in recs for v in r.stage_latency_ms.values()]
    e2e = [r.latency_ms for r in recs]
    out = {
        "stage_p50_ms": statistics.median(per_stage),
        "stage_p95_ms": float(np.percentile(per_stage, 95)),
        "e2e_p50_ms": statistics.median(e2e),
    }
    print(
        f"== {label}: {stages} warm no-op stages, {len(recs)} sequential requests: per stage median "
        f"{out['stage_p50_ms']:.2f} ms, p95 {out['stage_p95_ms']:.2f} ms; end to end median {out['e2e_p50_ms']:.2f} ms",
        flush=True,
    )
    return out


def tree_cpu_s() -> float:
    """CPU seconds used so far by this process and every process below it (Ray's daemons and workers)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def cpu_per_invocation(p) -> None:  # type: ignore[no-untyped-def]
    wf = load_workflow(EXAMPLES / "text-pipeline.yaml")
    p.deploy(wf)
    calls = wf.invocations_per_request()
    for f, n in calls.items():
        p.set_pool(f, PoolTarget(n, 3600))
    wait_warm(p, sum(calls.values()))
    points = []
    for rate in (5.0, 20.0):
        n = int(rate * 10)
        cpu0, wall0 = tree_cpu_s(), time.monotonic()
        p.submit(wf.name, p.now_s + 0.5 + np.arange(n) / rate)
        p.advance(math.inf)
        points.append((rate, (tree_cpu_s() - cpu0) / (time.monotonic() - wall0)))
    (r1, c1), (r2, c2) = points
    per_request = (c2 - c1) / (r2 - r1)
    per_invocation = per_request / sum(calls.values())
    print(
        f"== CPU (RayPlatform, text pipeline warm): {c1:.2f} CPUs at {r1:g} requests/s, {c2:.2f} at {r2:g}: "
        f"{per_request * 1000:.1f} ms per request, {per_invocation * 1000:.2f} ms per invocation; "
        f"idle Ray {c1 - r1 * per_request:.2f} CPUs",
        flush=True,
    )


def cold_vs_warm(p, name: str, warm_requests: int = 20) -> None:  # type: ignore[no-untyped-def]
    wf = load_workflow(EXAMPLES / f"{name}.yaml")
    p.deploy(wf)
    for _ in range(warm_requests + 1):
        p.submit(wf.name, np.array([p.now_s]))
        p.advance(math.inf)
    recs = [r for r in p.request_records() if r.workflow == wf.name]
    cold, warm = recs[0], recs[1:]
    starts = [c.ready_s - c.start_s for c in p.container_records() if c.function in wf.functions]
    print(
        f"== {name}: cold request {cold.latency_ms:,.0f} ms ({cold.cold_starts} cold starts), warm median "
        f"{statistics.median(r.latency_ms for r in warm):,.1f} ms; container start median "
        f"{statistics.median(starts):.2f} s, max {max(starts):.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platforms", default="ray,ray-serve")
    parser.add_argument("--num-cpus", type=int, default=2)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    import ray

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    results = {}
    try:
        for kind in args.platforms.split(","):
            if kind == "ray":
                from aquatope.runtime.platform import RayPlatform

                p = RayPlatform()
            else:
                from aquatope.runtime.serve import ServePlatform

                p = ServePlatform()
            try:
                results[kind] = overhead(p, kind, 5, args.requests)
                if kind == "ray":
                    cpu_per_invocation(p)
                    print(f"enforcement reported by the containers: {p.enforcement()}")
            finally:
                p.shutdown()
            if kind == "ray":  # each example on a platform of its own: its first request finds nothing warm
                for name in ("text-pipeline", "image-pipeline"):
                    with RayPlatform() as q:
                        cold_vs_warm(q, name)
    finally:
        ray.shutdown()
    if len(results) == 2:
        a, b = results["ray"], results["ray-serve"]
        print(
            f"== Serve / actors: per stage median {b['stage_p50_ms'] / a['stage_p50_ms']:.1f}x "
            f"({b['stage_p50_ms']:.2f} vs {a['stage_p50_ms']:.2f} ms), p95 {b['stage_p95_ms'] / a['stage_p95_ms']:.1f}x"
        )


if __name__ == "__main__":
    main()
