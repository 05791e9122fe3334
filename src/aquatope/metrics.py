"""Figures of a run, from what a platform records: the ONE place every runner (simulator, Ray, evaluation)
computes them.

Definitions (requests are workflow requests; a failed request has infinite latency):

* **QoS violation rate**: the share of requests whose end-to-end latency exceeded the workflow's target.
* **Window violation rate**: requests are grouped by arrival into windows of ``window_s`` (1 minute by default;
  also 5 minutes); a window *violates* the SLO when the QoS percentile (e.g. the p95) of its requests' latencies is
  over the target. The rate is the share of windows with at least one request that violate. Unlike the per-request
  share, a system sized at the percentile's boundary cannot hide half its bad minutes behind the good ones.
* **p95/p99 over target**: the percentile of the latencies of requests that did not fail, over the target.
* **Cold-start rate**: the share of function invocations that waited on a cold start.
* **Cost** (``resources.Pricing``): every container is charged over its whole life. *Execution* is the part while it
  ran invocations; *idle* the rest (starting, keep-alive and pre-warm time); *requests* the per-invocation fees;
  *tuning* what right-sizing measurements cost (when the runner passes it); ``total`` their sum.
* **Warm containers**: containers alive (starting, idle or busy); the mean is over ``horizon_s``, the peak over the
  whole run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.resources import Pricing

WINDOWS_S = (60.0, 300.0)
"""The SLO windows reported: 1 and 5 minutes."""


@dataclass(frozen=True)
class RunMetrics:
    """Summary figures of one run; :meth:`to_dict` gives the JSON form (``cost_usd`` has the split)."""

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
    window_violation_rate: float = math.nan
    window_violation_rate_5m: float = math.nan
    p95_over_target: float = math.nan
    p99_over_target: float = math.nan
    per_workflow: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_percentiles(latency_ms: np.ndarray) -> dict[str, float]:
    """p50/p95/p99 (and mean) of the latencies that are finite; NaN when there are none."""
    ok = latency_ms[np.isfinite(latency_ms)]
    if ok.size == 0:
        return {"p50": math.nan, "p95": math.nan, "p99": math.nan, "mean": math.nan}
    p50, p95, p99 = np.percentile(ok, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "mean": float(ok.mean())}


def violation_rate(latency_ms: np.ndarray, failed: np.ndarray, target_ms: float | np.ndarray) -> float:
    """The share of requests over their target (failures included); 0 with no request."""
    if latency_ms.size == 0:
        return 0.0
    return float(np.mean(failed | ~(latency_ms <= target_ms)))


def window_violation_rate(
    arrival_s: np.ndarray,
    latency_ms: np.ndarray,
    failed: np.ndarray,
    target_ms: float,
    quantile: float,
    window_s: float,
) -> float:
    """The share of ``window_s`` windows (by arrival, among windows with requests) whose ``quantile`` of latency
    (failures as infinite) exceeds ``target_ms``; NaN with no request. Percentiles are numpy's linear ones."""
    if arrival_s.size == 0:
        return math.nan
    lat = np.where(failed, np.inf, latency_ms)
    window = np.floor(arrival_s / window_s).astype(np.int64)
    order = np.lexsort((lat, window))
    window, lat = window[order], lat[order]
    starts = np.flatnonzero(np.r_[True, window[1:] != window[:-1]])
    sizes = np.diff(np.r_[starts, window.size])
    # linear interpolation between order statistics, as np.quantile does, vectorised over windows
    pos = quantile * (sizes - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, sizes - 1)
    frac = pos - lo
    a, b = lat[starts + lo], lat[starts + hi]
    with np.errstate(invalid="ignore"):
        value = np.where(frac > 0, a + (b - a) * frac, a)
    value = np.where(np.isinf(b) & (frac > 0), np.inf, value)
    return float(np.mean(value > target_ms))


def container_cost(columns: dict[str, np.ndarray], pricing: Pricing) -> dict[str, float]:
    """Execution and idle cost (USD) of containers given as columns (``start``, ``end``, ``busy``, ``cpu``,
    ``memory_gb``)."""
    rate = pricing.usd_per_second_columns(columns["cpu"], columns["memory_gb"])
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


def container_columns(containers: Sequence[ContainerRecord]) -> dict[str, np.ndarray]:
    """Container records as the columns :func:`compute_metrics` takes."""
    return {
        "start": np.array([c.start_s for c in containers], dtype=float),
        "ready": np.array([min(c.ready_s, c.end_s) for c in containers], dtype=float),
        "end": np.array([c.end_s for c in containers], dtype=float),
        "busy": np.array([c.busy_s for c in containers], dtype=float),
        "cpu": np.array([c.config.cpu for c in containers], dtype=float),
        "memory_gb": np.array([c.config.memory_gb for c in containers], dtype=float),
    }


@dataclass(frozen=True)
class RequestColumns:
    """Requests as arrays: arrival (s), latency (ms), failed flag and target (ms) per request."""

    arrival_s: np.ndarray
    latency_ms: np.ndarray
    failed: np.ndarray
    target_ms: np.ndarray

    @classmethod
    def from_records(cls, records: Sequence[RequestRecord], target_ms: float) -> RequestColumns:
        return cls(
            np.array([r.arrival_s for r in records], dtype=float),
            np.array([r.latency_ms for r in records], dtype=float),
            np.array([r.failed for r in records], dtype=bool),
            np.full(len(records), float(target_ms)),
        )


def compute_metrics(
    *,
    requests: RequestColumns,
    invocations: int,
    cold_starts: int,
    containers: dict[str, np.ndarray],
    pricing: Pricing,
    horizon_s: float,
    quantile: float | None = None,
    tuning_usd: float = 0.0,
    per_workflow: dict[str, dict[str, Any]] | None = None,
) -> RunMetrics:
    """Metrics from request columns and container columns (module docstring). Window figures and the ratios to
    the target need one workflow's requests (one target) and its ``quantile``; otherwise they are NaN."""
    lat, failed = requests.latency_ms, requests.failed
    n = int(lat.size)
    cost = container_cost(containers, pricing)
    cost["requests"] = pricing.requests_cost_usd(invocations)
    cost["tuning"] = float(tuning_usd)
    cost["total"] = cost["execution"] + cost["idle"] + cost["requests"] + cost["tuning"]
    mean_warm, peak_warm = warm_containers(containers["start"], containers["end"], horizon_s)
    life = containers["end"] - containers["start"]
    idle_gb_s = float(np.sum(containers["memory_gb"] * (life - np.minimum(containers["busy"], life))))
    percentiles = latency_percentiles(np.where(failed, np.nan, lat))
    windows = [math.nan, math.nan]
    over = {"p95": math.nan, "p99": math.nan}
    targets = np.unique(requests.target_ms)
    if quantile is not None and targets.size == 1:
        target = float(targets[0])
        windows = [window_violation_rate(requests.arrival_s, lat, failed, target, quantile, w) for w in WINDOWS_S]
        over = {k: percentiles[k] / target for k in over}
    return RunMetrics(
        requests=n,
        invocations=int(invocations),
        failed_requests=int(np.sum(failed)),
        qos_violation_rate=violation_rate(lat, failed, requests.target_ms),
        latency_ms=percentiles,
        cold_start_rate=cold_starts / invocations if invocations else 0.0,
        cold_starts=int(cold_starts),
        cost_usd=cost,
        containers_started=int(containers["start"].size),
        mean_warm_containers=mean_warm,
        peak_warm_containers=peak_warm,
        idle_gb_s=idle_gb_s,
        horizon_s=float(horizon_s),
        window_violation_rate=windows[0],
        window_violation_rate_5m=windows[1],
        p95_over_target=over["p95"],
        p99_over_target=over["p99"],
        per_workflow=per_workflow or {},
    )


def metrics_from_records(
    requests: Sequence[RequestRecord],
    containers: Sequence[ContainerRecord],
    *,
    target_ms: float,
    quantile: float,
    invocations: int,
    cold_starts: int,
    pricing: Pricing,
    horizon_s: float,
    tuning_usd: float = 0.0,
) -> RunMetrics:
    """The figures of one workflow's run from a platform's records (what every runner uses)."""
    return compute_metrics(
        requests=RequestColumns.from_records(requests, target_ms),
        invocations=invocations,
        cold_starts=cold_starts,
        containers=container_columns(containers),
        pricing=pricing,
        horizon_s=horizon_s,
        quantile=quantile,
        tuning_usd=tuning_usd,
    )
