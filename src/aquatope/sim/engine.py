"""The discrete-event FaaS simulator: a :class:`~aquatope.platform.Platform` over simulated time.

Event core: a heap keyed by ``(time, priority, sequence)``; at equal times container-ready (0) and
invocation-end (1) events come before request arrivals and delayed stage starts (2), so a container that frees
at the instant a request arrives serves it warm. Identical inputs and seed give identical results.

Containers go starting -> idle <-> busy -> evicted and run one invocation at a time.

**Dispatch rule.** A stage invocation takes the function's most recently used idle container if there is one.
Otherwise it joins the function's FIFO queue and, unless enough containers are already starting to give every
queued invocation one, a new container is started (a cold start). Whichever becomes available first (a busy
container finishing, or a starting one becoming ready) serves the head of the queue. An invocation *waited on a
cold start* when the container that served it became ready after the invocation arrived.

**Keep-alive.** An idle container is evicted once idle for ``keep_alive_s`` (its end time is exactly then),
unless that would leave the function fewer than ``min_warm`` live containers. A container that goes away for
another reason (killed by an out-of-memory failure, retired after ``set_resources``) is replaced at once when the
function would otherwise fall below ``min_warm``; containers evicted to make room under cluster pressure are not. Evictions are applied lazily,
whenever the function's state is looked at, with the exact expiry time; the results equal eager eviction.

**Cluster.** Containers are placed first fit on invokers. When none has room, idle containers of other functions
are evicted least recently used first; if there is still no room the start waits in a FIFO cluster queue (its
invocation's wait counts in its latency) and is retried whenever a container goes away or goes idle.

**Failures.** An invocation whose sampled latency is NaN ran out of memory: the container is killed at once and
the request fails (it counts as a QoS violation). Copies still running for a failed request finish but are ignored.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import ContainerRecord, FunctionObservation, PoolTarget, RequestRecord
from aquatope.resources import ResourceConfig
from aquatope.sim.cluster import Cluster
from aquatope.sim.config import SimConfig
from aquatope.sim.containers import ContainerTable
from aquatope.sim.flow import STAGE, RequestFlow
from aquatope.sim.state import FnState, WfState
from aquatope.workflow import Workflow

READY, END = 0, 1
INF = math.inf


class Simulator(RequestFlow):
    """Simulated FaaS platform. See the module docstring for the semantics."""

    def __init__(
        self,
        config: SimConfig | None = None,
        seed: int = 0,
        default_pool: PoolTarget | None = None,
        record_events: bool = False,
    ):
        self.config = config or SimConfig()
        self.seed = int(seed)
        self.pricing = self.config.prices
        self.default_pool = default_pool or PoolTarget(0, 600.0)
        self.cluster = Cluster(self.config.invokers, self.config.invoker_cpu, self.config.invoker_memory_mb)
        self.c = ContainerTable()
        self._now = 0.0
        self._heap: list[tuple[Any, ...]] = []
        self._seq = 0
        self._fns: list[FnState] = []
        self._fn_index: dict[str, int] = {}
        self._wfs: list[WfState] = []
        self._wf_index: dict[str, int] = {}
        self._arr_t: list[float] = []
        self._arr_w: list[int] = []
        self._arr_ptr = 0
        self._pending: list[tuple[np.ndarray, int]] = []
        self._next_rid = 0
        self._cluster_queue: deque[int] = deque()
        self._draining = False
        self._transfer_s = self.config.transfer_ms / 1000.0
        self._interference = self.config.interference
        self.events: list[tuple[float, str, str, int, int]] | None = [] if record_events else None
        """With ``record_events``: (time_s, what, function or workflow, container id, request id) in event order."""

    # ----------------------------------------------------------------- Platform API
    @property
    def now_s(self) -> float:
        return self._now

    def deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None) -> None:
        if workflow.name in self._wf_index:
            raise InputError(f"workflow {workflow.name!r} is already deployed", field="workflow")
        configs = dict(configs or {})
        for name in workflow.function_names:
            spec = workflow.functions[name]
            if name in self._fn_index:
                raise InputError(f"function {name!r} is already deployed by another workflow", field=name)
            cfg = configs.get(name, spec.resources)
            if not self.cluster.fits_anywhere(cfg):
                raise InputError(f"{cfg} does not fit on an invoker of this cluster", field=f"configs.{name}")
            self._fn_index[name] = len(self._fns)
            self._fns.append(FnState(len(self._fns), name, spec.perf, cfg, self.seed, self.default_pool))
        self._wf_index[workflow.name] = len(self._wfs)
        self._wfs.append(WfState(len(self._wfs), workflow, self._fn_index))

    def set_resources(self, function: str, config: ResourceConfig) -> None:
        fn = self._fn(function)
        if not self.cluster.fits_anywhere(config):
            raise InputError(f"{config} does not fit on an invoker of this cluster", field=function)
        fn.config = config
        fn.cold_buf, fn.cold_i = [], 0
        for cid in list(fn.idle):
            if self.c.config[cid] != config:
                fn.idle.remove(cid)
                self._evict(cid, self._now)

    def set_pool(self, function: str, target: PoolTarget) -> None:
        fn = self._fn(function)
        self._expire(fn, self._now)
        fn.min_warm, fn.keep_alive_s = target.min_warm, float(target.keep_alive_s)
        self._expire(fn, self._now)
        while fn.live < fn.min_warm:
            self._start_container(fn, self._now)

    def submit(self, workflow: str, arrivals_s: np.ndarray) -> None:
        if workflow not in self._wf_index:
            raise InputError(f"workflow {workflow!r} is not deployed; deployed: {sorted(self._wf_index)}")
        times = np.asarray(arrivals_s, dtype=float).ravel()
        if times.size and (not np.isfinite(times).all() or times.min() < self._now):
            raise InputError(f"arrival times must be finite and >= now ({self._now} s)", field="arrivals_s")
        self._pending.append((times, self._wf_index[workflow]))

    def _merge_pending(self) -> None:
        """Merge submitted arrivals into the sorted arrival stream (once per batch of submits)."""
        rest_t = np.asarray(self._arr_t[self._arr_ptr :], dtype=float)
        rest_w = np.asarray(self._arr_w[self._arr_ptr :], dtype=np.int64)
        all_t = np.concatenate([rest_t, *(t for t, _ in self._pending)])
        all_w = np.concatenate([rest_w, *(np.full(t.size, wi, dtype=np.int64) for t, wi in self._pending)])
        order = np.argsort(all_t, kind="stable")
        self._arr_t, self._arr_w, self._arr_ptr = all_t[order].tolist(), all_w[order].tolist(), 0
        self._pending = []

    def advance(self, until_s: float) -> None:
        """Process every event up to and including ``until_s``; ``math.inf`` runs until nothing is left."""
        if until_s < self._now:
            raise ValueError(f"cannot go back in time: now {self._now}, asked {until_s}")
        self._run(until_s)
        if until_s != INF:
            self._now = until_s

    def observe(self) -> dict[str, FunctionObservation]:
        out = {}
        for fn in self._fns:
            out[fn.name] = FunctionObservation(fn.obs_inv, max(fn.obs_peak, fn.in_flight), fn.obs_cold)
            fn.obs_inv = fn.obs_cold = 0
            fn.obs_peak = fn.in_flight
        return out

    def request_records(self) -> list[RequestRecord]:
        out = []
        for wf in self._wfs:
            for i, rid in enumerate(wf.log_id):
                arrival, end = wf.log_arrival[i], wf.log_end[i]
                stages = dict(zip(wf.stage_names, wf.log_stages[i], strict=True)) if wf.log_stages else {}
                if wf.single:
                    stages = {wf.stage_names[0]: (end - arrival) * 1000.0}
                out.append(
                    RequestRecord(
                        rid, wf.name, arrival, end, (end - arrival) * 1000.0, stages, wf.log_cold[i], wf.log_failed[i]
                    )
                )
        out.sort(key=lambda r: r.request_id)
        return out

    def container_records(self) -> list[ContainerRecord]:
        self.expire_all()
        return self.c.records([fn.name for fn in self._fns], self._now)

    # ----------------------------------------------------------------- extras used by runners and metrics
    @property
    def functions(self) -> list[FnState]:
        return self._fns

    @property
    def workflows(self) -> list[WfState]:
        return self._wfs

    def pending(self) -> bool:
        """True while arrivals or events remain."""
        return bool(self._heap) or bool(self._pending) or self._arr_ptr < len(self._arr_t)

    def expire_all(self) -> None:
        """Apply keep-alive evictions that are due now, for every function."""
        for fn in self._fns:
            self._expire(fn, self._now)

    # ----------------------------------------------------------------- event loop
    def _run(self, until: float) -> None:
        if self._pending:
            self._merge_pending()
        heap, arr_t, arr_w = self._heap, self._arr_t, self._arr_w
        n_arr = len(arr_t)
        ptr = self._arr_ptr
        pop = heapq.heappop
        end_event, ready_event, start_request = self._on_end, self._on_ready, self._start_request
        while True:
            ta = arr_t[ptr] if ptr < n_arr else INF
            if heap:
                top = heap[0]
                t = top[0]
                if t < ta or (t == ta and top[1] < STAGE + 1):
                    if t > until:
                        break
                    pop(heap)
                    self._now = t
                    kind = top[3]
                    if kind == END:
                        end_event(top[4], top[5], top[6], t)
                    elif kind == READY:
                        ready_event(top[4], t)
                    else:
                        self._invoke_stage(top[5], top[6], t)
                    continue
            if ta > until or ta == INF:
                break
            ptr += 1
            self._arr_ptr = ptr
            self._now = ta
            start_request(arr_w[ptr - 1], ta)
        self._arr_ptr = ptr

    def _push(self, t: float, prio: int, kind: int, cid: int, a: Any, b: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, prio, self._seq, kind, cid, a, b))

    def _fn(self, name: str) -> FnState:
        if name not in self._fn_index:
            raise InputError(f"unknown function {name!r}; deployed: {sorted(self._fn_index)}")
        return self._fns[self._fn_index[name]]

    def _log(self, t: float, what: str, name: str, cid: int, inv: tuple[Any, ...] | None) -> None:
        assert self.events is not None
        rid = -1 if inv is None else (inv[1] if isinstance(inv[1], int) else inv[1].rid)
        self.events.append((t, what, name, cid, rid))

    # ----------------------------------------------------------------- invocations and containers
    def _invoke(self, fn: FnState, inv: tuple[Any, ...], t: float) -> None:
        fn.total_inv += 1
        fn.obs_inv += 1
        fn.in_flight += 1
        if fn.in_flight > fn.obs_peak:
            fn.obs_peak = fn.in_flight
        idle = fn.idle
        if idle and self.c.idle_since[idle[0]] + fn.keep_alive_s < t:
            self._expire(fn, t)
        if idle:
            self._serve(fn, idle.pop(), inv, t)
            return
        fn.waiting.append(inv)
        if len(fn.waiting) > fn.n_starting:
            self._start_container(fn, t)

    def _serve(self, fn: FnState, cid: int, inv: tuple[Any, ...], t: float) -> None:
        c = self.c
        cold = 1 if c.ready[cid] > inv[4] else 0
        if cold:
            fn.total_cold += 1
            fn.obs_cold += 1
        cfg = c.config[cid]
        lat = fn.next_latency_ms(cfg)
        if self.events is not None:
            self._log(t, "run-cold" if cold else "run-warm", fn.name, cid, inv)
        if lat != lat:  # NaN: out of memory; the container is killed
            if self.events is not None:
                self._log(t, "out-of-memory", fn.name, cid, inv)
            fn.total_failed += 1
            fn.in_flight -= 1
            c.invocations[cid] += 1
            self._evict(cid, t)
            self._complete(inv, t, cold, failed=True)
            if len(fn.waiting) > fn.n_starting:
                self._start_container(fn, t)
            return
        if self._interference > 0.0:
            inv_id = c.invoker[cid]
            self.cluster.busy_cpu[inv_id] += cfg.cpu
            lat *= 1.0 + self._interference * min(1.0, self.cluster.utilization(inv_id))
        c.busy_since[cid] = t
        c.invocations[cid] += 1
        self._seq += 1
        heapq.heappush(self._heap, (t + lat / 1000.0, END, self._seq, END, cid, inv, cold))

    def _on_end(self, cid: int, inv: tuple[Any, ...], cold: int, t: float) -> None:
        c = self.c
        fn = self._fns[c.fid[cid]]
        c.busy[cid] += t - c.busy_since[cid]
        c.busy_since[cid] = math.nan
        if self._interference > 0.0:
            self.cluster.busy_cpu[c.invoker[cid]] -= c.config[cid].cpu
        fn.in_flight -= 1
        if self.events is not None:
            self._log(t, "end", fn.name, cid, inv)
        self._complete(inv, t, cold, failed=False)
        self._release(fn, cid, t)

    def _on_ready(self, cid: int, t: float) -> None:
        fn = self._fns[self.c.fid[cid]]
        fn.n_starting -= 1
        if self.events is not None:
            self._log(t, "ready", fn.name, cid, None)
        self._release(fn, cid, t)

    def _release(self, fn: FnState, cid: int, t: float) -> None:
        """A container became free (ready or done): serve the queue, retire it, or make it idle."""
        if fn.waiting:
            self._serve(fn, cid, fn.waiting.popleft(), t)
            if fn.n_starting > len(fn.waiting) and self._cluster_queue:
                self._cancel_queued_start(fn)
        elif self.c.config[cid] != fn.config:
            self._evict(cid, t)
        else:
            self.c.idle_since[cid] = t
            fn.idle.append(cid)
            if self._cluster_queue:
                self._drain_cluster_queue(t)

    def _start_container(self, fn: FnState, t: float) -> None:
        fn.n_starting += 1
        fn.live += 1
        invoker = self.cluster.place(fn.config)
        if invoker < 0:
            invoker = self._make_room(fn, t)
        if invoker < 0:
            self._cluster_queue.append(fn.fid)
            return
        self._launch(fn, invoker, t)

    def _launch(self, fn: FnState, invoker: int, t: float) -> None:
        cold_s = fn.next_cold_start_ms() / 1000.0
        cid = self.c.add(fn.fid, fn.config, invoker, t, t + cold_s)
        if self.events is not None:
            self._log(t, "container-start", fn.name, cid, None)
        self._push(t + cold_s, READY, READY, cid, None, None)

    def _make_room(self, fn: FnState, t: float) -> int:
        """Evict idle containers of other functions, least recently used first, until ``fn`` fits."""
        self.expire_all()
        invoker = self.cluster.place(fn.config)
        while invoker < 0:
            victim = self._lru_idle(exclude=fn.fid)
            if victim is None:
                return -1
            self._fns[self.c.fid[victim]].idle.popleft()
            self._evict(victim, t, drain=False)
            invoker = self.cluster.place(fn.config)
        return invoker

    def _lru_idle(self, exclude: int) -> int | None:
        best, best_t = None, INF
        for other in self._fns:
            if other.fid != exclude and other.idle:
                cid = other.idle[0]
                if self.c.idle_since[cid] < best_t:
                    best, best_t = cid, self.c.idle_since[cid]
        return best

    def _expire(self, fn: FnState, t: float) -> None:
        """Evict idle containers of ``fn`` whose keep-alive ran out before ``t`` (oldest first, down to min_warm)."""
        idle, since, ka = fn.idle, self.c.idle_since, fn.keep_alive_s
        while idle and fn.live > fn.min_warm and since[idle[0]] + ka < t:
            cid = idle.popleft()
            self._evict(cid, since[cid] + ka)

    def _evict(self, cid: int, t: float, drain: bool = True) -> None:
        fn = self._fns[self.c.fid[cid]]
        self.c.end[cid] = t
        if self.events is not None:
            self._log(t, "evict", fn.name, cid, None)
        self.cluster.release(self.c.invoker[cid], self.c.config[cid])
        fn.live -= 1
        if drain and self._cluster_queue:
            self._drain_cluster_queue(max(t, self._now))
        if drain and fn.live < fn.min_warm:  # keep the pool's floor: replace a killed or retired container
            self._start_container(fn, max(t, self._now))

    def _cancel_queued_start(self, fn: FnState) -> None:
        """A start waiting for room is no longer needed (its invocation was served by a freed container)."""
        try:
            self._cluster_queue.remove(fn.fid)
        except ValueError:
            return
        fn.n_starting -= 1
        fn.live -= 1

    def _drain_cluster_queue(self, t: float) -> None:
        if self._draining:
            return
        self._draining = True
        try:
            queue = self._cluster_queue
            while queue:
                fn = self._fns[queue[0]]
                invoker = self.cluster.place(fn.config)
                if invoker < 0:
                    invoker = self._make_room(fn, t)
                if invoker < 0:
                    break
                queue.popleft()
                self._launch(fn, invoker, t)
        finally:
            self._draining = False
