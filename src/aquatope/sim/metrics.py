"""Figures of a simulated (or real) run: QoS violations, latency percentiles, cold starts, cost, containers.

Definitions:
* QoS violation rate: the fraction of workflow requests whose end-to-end latency exceeded their workflow's
  target (``qos.latency_ms``); failed requests count as violations.
* Cold-start rate: the fraction of function invocations that waited on a cold start.
* Cost: every container is charged ``Pricing.usd_per_second(config)`` over its whole life. *Execution* is the
  part while it ran invocations; *idle* is the rest (starting, keep-alive and pre-warm time). *Requests* is the
  per-invocation fee. ``total`` is their sum.
* Warm containers: containers alive (starting, idle or busy); the mean is over ``horizon_s``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.resources import Pricing


@dataclass(frozen=True)
class RunMetrics:
    """Summary figures of one run; :meth:`to_dict` gives the JSON form."""

    requests: int
    invocations: int
    failed_requests: int
    qos_violation_rate: float
    latency_ms: dict[str, float]
    cold_start_rate: float
    cold_starts: int
    cost_usd: dict[str, float]
    containers_started: int
    mean_warm_containers: float
    peak_warm_containers: int
    idle_gb_s: float
    horizon_s: float
    per_workflow: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_percentiles(latency_ms: np.ndarray) -> dict[str, float]:
    """p50/p95/p99 (and mean) of the latencies that are finite; NaN when there are none."""
    ok = latency_ms[np.isfinite(latency_ms)]
    if ok.size == 0:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    p50, p95, p99 = np.percentile(ok, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(ok.mean())}


def container_cost(columns: dict[str, np.ndarray], pricing: Pricing) -> dict[str, float]:
    """Execution and idle cost (USD) of containers given as columns (see ``ContainerTable.lifetimes``)."""
    rate = columns["cpu"] * pricing.usd_per_vcpu_s + columns["memory_gb"] * pricing.usd_per_gb_s
    life = columns["end"] - columns["start"]
    busy = np.minimum(columns["busy"], life)
    return {"execution": float(np.sum(rate * busy)), "idle": float(np.sum(rate * (life - busy)))}


def warm_containers(start: np.ndarray, end: np.ndarray, horizon_s: float) -> tuple[float, int]:
    """(mean over ``[0, horizon_s]``, peak over the whole run) number of containers alive at once.

    The mean counts only the part of each life inside the horizon (the drain after it would otherwise inflate it,
    up to above the peak when cold starts are long), so it never exceeds the peak."""
    if start.size == 0:
        return 0.0, 0
    times = np.concatenate([start, end])
    steps = np.concatenate([np.ones(start.size, dtype=np.int64), -np.ones(end.size, dtype=np.int64)])
    order = np.lexsort((steps, times))  # at equal times, ends (-1) before starts (+1)
    peak = int(np.max(np.cumsum(steps[order])))
    inside = np.clip(np.minimum(end, horizon_s) - np.maximum(start, 0.0), 0.0, None)
    mean = float(np.sum(inside) / horizon_s) if horizon_s > 0 else 0.0
    return mean, peak


def compute_metrics(
    *,
    latency_ms: np.ndarray,
    failed: np.ndarray,
    targets_ms: np.ndarray,
    invocations: int,
    cold_starts: int,
    containers: dict[str, np.ndarray],
    pricing: Pricing,
    horizon_s: float,
    per_workflow: dict[str, dict[str, Any]] | None = None,
) -> RunMetrics:
    """Metrics from per-request arrays (latency, failed flag, target) and container columns."""
    n = int(latency_ms.size)
    violations = failed | ~(latency_ms <= targets_ms)
    cost = container_cost(containers, pricing)
    cost["requests"] = pricing.requests_cost_usd(invocations)
    cost["total"] = cost["execution"] + cost["idle"] + cost["requests"]
    mean_warm, peak_warm = warm_containers(containers["start"], containers["end"], horizon_s)
    life = containers["end"] - containers["start"]
    idle_gb_s = float(np.sum(containers["memory_gb"] * (life - np.minimum(containers["busy"], life))))
    return RunMetrics(
        requests=n,
        invocations=int(invocations),
        failed_requests=int(np.sum(failed)),
        qos_violation_rate=float(np.mean(violations)) if n else 0.0,
        latency_ms=latency_percentiles(np.where(failed, np.nan, latency_ms)),
        cold_start_rate=cold_starts / invocations if invocations else 0.0,
        cold_starts=int(cold_starts),
        cost_usd=cost,
        containers_started=int(containers["start"].size),
        mean_warm_containers=mean_warm,
        peak_warm_containers=peak_warm,
        idle_gb_s=idle_gb_s,
        horizon_s=float(horizon_s),
        per_workflow=per_workflow or {},
    )
