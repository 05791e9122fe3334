"""The simulator's smaller sources of uncertainty: noisy-neighbour episodes, the diurnal performance factor,
per-edge transfer delays, and a per-minute log of the cluster's utilisation (see :class:`SimConfig`)."""

from __future__ import annotations

import math

import numpy as np

from aquatope.sim.config import SimConfig
from aquatope.workflow import Workflow


def diurnal_factor(config: SimConfig, t: float) -> float:
    """Execution-time multiplier at time ``t``: ``1 + A cos(2 pi (t - peak) / period)`` (1 when A = 0)."""
    a = config.diurnal_amplitude
    if a == 0.0:
        return 1.0
    return 1.0 + a * math.cos(2.0 * math.pi * (t - config.diurnal_peak_s) / config.diurnal_period_s)


def out_delays_s(workflow: Workflow, config: SimConfig) -> dict[str, float]:
    """Per function, the delay its output adds on every outgoing DAG edge (s): one hop (``transfer_ms``), and for a
    payload (``output_mb``) above ``transfer_inline_mb`` a trip through object storage (``transfer_storage_ms``
    plus the payload over ``transfer_mb_per_s``)."""
    out = {}
    for name, spec in workflow.functions.items():
        delay_s = config.transfer_ms / 1000.0
        if spec.output_mb > config.transfer_inline_mb:
            delay_s += config.transfer_storage_ms / 1000.0
            if config.transfer_mb_per_s > 0:
                delay_s += spec.output_mb / config.transfer_mb_per_s
        out[name] = delay_s
    return out


class NeighbourEpisodes:
    """Noisy neighbours: per invoker, alternating quiet and noisy periods, both exponential (a two-state Markov
    process): quiet periods have mean ``3600 / neighbour_rate_per_h`` s, noisy ones ``neighbour_duration_s``;
    while noisy, the neighbour computes on ``neighbour_cpu_share`` of the invoker's cores. Each invoker has its own
    random stream keyed by the seed and its index, so episodes do not depend on the workload. ``episodes`` lists
    ``(invoker, start_s, end_s)`` of every episode that has ended."""

    def __init__(self, config: SimConfig, seed: int) -> None:
        self.on = config.neighbour_rate_per_h > 0 and config.neighbour_cpu_share > 0
        self.quiet_s = 3600.0 / config.neighbour_rate_per_h if self.on else math.inf
        self.noisy_s = config.neighbour_duration_s
        self.cpu = config.neighbour_cpu_share * config.invoker_cpu
        self.invokers = config.invokers
        self.seed = seed
        self._rngs: dict[int, np.random.Generator] = {}
        self._started: dict[int, float] = {}
        self.episodes: list[tuple[int, float, float]] = []

    def _rng(self, invoker: int) -> np.random.Generator:
        if invoker not in self._rngs:
            seq = np.random.SeedSequence(self.seed, spawn_key=(0x5EED, invoker))
            self._rngs[invoker] = np.random.Generator(np.random.PCG64(seq))
        return self._rngs[invoker]

    def first_starts(self) -> list[tuple[int, float]]:
        """(invoker, time of its first episode) for every invoker; empty when there are no neighbours."""
        if not self.on:
            return []
        return [(i, float(self._rng(i).exponential(self.quiet_s))) for i in range(self.invokers)]

    def step(self, invoker: int, starts: bool, t: float) -> tuple[float, float, bool]:
        """An episode starts (or ends) on ``invoker`` at ``t``: (CPU demand change, time of the next change,
        whether that next change is a start)."""
        rng = self._rng(invoker)
        if starts:
            self._started[invoker] = t
            return self.cpu, t + float(rng.exponential(self.noisy_s)), False
        self.episodes.append((invoker, self._started.pop(invoker, t), t))
        return -self.cpu, t + float(rng.exponential(self.quiet_s)), True


class UtilisationLog:
    """The cluster's computing load over time: vCPU of running invocations (limit x compute share) integrated per
    ``bucket_s`` and divided by the cluster's cores, i.e. the mean CPU utilisation of each minute. The engine
    updates ``acc``/``last``/``load`` inline while ``t <= end`` (the current bucket) and calls :meth:`add`
    otherwise."""

    __slots__ = ("acc", "bucket_s", "buckets", "capacity", "end", "last", "load")

    def __init__(self, capacity_cpu: float, bucket_s: float = 60.0) -> None:
        self.capacity = float(capacity_cpu)
        self.bucket_s = float(bucket_s)
        self.load = 0.0
        self.last = 0.0
        self.acc = 0.0  # integral of the load over the current bucket so far
        self.end = self.bucket_s  # end of the current bucket
        self.buckets: list[float] = []  # integrals of the buckets that are over

    def add(self, t: float, delta: float) -> None:
        """The load changes by ``delta`` vCPU at ``t`` (times never decrease)."""
        while t > self.end:
            self.buckets.append(self.acc + self.load * (self.end - self.last))
            self.acc = 0.0
            self.last = self.end
            self.end += self.bucket_s
        self.acc += self.load * (t - self.last)
        self.last = t
        self.load += delta

    def per_bucket(self) -> np.ndarray:
        """Mean utilisation (0..1, above 1 when overcommitted) of every bucket that has started."""
        current = self.acc + self.load * (self.end - self.last) if self.load > 0 else self.acc
        return np.asarray([*self.buckets, current]) / (self.bucket_s * self.capacity)
