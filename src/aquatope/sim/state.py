"""Mutable per-function, per-workflow and per-request state of the simulator (plain slotted classes, for speed)."""

from __future__ import annotations

import zlib
from collections import deque
from typing import Any

import numpy as np

from aquatope.perf import PerfModel
from aquatope.platform import PoolTarget, RequestRecord
from aquatope.resources import ResourceConfig
from aquatope.sim.contention import cpu_share
from aquatope.workflow import Workflow

SAMPLE_BATCH = 4096
"""Latency and cold-start samples are drawn from the performance model this many at a time."""


def function_rngs(seed: int, name: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent streams (latency, cold start) for a function, keyed by its name, so results do not depend
    on the order in which functions were deployed."""
    return _stream(seed, name, 0), _stream(seed, name, 1)


def _stream(seed: int, name: str, which: int) -> np.random.Generator:
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key, which))))


class FnState:
    """One deployed function: its configuration, pool target, containers and counters.

    Sources of uncertainty that belong to the function: ``cls`` (0 CPU-bound, 1 memory-bound: which contention
    slope applies), ``out_delay_s`` (transfer delay on its outgoing edges), ``steps`` (scheduled step changes of
    its execution time, ``(at_s, factor)`` sorted by time) and heavy tails (``tail_prob``, ``tail_alpha``: drawn
    from a stream of their own, so the base latencies are the same draws with or without them).
    """

    __slots__ = (
        "background",
        "cls",
        "cold_buf",
        "cold_i",
        "cold_rng",
        "config",
        "cpu_frac",
        "fid",
        "idle",
        "in_flight",
        "instant",
        "keep_alive_s",
        "lat_buf",
        "lat_cfg",
        "lat_i",
        "lat_rng",
        "live",
        "min_warm",
        "n_starting",
        "name",
        "obs_busy",
        "obs_cold",
        "obs_done",
        "obs_inflight",
        "obs_inv",
        "obs_peak",
        "obs_t",
        "out_delay_s",
        "perf",
        "steps",
        "tail_alpha",
        "tail_prob",
        "tail_rng",
        "total_cold",
        "total_failed",
        "total_inv",
        "waiting",
    )

    def __init__(
        self,
        fid: int,
        name: str,
        perf: PerfModel,
        config: ResourceConfig,
        seed: int,
        pool: PoolTarget,
        *,
        cls: int = 0,
        out_delay_s: float = 0.0,
        steps: tuple[tuple[float, float], ...] = (),
        tail: tuple[float, float] = (0.0, 2.0),
        background: bool = False,
    ):
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
        self.tail_rng = _stream(seed, name, 2)
        self.tail_prob, self.tail_alpha = float(tail[0]), float(tail[1])
        self.lat_cfg: ResourceConfig | None = None
        self.lat_buf: list[float] = []
        self.lat_i = 0
        self.cpu_frac = 1.0
        self.cold_buf: list[float] = []
        self.cold_i = 0
        self.cls = cls
        self.out_delay_s = out_delay_s
        self.steps = steps
        self.background = background
        self.instant = False  # clairvoyant just-in-time containers (Simulator.set_instant)
        self.obs_inv = self.obs_cold = self.obs_peak = self.obs_done = 0
        self.obs_inflight = self.obs_busy = self.obs_t = 0.0
        self.total_inv = self.total_cold = self.total_failed = 0

    def next_latency_ms(self, config: ResourceConfig) -> float:
        """The next warm execution time (ms; NaN = out of memory) from this function's latency stream; after the
        call ``cpu_frac`` is the compute share at ``config``."""
        same = config is self.lat_cfg
        if not same or self.lat_i >= len(self.lat_buf):
            if not same and config != self.lat_cfg:
                self.cpu_frac = cpu_share(self.perf, config)
            self.lat_cfg = config
            batch = self.perf.sample_latency_ms(config, SAMPLE_BATCH, self.lat_rng)
            if self.tail_prob > 0.0:
                u = self.tail_rng.random((2, SAMPLE_BATCH))
                pareto = (1.0 - u[1]) ** (-1.0 / self.tail_alpha)  # Pareto(alpha) with scale 1: >= 1
                batch = np.where(u[0] < self.tail_prob, batch * pareto, batch)
            self.lat_buf = batch.tolist()
            self.lat_i = 0
        value = self.lat_buf[self.lat_i]
        self.lat_i += 1
        return value

    def step_factor(self, t: float) -> float:
        """Product of the scheduled step changes in force at ``t``."""
        factor = 1.0
        for at_s, f in self.steps:
            if at_s > t:
                break
            factor *= f
        return factor

    def track_inflight(self, t: float) -> None:
        """Accumulate invocation-seconds in progress up to ``t`` (call before ``in_flight`` changes)."""
        if t > self.obs_t:
            self.obs_inflight += self.in_flight * (t - self.obs_t)
            self.obs_t = t

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
        "background",
        "delay_s",
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
        "records",
        "single",
        "sinks",
        "sources",
        "stage_names",
        "succ",
        "wi",
        "workflow",
    )

    def __init__(
        self,
        wi: int,
        workflow: Workflow,
        fids: dict[str, int],
        delay_s: dict[str, float] | None = None,
        background: bool = False,
    ) -> None:
        self.wi = wi
        self.background = background
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
        delays = [float((delay_s or {}).get(s.function, 0.0)) for s in stages]
        self.delay_s: list[float] | None = delays if any(d > 0 for d in delays) else None
        """Per stage, the transfer delay on its outgoing edges (s); None when every edge is free."""
        self.log_id: list[int] = []
        self.log_arrival: list[float] = []
        self.log_end: list[float] = []
        self.log_cold: list[int] = []
        self.log_failed: list[bool] = []
        self.log_stages: list[list[float]] = []
        self.records: list[RequestRecord] = []
        """The log's entries already built as RequestRecords (the log is append-only: built once each)."""


class ReqState:
    """A multi-stage workflow request in flight."""

    __slots__ = (
        "arrival",
        "cold",
        "copies_left",
        "done",
        "inputs_at",
        "remaining",
        "rid",
        "sinks_left",
        "stage_ready",
        "stage_span",
    )

    def __init__(self, rid: int, arrival: float, wf: WfState) -> None:
        self.rid = rid
        self.arrival = arrival
        self.remaining = [[n] * f for n, f in zip(wf.n_preds, wf.fanout, strict=True)]
        self.copies_left = list(wf.fanout)
        self.stage_ready = [float("inf")] * len(wf.fanout)
        self.stage_span = [0.0] * len(wf.fanout)
        """Per stage, the longest time one copy took from its inputs being there to its end (s)."""
        self.sinks_left = len(wf.sinks)
        self.cold = 0
        self.done = False
        self.inputs_at = [[0.0] * f for f in wf.fanout] if wf.delay_s is not None else None
        """With transfer delays: per stage copy, when its last input has arrived (s)."""
