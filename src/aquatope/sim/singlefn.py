"""Single-function mode: every function of a trace becomes its own one-stage workflow, so whole traces replay.

Each function's execution time is drawn from its trace durations row (:class:`~aquatope.perf.PercentilePerf`
reproduces the published percentiles exactly) and its memory from its memory row (average allocated MB). The
trace does not say how much CPU a function had; we give it the AWS Lambda share, ``memory / 1769 MB`` vCPU
(at least 0.05), so that cost scales with memory as on Lambda-style platforms.

A function with no durations row runs for its average duration if known, else ``DEFAULT_DURATION_MS``; one with
no memory row gets ``DEFAULT_MEMORY_MB``. The counts of such functions are reported.

QoS of a single-function workflow: its p99 execution time must not be exceeded by more than half (target =
1.5 x p99, at least p99 + 100 ms), judged per request; in practice a request violates it when it waited on a
cold start or queued.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aquatope.perf import PercentilePerf
from aquatope.resources import LAMBDA_MB_PER_VCPU, ResourceConfig
from aquatope.traces import InvocationTrace
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow

DEFAULT_DURATION_MS = 1000.0
DEFAULT_MEMORY_MB = 256
AZURE_COLD_START_MS = 1000.0
"""Median cold start of a replayed function. Measured Azure Functions cold starts are one to several seconds
(Wang et al., "Peeking Behind the Curtains of Serverless Platforms", USENIX ATC '18); 1 s is a conservative
middle for today's platforms."""


@dataclass(frozen=True)
class SingleFunctionSet:
    """The one-stage workflows of a trace, in trace order, and how many rows lacked statistics."""

    workflows: tuple[Workflow, ...]
    missing_durations: int
    missing_memory: int


def _durations_row(trace: InvocationTrace, i: int) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    d = trace.durations
    if d is None:
        return None
    row = np.asarray(d.percentile_ms[i], dtype=float)
    ok = np.isfinite(row)
    if ok.sum() >= 2:
        return tuple(np.asarray(d.percentiles, dtype=float)[ok].tolist()), tuple(row[ok].tolist())
    avg = float(d.average_ms[i])
    if math.isfinite(avg) and avg > 0:
        return (0.0, 100.0), (avg, avg)
    return None


def _memory_mb(trace: InvocationTrace, i: int) -> float | None:
    m = trace.memory
    if m is None:
        return None
    value = float(m.average_mb[i])
    return value if math.isfinite(value) and value > 0 else None


def single_function_workflows(trace: InvocationTrace, cold_start_ms: float = AZURE_COLD_START_MS) -> SingleFunctionSet:
    """One workflow per function of ``trace`` (named by its function id); see the module docstring."""
    workflows = []
    missing_d = missing_m = 0
    for i, fid in enumerate(trace.function_ids):
        points = _durations_row(trace, i)
        if points is None:
            missing_d += 1
            points = ((0.0, 100.0), (DEFAULT_DURATION_MS, DEFAULT_DURATION_MS))
        perf = PercentilePerf(points[0], points[1], cold_start_ms=cold_start_ms)
        memory = _memory_mb(trace, i)
        if memory is None:
            missing_m += 1
            memory = DEFAULT_MEMORY_MB
        config = ResourceConfig(max(0.05, round(memory / LAMBDA_MB_PER_VCPU, 3)), round(memory))
        p99 = perf.latency_quantile_ms(config, 0.99)
        qos = QoS(max(1.5 * p99, p99 + 100.0), 99.0)
        fn = FunctionSpec(fid, perf, config)
        workflows.append(Workflow(fid, qos, {fid: fn}, (Stage(fid, fid),), kind="analytics"))
    return SingleFunctionSet(tuple(workflows), missing_d, missing_m)
