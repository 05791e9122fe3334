"""The discrete-event FaaS simulator: a :class:`~aquatope.platform.Platform` over simulated time.

Event core: a heap keyed by ``(time, priority, sequence)``; at equal times container-ready (0) and invocation-end
(1) events come before request arrivals and delayed stage starts (2), so a container that frees at the instant a
request arrives serves it warm. Identical inputs and seed give identical results.

Containers go starting -> idle <-> busy -> evicted and run one invocation at a time.

**Dispatch rule.** A stage invocation takes the function's most recently used idle container if there is one.
Otherwise it joins the function's FIFO queue and, unless enough containers are already starting to give every
queued invocation one, a new container is started (a cold start). Whichever becomes available first (a busy
container finishing, or a starting one becoming ready) serves the head of the queue. An invocation *waited on a
cold start* when the container that served it became ready after the invocation arrived.

**Keep-alive.** An idle container is evicted once idle for ``keep_alive_s`` (its end time is exactly then),
unless that would leave the function fewer than ``min_warm`` live containers; a container kept by the floor (or by
a longer keep-alive) goes when a new pool target stops keeping it, at that moment, never retroactively. A container that goes away for
another reason (killed by an out-of-memory failure, retired after ``set_resources``) is replaced at once when the
function would otherwise fall below ``min_warm``; containers evicted to make room under cluster pressure are not.
Evictions are applied lazily, whenever the function's state is looked at, with the exact expiry time; the results
equal eager eviction.

**Cluster.** Containers are placed first fit on invokers (:class:`~aquatope.sim.cluster.Cluster`). When none has
room, idle containers of other functions are evicted least recently used first; if there is still no room the
start waits in a FIFO cluster queue (its invocation's wait counts in its latency) and is retried whenever a
container goes away or goes idle.

**Uncertainty** (each a :class:`~aquatope.sim.config.SimConfig` parameter, off by default): interference between
invocations computing on one invoker and noisy neighbours (:mod:`aquatope.sim.contention`), cold-start storms,
transfer delays on DAG edges (:mod:`aquatope.sim.flow`), scheduled step slowdowns and a diurnal factor on execution
times, and heavy tails. An invocation's execution time is its perf model's sample times the drift factors in
force when it starts; under contention its compute share then stretches with its invoker's load while it runs.

**Clairvoyant just-in-time containers** (``set_instant``, a reference, not a policy: it needs the future). An
invocation of such a function that finds no idle container gets one that started exactly a cold start earlier, so
it never waits; the container's start is not charged (``start_s = ready_s =`` the invocation's time) and it goes as
soon as it is idle (keep-alive 0, no floor). Its cost is its busy time: the floor every real pool pays.

**Tenants.** ``deploy_background`` deploys other tenants' workflows on the same invokers: their containers are
placed and evicted like ours and their invocations compute on the same cores, but, as on a real platform, they are
invisible through the Platform API (``observe``, records); :meth:`tenant_figures` summarises them.

**Failures.** An invocation whose sampled latency is NaN ran out of memory: the container is killed at once and
the request fails (it counts as a QoS violation). Copies still running for a failed request finish but are ignored.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.perf.base import memory_used_mb
from aquatope.platform import ContainerRecord, FunctionObservation, PoolTarget, RequestRecord
from aquatope.resources import ResourceConfig
from aquatope.sim.cluster import Cluster
from aquatope.sim.config import SimConfig
from aquatope.sim.containers import ContainerTable
from aquatope.sim.contention import MEMORY, Contention
from aquatope.sim.execution import CPU_DONE, END, INF, NEIGHBOUR, READY, InvocationExecution
from aquatope.sim.flow import STAGE, RequestFlow
from aquatope.sim.state import FnState, WfState
from aquatope.sim.uncertainty import NeighbourEpisodes, UtilisationLog, out_delays_s
from aquatope.workflow import Workflow


class Simulator(InvocationExecution, RequestFlow):
    """Simulated FaaS platform. See the module docstring for the semantics."""

    def __init__(
        self,
        config: SimConfig | None = None,
        seed: int = 0,
        default_pool: PoolTarget | None = None,
        record_events: bool = False,
        track_utilisation: bool = False,
    ):
        self.config = cfg = config or SimConfig()
        self.seed = int(seed)
        self.pricing = cfg.prices
        self.default_pool = default_pool or PoolTarget(0, 600.0)
        self.cluster = Cluster(cfg.invokers, cfg.invoker_cpu, cfg.invoker_memory_mb, cfg.cpu_overcommit, cfg.placement)
        self.c = ContainerTable()
        self._now = 0.0
        self._heap: list[tuple[Any, ...]] = []
        self._seq = 0
        self._daemons = 0  # noisy-neighbour events in the heap: they never keep a run going on their own
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
        self._storm = cfg.cold_start_storm
        self._invoker_cpu = float(cfg.invoker_cpu)
        self._drift = cfg.drift
        self._cont = (
            Contention(cfg.invokers, cfg.invoker_cpu, cfg.interference, cfg.interference_memory)
            if cfg.contention
            else None
        )
        self._util = UtilisationLog(cfg.invokers * cfg.invoker_cpu) if track_utilisation else None
        self.neighbours = NeighbourEpisodes(cfg, self.seed)
        for i, when in self.neighbours.first_starts():
            self._push_daemon(when, i, True)
        self.events: list[tuple[float, str, str, int, int]] | None = [] if record_events else None
        """With ``record_events``: (time_s, what, function or workflow, container id, request id) in event order."""

    # ----------------------------------------------------------------- Platform API
    @property
    def now_s(self) -> float:
        return self._now

    def deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None) -> None:
        self._deploy(workflow, configs, background=False)

    def deploy_background(
        self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None, pool: PoolTarget | None = None
    ) -> None:
        """Deploy another tenant's workflow with its own pool target (default: the platform's): it shares the
        invokers but is invisible through the Platform API."""
        self._deploy(workflow, configs, background=True)
        if pool is not None:
            for name in workflow.function_names:
                fn = self._fns[self._fn_index[name]]
                fn.min_warm, fn.keep_alive_s = pool.min_warm, float(pool.keep_alive_s)

    def _deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None, background: bool) -> None:
        if workflow.name in self._wf_index:
            raise InputError(f"workflow {workflow.name!r} is already deployed", field="workflow")
        configs = dict(configs or {})
        cfg = self.config
        steps: dict[str, list[tuple[float, float]]] = {}
        for s in cfg.slowdowns:
            steps.setdefault(s.function, []).append((s.at_s, s.factor))
        delays = out_delays_s(workflow, cfg)
        for name in workflow.function_names:
            spec = workflow.functions[name]
            if name in self._fn_index:
                raise InputError(f"function {name!r} is already deployed by another workflow", field=name)
            conf = configs.get(name, spec.resources)
            if not self.cluster.fits_anywhere(conf):
                raise InputError(f"{conf} does not fit on an invoker of this cluster", field=f"configs.{name}")
            self._fn_index[name] = len(self._fns)
            self._fns.append(
                FnState(
                    len(self._fns),
                    name,
                    spec.perf,
                    conf,
                    self.seed,
                    self.default_pool,
                    cls=MEMORY if spec.bound == "memory" else 0,
                    out_delay_s=delays[name],
                    steps=tuple(sorted(steps.get(name, []))),
                    tail=(cfg.heavy_tail_prob, cfg.heavy_tail_alpha),
                    background=background,
                )
            )
        self._wf_index[workflow.name] = len(self._wfs)
        self._wfs.append(WfState(len(self._wfs), workflow, self._fn_index, delays, background))

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

    def set_instant(self, function: str) -> None:
        """Serve ``function`` with clairvoyant just-in-time containers from now on (module docstring)."""
        fn = self._fn(function)
        fn.instant = True
        fn.min_warm, fn.keep_alive_s = 0, 0.0

    def set_pool(self, function: str, target: PoolTarget) -> None:
        fn = self._fn(function)
        if fn.instant:
            return  # just-in-time containers ignore pool targets
        self._expire(fn, self._now)
        fn.min_warm, fn.keep_alive_s = target.min_warm, float(target.keep_alive_s)
        # what is idle now was kept until now (by the old floor or keep-alive): it goes now at the earliest
        self._expire(fn, self._now, not_before=self._now)
        while fn.live < fn.min_warm:
            self._start_container(fn, self._now)

    def submit(self, workflow: str, arrivals_s: np.ndarray) -> None:
        if workflow not in self._wf_index:
            visible = sorted(w.name for w in self._wfs if not w.background)
            raise InputError(f"workflow {workflow!r} is not deployed; deployed: {visible}")
        times = np.asarray(arrivals_s, dtype=float).ravel()
        if times.size and (not np.isfinite(times).all() or times.min() < self._now):
            raise InputError(f"arrival times must be finite and >= now ({self._now} s)", field="arrivals_s")
        self._pending.append((times, self._wf_index[workflow]))

    def advance(self, until_s: float) -> None:
        """Process every event up to and including ``until_s``; ``math.inf`` runs until nothing is left (noisy
        neighbours alone do not keep a run going)."""
        if until_s < self._now:
            raise ValueError(f"cannot go back in time: now {self._now}, asked {until_s}")
        self._run(until_s)
        if until_s != INF:
            self._now = until_s

    def observe(self) -> dict[str, FunctionObservation]:
        out = {}
        now = self._now
        for fn in self._fns:
            if fn.background:
                continue
            fn.track_inflight(now)
            out[fn.name] = FunctionObservation(
                fn.obs_inv, max(fn.obs_peak, fn.in_flight), fn.obs_cold, fn.obs_inflight, fn.obs_done, fn.obs_busy
            )
            fn.obs_inv = fn.obs_cold = fn.obs_done = 0
            fn.obs_inflight = fn.obs_busy = 0.0
            fn.obs_peak = fn.in_flight
        return out

    def request_records(self) -> list[RequestRecord]:
        out = []
        for wf in self._wfs:
            if not wf.background:
                out.extend(self.workflow_records(wf))
        out.sort(key=lambda r: r.request_id)
        return out

    def workflow_records(self, wf: WfState) -> list[RequestRecord]:
        """Records of one workflow's requests, in completion order. Each log entry is built into a record once
        (a Measurer polls the records while it waits for each request: rebuilding them all made a 200-request
        check quadratic, 60% of its time). Returns the simulator's cached list itself: copy it before changing it."""
        out = wf.records
        for i in range(len(out), len(wf.log_id)):
            arrival, end = wf.log_arrival[i], wf.log_end[i]
            stages = dict(zip(wf.stage_names, wf.log_stages[i], strict=True)) if wf.log_stages else {}
            if wf.single:
                stages = {wf.stage_names[0]: (end - arrival) * 1000.0}
            out.append(
                RequestRecord(
                    wf.log_id[i],
                    wf.name,
                    arrival,
                    end,
                    (end - arrival) * 1000.0,
                    stages,
                    wf.log_cold[i],
                    wf.log_failed[i],
                )
            )
        return out

    def container_records(self) -> list[ContainerRecord]:
        self.expire_all()
        visible = [not fn.background for fn in self._fns]
        return self.c.records([fn.name for fn in self._fns], self._now, visible, self._peak_mb)

    def _peak_mb(self, fid: int, config: ResourceConfig) -> float:
        """A container's peak memory: what its function's performance model holds at its size (deterministic)."""
        return memory_used_mb(self._fns[fid].perf, config)

    # ----------------------------------------------------------------- extras used by runners and metrics
    @property
    def functions(self) -> list[FnState]:
        return self._fns

    @property
    def workflows(self) -> list[WfState]:
        return self._wfs

    @property
    def utilisation(self) -> UtilisationLog | None:
        """With ``track_utilisation``: the cluster's computing vCPU over its cores, per minute."""
        return self._util

    def pending(self) -> bool:
        """True while arrivals or events remain (noisy neighbours do not count)."""
        return len(self._heap) > self._daemons or bool(self._pending) or self._arr_ptr < len(self._arr_t)

    def tenant_figures(self) -> dict[str, Any]:
        """Background tenants: functions, invocations, cold-start rate and the share of requests that failed."""
        fns = [fn for fn in self._fns if fn.background]
        inv = sum(fn.total_inv for fn in fns)
        return {
            "functions": len(fns),
            "invocations": inv,
            "cold_start_rate": sum(fn.total_cold for fn in fns) / inv if inv else 0.0,
            "failed": sum(fn.total_failed for fn in fns),
        }

    # ----------------------------------------------------------------- event loop
    def _merge_pending(self) -> None:
        """Merge submitted arrivals into the sorted arrival stream (once per batch of submits)."""
        rest_t = np.asarray(self._arr_t[self._arr_ptr :], dtype=float)
        rest_w = np.asarray(self._arr_w[self._arr_ptr :], dtype=np.int64)
        all_t = np.concatenate([rest_t, *(t for t, _ in self._pending)])
        all_w = np.concatenate([rest_w, *(np.full(t.size, wi, dtype=np.int64) for t, wi in self._pending)])
        order = np.argsort(all_t, kind="stable")
        self._arr_t, self._arr_w, self._arr_ptr = all_t[order].tolist(), all_w[order].tolist(), 0
        self._pending = []

    def _run(self, until: float) -> None:
        if self._pending:
            self._merge_pending()
        heap, arr_t, arr_w = self._heap, self._arr_t, self._arr_w
        n_arr = len(arr_t)
        ptr = self._arr_ptr
        pop = heapq.heappop
        end_event, ready_event, start_request = self._on_end, self._on_ready, self._start_request
        cont_version = self._cont.version if self._cont is not None else []
        while True:
            ta = arr_t[ptr] if ptr < n_arr else INF
            if heap:
                top = heap[0]
                t = top[0]
                if t < ta or (t == ta and top[1] < STAGE + 1):
                    if t > until or (ta == INF and until == INF and len(heap) == self._daemons):
                        break
                    pop(heap)
                    self._now = t
                    kind = top[3]
                    if kind == END:
                        end_event(top[4], top[5], top[6], t)
                    elif kind == READY:
                        ready_event(top[4], t)
                    elif kind == CPU_DONE:
                        if top[5] == cont_version[top[4]]:  # else stale: the invoker's load changed since
                            self._on_compute_done(top[4], t)
                    elif kind == NEIGHBOUR:
                        self._on_neighbour(top[4], top[5], t)
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

    def _push_daemon(self, t: float, invoker: int, starts: bool) -> None:
        self._daemons += 1
        self._push(t, END, NEIGHBOUR, invoker, starts, None)

    def _fn(self, name: str) -> FnState:
        if name not in self._fn_index or self._fns[self._fn_index[name]].background:
            visible = sorted(f.name for f in self._fns if not f.background)
            raise InputError(f"unknown function {name!r}; deployed: {visible}")
        return self._fns[self._fn_index[name]]

    def _log(self, t: float, what: str, name: str, cid: int, inv: tuple[Any, ...] | None) -> None:
        assert self.events is not None
        rid = -1 if inv is None else (inv[1] if isinstance(inv[1], int) else inv[1].rid)
        self.events.append((t, what, name, cid, rid))
