"""Containers' lives in the simulator: start (placement, cold-start storms), keep-alive expiry, eviction, LRU
eviction for room, and the cluster queue of starts waiting for room.

:class:`ContainerLifecycle` is a mixin of :class:`~aquatope.sim.engine.Simulator` (kept apart to keep modules
small); the rules are stated in the engine's module docstring.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from aquatope.sim.cluster import Cluster
from aquatope.sim.containers import ContainerTable
from aquatope.sim.state import FnState

READY = 0
INF = math.inf


class ContainerLifecycle:
    """Container starts, expiry and eviction; the engine supplies the event heap, logging and serving."""

    c: ContainerTable
    cluster: Cluster
    events: list[tuple[float, str, str, int, int]] | None
    _fns: list[FnState]
    _now: float
    _cluster_queue: deque[int]
    _draining: bool
    _storm: float
    _invoker_cpu: float

    def _push(self, t: float, prio: int, kind: int, cid: int, a: Any, b: Any) -> None:
        raise AssertionError("provided by the engine")

    def _log(self, t: float, what: str, name: str, cid: int, inv: tuple[Any, ...] | None) -> None:
        raise AssertionError("provided by the engine")

    def expire_all(self) -> None:
        """Apply keep-alive evictions that are due now, for every function."""
        for fn in self._fns:
            self._expire(fn, self._now)

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
        if self._storm > 0.0:  # start-up CPU shared over the invoker's cores (SimConfig: cold-start storms)
            cold_s *= max(1.0, (self.cluster.starting[invoker] + 1) * self._storm / self._invoker_cpu)
        self.cluster.starting[invoker] += 1
        cid = self.c.add(fn.fid, fn.config, invoker, t, t + cold_s)
        if self.events is not None:
            self._log(t, "container-start", fn.name, cid, None)
        self._push(t + cold_s, READY, READY, cid, None, None)

    def _start_instant(self, fn: FnState, inv: tuple[Any, ...], t: float) -> bool:
        """A clairvoyant just-in-time container, ready at ``t`` and serving ``inv`` at once (False: no room, the
        invocation queues like any other)."""
        invoker = self.cluster.place(fn.config)
        if invoker < 0:
            invoker = self._make_room(fn, t)
        if invoker < 0:
            return False
        fn.live += 1
        cid = self.c.add(fn.fid, fn.config, invoker, t, t)
        if self.events is not None:
            self._log(t, "container-instant", fn.name, cid, None)
        self._serve(fn, cid, inv, t)
        return True

    def _serve(self, fn: FnState, cid: int, inv: tuple[Any, ...], t: float) -> None:
        raise AssertionError("provided by the engine")

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

    def _expire(self, fn: FnState, t: float, not_before: float = -INF) -> None:
        """Evict idle containers of ``fn`` whose keep-alive ran out before ``t`` (oldest first, down to min_warm),
        each at its expiry, or at ``not_before`` if it was kept until then (by a floor or a keep-alive since
        lowered: see ``Simulator.set_pool``)."""
        idle, since, ka = fn.idle, self.c.idle_since, fn.keep_alive_s
        while idle and fn.live > fn.min_warm and since[idle[0]] + ka < t:
            cid = idle.popleft()
            self._evict(cid, max(since[cid] + ka, not_before))

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
