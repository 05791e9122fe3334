"""Before a replay: the CPU it will need at a speed-up, against what the cluster offers (``aquatope run --dry-run``).

A replay at speed-up S sends the trace's requests S times faster while each execution keeps its real length, so
the cluster must carry S times the trace's load. Per trace minute with ``n`` requests the request rate is
``lam = n / 60 x S`` per wall second, and for each function ``f`` (``c_f`` invocations per request, mean execution
``d_f`` seconds from its performance model at its configuration of ``cpu_f`` vCPU, ``k_f`` copies at once in one
request):

* **CPU busy** ``b + lam x sum_f c_f (cpu_f d_f + o)``: each execution uses at most its quota for its duration,
  each invocation costs ``o`` = :data:`DISPATCH_CPU_S` of Ray's own work (driver, worker, object store), and Ray's
  processes cost ``b`` = :data:`RAY_BASELINE_CPU` when idle;
* **CPU reserved** ``sum_f cpu_f x max(k_f, lam c_f (d_f + o))``: Little's law gives the containers busy at once,
  and a request needs its ``k_f`` parallel copies together;
* **a cold burst** ``sum_f cpu_f x max(k_f, lam c_f s_f)``: while a function's first container starts (``s_f``
  seconds, its perf model's cold start), every invocation that arrives starts another one (the dispatch rule of
  OpenWhisk and of the simulator), so a cold function at the peak rate asks for that much before its first
  container serves. Pre-warmed pools avoid it; a pool that starts cold at the peak meets it once.

The busiest trace minute decides. The verdict: ``fits`` when the busy CPU stays within
:data:`UTILIZATION_CEILING` of the cluster and the reservations fit; ``tight`` up to the full cluster; ``overloaded``
beyond (queues then grow without bound). A cold burst beyond the cluster adds ``; cold starts queue`` to a verdict
that otherwise fits: requests that arrive cold wait for room, and the replay's lag shows by how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.workflow import Workflow

DISPATCH_CPU_S = 0.0025
"""CPU seconds of Ray's own work per warm invocation (driver, raylet, worker; the handler's own work excluded):
``bench/ray_overhead.py`` measures the CPU time of the whole process tree during warm replays of the text pipeline at
two rates; on the 2-core development VM, 2.3 ms per invocation (rounded up)."""
RAY_BASELINE_CPU = 0.2
"""CPUs an idle local Ray uses (raylet, GCS, the driver's loop): the intercept of the same measurement."""
UTILIZATION_CEILING = 0.7
"""Busy share of the cluster's CPUs beyond which a replay is called tight: queueing delay grows steeply past about
70% utilisation (M/M/c), and Ray's own processes need the rest."""


@dataclass(frozen=True)
class ReplayEstimate:
    """What a replay needs (module docstring): rates per wall second, CPUs at the busiest and the mean minute."""

    speedup: float
    trace_minutes: int
    wall_s: float
    requests: int
    peak_rate_per_s: float
    mean_rate_per_s: float
    cpu_busy_peak: float
    cpu_busy_mean: float
    cpu_reserved_peak: float
    cpu_reserved_cold_burst: float
    cluster_cpu: float
    verdict: str
    max_speedup: float
    per_function: dict[str, dict[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        """One line: what the replay needs against the cluster, and the verdict."""
        return (
            f"{self.requests:,} requests over {self.trace_minutes} trace minutes in {wall_text(self.wall_s)} at "
            f"speed-up {self.speedup:g}; busiest minute: {self.peak_rate_per_s:.2f} requests/s, "
            f"{self.cpu_busy_peak:.2f} CPUs busy and {self.cpu_reserved_peak:.2f} reserved of "
            f"{self.cluster_cpu:g}: {self.verdict}"
        )


def wall_text(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``1.2 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def mean_durations_s(
    workflow: Workflow, configs: Mapping[str, ResourceConfig], seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean execution time and mean cold start (s) of every function at ``configs``, from its performance model
    (2,000 samples each)."""
    rng = np.random.default_rng(seed)
    run: dict[str, float] = {}
    cold: dict[str, float] = {}
    for name, spec in workflow.functions.items():
        for out, samples in (
            (run, spec.perf.sample_latency_ms(configs[name], 2000, rng)),
            (cold, spec.perf.sample_cold_start_ms(configs[name], 2000, rng)),
        ):
            finite = samples[np.isfinite(samples)]
            out[name] = float(finite.mean()) / 1000.0 if finite.size else 0.0
    return run, cold


def parallel_copies(workflow: Workflow) -> dict[str, int]:
    """Per function, the most copies one request runs at once (the largest fan-out of a stage that invokes it)."""
    out: dict[str, int] = {}
    for stage in workflow.stages:
        out[stage.function] = max(out.get(stage.function, 0), stage.fanout)
    return out


def estimate_replay(
    workflow: Workflow,
    configs: Mapping[str, ResourceConfig],
    counts_per_minute: np.ndarray,
    speedup: float,
    cluster_cpu: float,
) -> ReplayEstimate:
    """The CPU a replay of ``counts_per_minute`` (requests per trace minute) needs at ``speedup`` (module doc)."""
    counts = np.asarray(counts_per_minute, dtype=float)
    calls = workflow.invocations_per_request()
    duration, cold_start = mean_durations_s(workflow, configs)
    copies = parallel_copies(workflow)
    peak_rate = float(counts.max(initial=0.0)) / 60.0 * speedup
    mean_rate = float(counts.mean()) / 60.0 * speedup if counts.size else 0.0
    work_per_request = sum(calls[f] * (configs[f].cpu * duration[f] + DISPATCH_CPU_S) for f in calls)
    per_function = {}
    reserved = burst = 0.0
    for f in workflow.function_names:
        busy_at_peak = peak_rate * calls[f] * (duration[f] + DISPATCH_CPU_S)
        containers = max(float(copies[f]), busy_at_peak) if peak_rate > 0 else 0.0
        cold_burst = max(float(copies[f]), peak_rate * calls[f] * cold_start[f]) if peak_rate > 0 else 0.0
        reserved += containers * configs[f].cpu
        burst += cold_burst * configs[f].cpu
        per_function[f] = {
            "mean_s": duration[f],
            "cold_start_s": cold_start[f],
            "containers_peak": containers,
            "containers_cold_burst": cold_burst,
            "cpu": configs[f].cpu,
        }
    busy_peak = RAY_BASELINE_CPU + peak_rate * work_per_request
    verdict = "fits"
    if busy_peak > cluster_cpu or reserved > cluster_cpu + 1e-9:
        verdict = "overloaded"
    elif busy_peak > UTILIZATION_CEILING * cluster_cpu:
        verdict = "tight"
    if verdict != "overloaded" and burst > cluster_cpu + 1e-9:
        verdict += "; cold starts queue"
    room = UTILIZATION_CEILING * cluster_cpu - RAY_BASELINE_CPU
    max_speedup = speedup * room / (busy_peak - RAY_BASELINE_CPU) if busy_peak > RAY_BASELINE_CPU else float("inf")
    return ReplayEstimate(
        speedup=speedup,
        trace_minutes=int(counts.size),
        wall_s=counts.size * 60.0 / speedup,
        requests=int(counts.sum()),
        peak_rate_per_s=peak_rate,
        mean_rate_per_s=mean_rate,
        cpu_busy_peak=busy_peak,
        cpu_busy_mean=RAY_BASELINE_CPU + mean_rate * work_per_request,
        cpu_reserved_peak=reserved,
        cpu_reserved_cold_burst=burst,
        cluster_cpu=cluster_cpu,
        verdict=verdict,
        max_speedup=max_speedup,
        per_function=per_function,
    )
