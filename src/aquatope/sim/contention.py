"""Interference on an invoker: a contention slope below its cores, processor sharing above them.

**Model.** An invoker has ``C`` vCPU. Its CPU demand ``D(t)`` is the sum of the vCPU limits of the invocations in
their *compute phase* on it, plus what noisy neighbours take. With ``u = D / C``, a computing invocation of class
``k`` (CPU-bound or memory-bandwidth-bound) progresses at::

    r_k(u) = 1 / ((1 + a_k * min(u, 1)) * max(1, u))

of its nominal speed (the speed its performance model was measured at, on an otherwise empty machine). Below
capacity, contention for caches, memory bandwidth, SMT siblings and turbo headroom slows everyone by the slope
``a_k``; above capacity the cores are shared in proportion (processor sharing: each invocation gets ``C / D`` of
its limit). The rate changes whenever anything starts or stops computing on the invoker, so an invocation's
slowdown depends on the pressure *while it runs*, not only at its start.

An invocation's compute phase is the CPU share of its sampled latency (:func:`cpu_share`); it computes first and
then does its I/O, which contention does not slow. Its container is billed for the whole (stretched) time.

**Algorithm.** All computing invocations of one class on one invoker progress at the same rate, so one *virtual
clock* per (invoker, class) suffices: ``V_k`` grows at ``r_k``; an invocation with ``w`` seconds of nominal work
that entered at ``V_k = v0`` finishes when ``V_k`` reaches ``v0 + w``. Each (invoker, class) keeps a heap of
finishing virtual times, so a change of demand costs O(log n) and only the earliest finisher needs a real-time
event (the engine schedules it; see ``Simulator._cont_schedule``).
"""

from __future__ import annotations

import heapq
import math
from typing import Any

from aquatope.perf import ParametricPerf, PerfModel
from aquatope.resources import ResourceConfig

CPU, MEMORY = 0, 1
"""Classes of computing invocations (``FunctionSpec.bound``): CPU-bound and memory-bandwidth-bound."""
DEFAULT_CPU_SHARE = 0.5
"""CPU share of an invocation's time when its performance model does not separate compute from I/O (empirical
and percentile models, e.g. Azure trace functions, whose records say nothing about it): half, an assumption
stated here rather than a measurement. The parametric model separates them exactly."""
_EPS = 1e-12


def cpu_share(perf: PerfModel, config: ResourceConfig) -> float:
    """The share of an invocation's latency spent computing at ``config``, in [0, 1] (module docstring)."""
    if isinstance(perf, ParametricPerf):
        base = perf.base_latency_ms(config)
        if not math.isfinite(base) or base <= 0:
            return DEFAULT_CPU_SHARE
        return max(0.0, min(1.0, (base - perf.io_ms) / base))
    return DEFAULT_CPU_SHARE


class Contention:
    """Per-invoker virtual clocks of computing invocations (module docstring). Times in seconds.

    ``start``, ``shift`` and ``finished`` return when the next compute phase on the invoker ends if nothing else
    changes (``inf``: none is running); the engine keeps one event per invoker at that time and ignores events
    made stale by a later change (``version``)."""

    __slots__ = ("cores", "demand", "jobs", "last", "rate", "seq", "slopes", "v", "version")

    def __init__(self, invokers: int, cores: float, slope_cpu: float, slope_memory: float) -> None:
        self.cores = float(cores)
        self.slopes = (float(slope_cpu), float(slope_memory))
        self.demand = [0.0] * invokers
        self.last = [0.0] * invokers
        self.v = ([0.0] * invokers, [0.0] * invokers)
        self.rate = ([1.0] * invokers, [1.0] * invokers)
        self.jobs: tuple[list[list[tuple[float, int, float, float, Any]]], ...] = (
            [[] for _ in range(invokers)],
            [[] for _ in range(invokers)],
        )
        self.version = [0] * invokers
        self.seq = 0

    def slowdown(self, invoker: int, cls: int = CPU) -> float:
        """How many times slower than nominal an invocation of ``cls`` computes on ``invoker`` right now."""
        return 1.0 / self.rate[cls][invoker]

    def _update(self, i: int, t: float, delta_cpu: float) -> float:
        """Advance the clocks of ``i`` to ``t``, change its demand by ``delta_cpu`` and return the next finish.

        A class with no invocation on the invoker keeps a stale clock: its value is only ever compared with the
        finishing times of its own invocations, so it needs to be right only while it has some."""
        h0, h1 = self.jobs[0][i], self.jobs[1][i]
        v0, v1 = self.v
        r0, r1 = self.rate
        dt = t - self.last[i]
        if dt > 0.0:
            v0[i] += dt * r0[i]
            if h1:
                v1[i] += dt * r1[i]
            self.last[i] = t
        d = self.demand[i] + delta_cpu
        if d < _EPS:
            d = 0.0
        self.demand[i] = d
        u = d / self.cores
        if u > 1.0:
            share, below = u, 1.0
        else:
            share, below = 1.0, u
        a_cpu, a_mem = self.slopes
        r = r0[i] = 1.0 / ((1.0 + a_cpu * below) * share)
        self.version[i] += 1
        best = math.inf
        if h0:
            ahead = h0[0][0] - v0[i]
            when = t + ahead / r if ahead > 0.0 else t
            if when < best:
                best = when
        if h1:
            r = r1[i] = 1.0 / ((1.0 + a_mem * below) * share)
            ahead = h1[0][0] - v1[i]
            when = t + ahead / r if ahead > 0.0 else t
            if when < best:
                best = when
        return best

    def start(self, i: int, t: float, cpu: float, cls: int, work_s: float, io_s: float, payload: Any) -> float:
        """An invocation with ``work_s`` nominal compute seconds then ``io_s`` of I/O, limit ``cpu``, starts at
        ``t``."""
        if cls == MEMORY and not self.jobs[MEMORY][i]:
            self._catch_up_memory(i)
        dt = t - self.last[i]
        v = self.v[cls]
        here = v[i] + dt * self.rate[cls][i] if dt > 0.0 else v[i]
        self.seq += 1
        heapq.heappush(self.jobs[cls][i], (here + work_s, self.seq, cpu, io_s, payload))
        return self._update(i, t, cpu)

    def _catch_up_memory(self, i: int) -> None:
        """The memory class's clock was stale while it had no invocation: give it the current rate."""
        a_mem = self.slopes[MEMORY]
        u = self.demand[i] / self.cores
        share, below = (u, 1.0) if u > 1.0 else (1.0, u)
        self.rate[MEMORY][i] = 1.0 / ((1.0 + a_mem * below) * share)

    def shift(self, i: int, t: float, delta_cpu: float) -> float:
        """Background demand (a noisy neighbour) of ``delta_cpu`` vCPU arrives (> 0) or leaves (< 0) at ``t``."""
        return self._update(i, t, delta_cpu)

    def finished(self, i: int, t: float) -> tuple[list[tuple[float, Any]], float]:
        """``(io_s, payload)`` of the invocations on ``i`` whose compute phase ended by ``t`` (removed, their demand
        freed), and the next finish."""
        dt = t - self.last[i]
        out: list[tuple[float, Any]] = []
        freed = 0.0
        for k in (CPU, MEMORY):
            heap = self.jobs[k][i]
            if not heap:
                continue
            v = self.v[k][i] + dt * self.rate[k][i] if dt > 0.0 else self.v[k][i]
            limit = v + _EPS * (1.0 + v)
            while heap and heap[0][0] <= limit:
                _, _, cpu, io_s, payload = heapq.heappop(heap)
                freed += cpu
                out.append((io_s, payload))
        return out, self._update(i, t, -freed)
