"""Invocations in the simulator: dispatch to a warm container or a queue, service (drift, out of memory, compute
under contention), completion and release of the container, and noisy neighbours' arrivals.

:class:`InvocationExecution` is a mixin of :class:`~aquatope.sim.engine.Simulator` (kept apart to keep modules
small); the rules are stated in the engine's module docstring.
"""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Any

from aquatope.sim.config import SimConfig
from aquatope.sim.contention import Contention
from aquatope.sim.lifecycle import ContainerLifecycle
from aquatope.sim.state import FnState
from aquatope.sim.uncertainty import NeighbourEpisodes, UtilisationLog, diurnal_factor

READY, END, CPU_DONE, NEIGHBOUR = 0, 1, 3, 4
"""Event kinds in the engine's heap (``END`` is also the priority of every event but a ready container's)."""
INF = math.inf


class InvocationExecution(ContainerLifecycle):
    """Dispatch, service and completion of invocations; the engine supplies the heap and the request flow."""

    config: SimConfig
    neighbours: NeighbourEpisodes
    _heap: list[tuple[Any, ...]]
    _seq: int
    _daemons: int
    _drift: bool
    _cont: Contention | None
    _util: UtilisationLog | None

    if TYPE_CHECKING:  # provided by the engine and by RequestFlow (not defined here: they would shadow those)

        def _push_daemon(self, t: float, invoker: int, starts: bool) -> None: ...

        def _complete(self, inv: tuple[Any, ...], t: float, cold: int, failed: bool) -> None: ...

    def _invoke(self, fn: FnState, inv: tuple[Any, ...], t: float) -> None:
        fn.total_inv += 1
        fn.obs_inv += 1
        if t > fn.obs_t:
            fn.obs_inflight += fn.in_flight * (t - fn.obs_t)
            fn.obs_t = t
        fn.in_flight += 1
        if fn.in_flight > fn.obs_peak:
            fn.obs_peak = fn.in_flight
        idle = fn.idle
        if idle and self.c.idle_since[idle[0]] + fn.keep_alive_s < t:
            self._expire(fn, t)
        if idle:
            self._serve(fn, idle.pop(), inv, t)
            return
        if fn.instant and self._start_instant(fn, inv, t):
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
            self._out_of_memory(fn, cid, inv, t, cold)
            return
        if self._drift:
            lat *= diurnal_factor(self.config, t)
            if fn.steps:
                lat *= fn.step_factor(t)
        c.busy_since[cid] = t
        c.invocations[cid] += 1
        util = self._util
        if util is not None:
            load = c.load[cid] = cfg.cpu * fn.cpu_frac
            if t <= util.end:
                util.acc += util.load * (t - util.last)
                util.last = t
                util.load += load
            else:
                util.add(t, load)
        cont = self._cont
        if cont is None:
            self._seq += 1
            heapq.heappush(self._heap, (t + lat / 1000.0, END, self._seq, END, cid, inv, cold))
            return
        work_s = lat / 1000.0 * fn.cpu_frac
        i = c.invoker[cid]
        when = cont.start(i, t, cfg.cpu, fn.cls, work_s, lat / 1000.0 - work_s, (cid, inv, cold))
        self._seq += 1
        heapq.heappush(self._heap, (when, END, self._seq, CPU_DONE, i, cont.version[i], None))

    def _out_of_memory(self, fn: FnState, cid: int, inv: tuple[Any, ...], t: float, cold: int) -> None:
        if self.events is not None:
            self._log(t, "out-of-memory", fn.name, cid, inv)
        fn.total_failed += 1
        fn.track_inflight(t)
        fn.in_flight -= 1
        self.c.invocations[cid] += 1
        self._evict(cid, t)
        self._complete(inv, t, cold, failed=True)
        if len(fn.waiting) > fn.n_starting:
            self._start_container(fn, t)

    def _on_compute_done(self, invoker: int, t: float) -> None:
        """Compute phases on ``invoker`` ended at ``t``: their I/O follows (stale events are dropped by ``_run``)."""
        cont = self._cont
        assert cont is not None
        done, when = cont.finished(invoker, t)
        heap = self._heap
        if when != INF:
            self._seq += 1
            heapq.heappush(heap, (when, END, self._seq, CPU_DONE, invoker, cont.version[invoker], None))
        for io_s, (cid, inv, cold) in done:
            if io_s > 0.0:
                self._seq += 1
                heapq.heappush(heap, (t + io_s, END, self._seq, END, cid, inv, cold))
            else:
                self._on_end(cid, inv, cold, t)

    def _on_neighbour(self, invoker: int, starts: bool, t: float) -> None:
        """A noisy neighbour arrives on (``starts``) or leaves an invoker; the next change is scheduled."""
        self._daemons -= 1
        cont = self._cont
        assert cont is not None
        delta, next_t, next_starts = self.neighbours.step(invoker, starts, t)
        when = cont.shift(invoker, t, delta)
        if when != INF:
            self._push(when, END, CPU_DONE, invoker, cont.version[invoker], None)
        self._push_daemon(next_t, invoker, next_starts)

    def _on_end(self, cid: int, inv: tuple[Any, ...], cold: int, t: float) -> None:
        c = self.c
        fn = self._fns[c.fid[cid]]
        run_s = t - c.busy_since[cid]
        c.busy[cid] += run_s
        c.busy_since[cid] = math.nan
        util = self._util
        if util is not None:
            if t <= util.end:
                util.acc += util.load * (t - util.last)
                util.last = t
                util.load -= c.load[cid]
            else:
                util.add(t, -c.load[cid])
        if t > fn.obs_t:
            fn.obs_inflight += fn.in_flight * (t - fn.obs_t)
            fn.obs_t = t
        fn.in_flight -= 1
        fn.obs_done += 1
        fn.obs_busy += run_s
        if self.events is not None:
            self._log(t, "end", fn.name, cid, inv)
        self._complete(inv, t, cold, failed=False)
        self._release(fn, cid, t)

    def _on_ready(self, cid: int, t: float) -> None:
        fn = self._fns[self.c.fid[cid]]
        fn.n_starting -= 1
        self.cluster.starting[self.c.invoker[cid]] -= 1
        if self.events is not None:
            self._log(t, "ready", fn.name, cid, None)
        self._release(fn, cid, t)

    def _release(self, fn: FnState, cid: int, t: float) -> None:
        """A container became free (ready or done): serve the queue, retire it, or make it idle."""
        if fn.waiting:
            self._serve(fn, cid, fn.waiting.popleft(), t)
            if fn.n_starting > len(fn.waiting) and self._cluster_queue:
                self._cancel_queued_start(fn)
        elif self.c.config[cid] is not fn.config and self.c.config[cid] != fn.config:
            self._evict(cid, t)
        else:
            self.c.idle_since[cid] = t
            fn.idle.append(cid)
            if self._cluster_queue:
                self._drain_cluster_queue(t)
