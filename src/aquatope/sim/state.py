"""Mutable per-function, per-workflow and per-request state of the simulator (plain slotted classes, for speed)."""

from __future__ import annotations

import zlib
from collections import deque
from typing import Any

import numpy as np

from aquatope.perf import PerfModel
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.workflow import Workflow

SAMPLE_BATCH = 4096
"""Latency and cold-start samples are drawn from the performance model this many at a time."""


def function_rngs(seed: int, name: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent streams (latency, cold start) for a function, keyed by its name, so results do not depend
    on the order in which functions were deployed."""
    key = zlib.crc32(name.encode("utf-8"))
    lat = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key, 0))))
    cold = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key, 1))))
    return lat, cold


class FnState:
    """One deployed function: its configuration, pool target, containers and counters."""

    __slots__ = (
        "cold_buf",
        "cold_i",
        "cold_rng",
        "config",
        "fid",
        "idle",
        "in_flight",
        "keep_alive_s",
        "lat_buf",
        "lat_cfg",
        "lat_i",
        "lat_rng",
        "live",
        "min_warm",
        "n_starting",
        "name",
        "obs_cold",
        "obs_inv",
        "obs_peak",
        "perf",
        "total_cold",
        "total_failed",
        "total_inv",
        "waiting",
    )

    def __init__(self, fid: int, name: str, perf: PerfModel, config: ResourceConfig, seed: int, pool: PoolTarget):
        self.fid = fid
        self.name = name
        self.perf = perf
        self.config = config
        self.min_warm = pool.min_warm
        self.keep_alive_s = float(pool.keep_alive_s)
        self.idle: deque[int] = deque()  # idle container ids, oldest first; the right end is the most recently used
        self.waiting: deque[tuple[Any, ...]] = deque()  # invocations waiting for a container, FIFO
        self.n_starting = 0  # containers starting (or waiting for room in the cluster)
        self.live = 0  # containers alive: starting, idle or busy
        self.in_flight = 0  # invocations running or waiting
        self.lat_rng, self.cold_rng = function_rngs(seed, name)
        self.lat_cfg: ResourceConfig | None = None
        self.lat_buf: list[float] = []
        self.lat_i = 0
        self.cold_buf: list[float] = []
        self.cold_i = 0
        self.obs_inv = self.obs_cold = self.obs_peak = 0
        self.total_inv = self.total_cold = self.total_failed = 0

    def next_latency_ms(self, config: ResourceConfig) -> float:
        """The next warm execution time (ms; NaN = out of memory) from this function's latency stream."""
        if config != self.lat_cfg or self.lat_i >= len(self.lat_buf):
            if config != self.lat_cfg:
                self.lat_cfg = config
            self.lat_buf = self.perf.sample_latency_ms(config, SAMPLE_BATCH, self.lat_rng).tolist()
            self.lat_i = 0
        value = self.lat_buf[self.lat_i]
        self.lat_i += 1
        return value

    def next_cold_start_ms(self) -> float:
        """The next cold-start time (ms) at the current configuration."""
        if self.cold_i >= len(self.cold_buf):
            self.cold_buf = self.perf.sample_cold_start_ms(self.config, 256, self.cold_rng).tolist()
            self.cold_i = 0
        value = self.cold_buf[self.cold_i]
        self.cold_i += 1
        return value


class WfState:
    """One deployed workflow, compiled for the event loop, with its request log (columns)."""

    __slots__ = (
        "elementwise",
        "fanout",
        "fids",
        "log_arrival",
        "log_cold",
        "log_end",
        "log_failed",
        "log_id",
        "log_stages",
        "n_preds",
        "name",
        "single",
        "sinks",
        "sources",
        "stage_names",
        "succ",
        "wi",
        "workflow",
    )

    def __init__(self, wi: int, workflow: Workflow, fids: dict[str, int]) -> None:
        self.wi = wi
        self.name = workflow.name
        self.workflow = workflow
        stages = workflow.stages
        index = {s.name: i for i, s in enumerate(stages)}
        self.stage_names = [s.name for s in stages]
        self.fids = [fids[s.function] for s in stages]
        self.fanout = [s.fanout for s in stages]
        self.n_preds = [len(s.after) for s in stages]
        self.succ: list[list[tuple[int, bool]]] = [[] for _ in stages]
        for s in stages:
            for p in s.after:
                self.succ[index[p]].append((index[s.name], workflow.elementwise(p, s.name)))
        self.elementwise = [[e for _, e in row] for row in self.succ]
        self.sources = [index[n] for n in workflow.sources()]
        self.sinks = {index[n] for n in workflow.sinks()}
        self.single = len(stages) == 1 and stages[0].fanout == 1
        self.log_id: list[int] = []
        self.log_arrival: list[float] = []
        self.log_end: list[float] = []
        self.log_cold: list[int] = []
        self.log_failed: list[bool] = []
        self.log_stages: list[list[float]] = []


class ReqState:
    """A multi-stage workflow request in flight."""

    __slots__ = ("arrival", "cold", "copies_left", "done", "remaining", "rid", "sinks_left", "stage_end", "stage_ready")

    def __init__(self, rid: int, arrival: float, wf: WfState) -> None:
        self.rid = rid
        self.arrival = arrival
        self.remaining = [[n] * f for n, f in zip(wf.n_preds, wf.fanout, strict=True)]
        self.copies_left = list(wf.fanout)
        self.stage_ready = [float("inf")] * len(wf.fanout)
        self.stage_end = [0.0] * len(wf.fanout)
        self.sinks_left = len(wf.sinks)
        self.cold = 0
        self.done = False
