"""Per-function pools of container actors, with the simulator's dispatch and keep-alive rules on a real clock.

Everything here runs on the platform's event-loop thread; times are *wall* seconds since the platform started.

**Dispatch** (as :mod:`aquatope.sim.engine`): an invocation takes the function's most recently used idle container;
otherwise it waits in the function's FIFO queue and, unless enough containers are already starting to serve every
queued invocation, a new one is started (a cold start). Whichever frees first (a busy container finishing, or a
starting one becoming ready) serves the head of the queue. An invocation *waited on a cold start* when its
container became ready after the invocation arrived.

**Keep-alive.** An idle container is evicted once idle for ``keep_alive_s`` (converted to wall seconds), unless
that would leave fewer than ``min_warm`` alive; a timer fires at the next expiry. A container that goes away for
another reason (died, out of memory, retired after ``set_resources``) is replaced when the pool would fall below
``min_warm``. A start that fails (the function's ``init`` raised) fails the invocation at the head of the queue
with that error, and the floor is not refilled until a start succeeds or a new target is set (no restart loop).

**Room.** The platform counts the CPU and memory its live containers reserve per node, and the containers starting
on each (:mod:`aquatope.runtime.room`). A start that does not fit first evicts idle containers of *other*
functions, least recently used first; if it still does not fit, or every node already starts as many containers as
it can at once, it waits in the platform's FIFO start queue (no actor exists yet; its invocation's wait counts in
its latency) and is retried whenever a container goes away, goes idle or becomes ready. A queued start that no
waiting invocation needs any more (another container served it) is cancelled, as in the simulator.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.runtime.counters import InvocationCounters
from aquatope.runtime.faults import first_line, is_actor_death
from aquatope.runtime.functions import BoundFunction

INF = math.inf
START_DEATHS = 3
"""Starts in a row whose actor died (its node left, its process was killed) before a start is given up as failed."""


class InvocationFailed(Exception):
    """An invocation could not run or its function failed; the message is what the request record keeps."""


@dataclass(eq=False)
class Container:
    """One container actor and its life on the wall clock (``end_w`` is NaN while alive)."""

    cid: int
    function: str
    config: ResourceConfig
    handle: Any
    start_w: float
    ready_w: float = INF
    end_w: float = math.nan
    busy_s: float = 0.0
    busy_since: float = math.nan
    idle_since: float = math.nan
    invocations: int = 0
    peak_mb: float = math.nan  # the most resident memory its invocations reached (the actor's report)
    state: str = "starting"  # starting | idle | busy | gone
    broken: bool = False  # out of memory: never serve again
    info: dict[str, Any] = field(default_factory=dict)
    node_id: str | None = None  # where it runs (chosen at launch, then as the container reports it)


class PoolHost(Protocol):
    """What a pool needs from the platform."""

    def wall(self) -> float: ...

    def new_actor(self, function: BoundFunction, config: ResourceConfig, cid: int, node_id: str) -> Any: ...

    def new_container_id(self) -> int: ...

    def make_room(self, config: ResourceConfig, exclude: str) -> str | None: ...

    def enqueue(self, pool: FunctionPool) -> None: ...

    def dequeue(self, pool: FunctionPool) -> bool: ...

    def on_idle(self) -> None: ...

    def register(self, container: Container) -> None: ...

    def terminate(self, container: Container) -> None: ...


@dataclass
class _Waiter:
    future: asyncio.Future[Container]
    arrival_w: float


class FunctionPool:
    """Containers of one function: start, serve, keep alive, evict (module docstring)."""

    def __init__(
        self, function: BoundFunction, config: ResourceConfig, target: PoolTarget, time_scale: float, host: PoolHost
    ) -> None:
        self.function = function
        self.name = function.name
        self.config = config
        self.time_scale = time_scale
        self.host = host
        self.min_warm = target.min_warm
        self.keep_alive_w = target.keep_alive_s / time_scale
        self.idle: deque[Container] = deque()  # oldest first; the right end is the most recently used
        self.waiting: deque[_Waiter] = deque()
        self.live: list[Container] = []
        self.n_starting = 0  # containers starting, including starts queued for room
        self.n_queued = 0  # starts waiting in the platform's start queue
        self.healthy = True
        self.start_deaths = 0
        self.counters = InvocationCounters(host.wall, time_scale)
        self._timer: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------------- invocations
    async def acquire(self, arrival_w: float) -> tuple[Container, bool]:
        """A container for one invocation, and whether it waited on a cold start; raises InvocationFailed when
        the start it waited for failed."""
        self.expire()
        if self.idle:
            c = self.idle.pop()
            self._busy(c)
            return c, False
        loop = asyncio.get_running_loop()
        waiter = _Waiter(loop.create_future(), arrival_w)
        self.waiting.append(waiter)
        if len(self.waiting) > self.n_starting:
            self.start()
        c = await waiter.future
        return c, c.ready_w > arrival_w

    def _busy(self, c: Container) -> None:
        c.state = "busy"
        c.busy_since = self.host.wall()
        c.invocations += 1
        self._reschedule()

    def release(self, c: Container, broken: bool = False) -> float:
        """``c`` finished an invocation (or became ready): serve the queue, retire it, or make it idle. Returns the
        seconds it was busy with that invocation (0 for a container that just became ready)."""
        now = self.host.wall()
        ran_s = 0.0
        if c.state == "busy":
            ran_s = now - c.busy_since
            c.busy_s += ran_s
            c.busy_since = math.nan
        c.broken = c.broken or broken
        if c.state == "gone":
            return ran_s
        if c.broken:
            self.evict(c, now)
            self._start_for_queue()
            return ran_s
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.future.done():
                self._busy(c)
                waiter.future.set_result(c)
                self._cancel_queued_starts()
                return ran_s
        self._cancel_queued_starts()
        if c.config != self.config:
            self.evict(c, now)
            return ran_s
        c.state = "idle"
        c.idle_since = now
        self.idle.append(c)
        self._reschedule()
        self.host.on_idle()
        return ran_s

    def lost(self, c: Container) -> None:
        """``c`` died (its actor is gone): record its end and keep the floor."""
        if c.state == "busy":
            c.busy_s += self.host.wall() - c.busy_since
            c.busy_since = math.nan
        if c.state != "gone":
            self.evict(c, self.host.wall())

    # ----------------------------------------------------------------- containers
    def start(self) -> None:
        """Start one container (a cold start), or queue the start until there is room; once ready it serves the
        queue or idles."""
        self.n_starting += 1
        node_id = self.host.make_room(self.config, exclude=self.name)
        if node_id is not None:
            self.launch(node_id)
        else:
            self.n_queued += 1
            self.host.enqueue(self)

    def launch(self, node_id: str, from_queue: bool = False) -> None:
        """Create the actor of a counted start on ``node_id`` (``from_queue``: a start that waited for room)."""
        if from_queue:
            self.n_queued -= 1
        cid = self.host.new_container_id()
        began = self.host.wall()
        handle = self.host.new_actor(self.function, self.config, cid, node_id)
        c = Container(cid, self.name, self.config, handle, began, node_id=node_id)
        self.live.append(c)
        self.host.register(c)
        asyncio.get_running_loop().create_task(self._await_ready(c))

    async def _await_ready(self, c: Container) -> None:
        error = None
        died = False
        try:
            c.info = await c.handle.ready.remote()
            error = c.info.get("error")
            c.node_id = c.info.get("node_id") or c.node_id
        except Exception as exc:  # the actor died while starting (or could not be created)
            died = is_actor_death(exc)
            error = f"container failed to start: {type(exc).__name__}: {first_line(exc)}"
        self.n_starting -= 1
        if c.state == "gone":  # evicted while starting
            return
        if died and self.start_deaths < START_DEATHS:  # not the function's fault (node lost, process killed): again
            self.start_deaths += 1
            self.evict(c, self.host.wall())
            self._start_for_queue()
            return
        if error is not None:
            self.healthy = False
            self.evict(c, self.host.wall(), refill=False)
            self._fail_head(error)
            self._start_for_queue()
            return
        self.healthy = True
        self.start_deaths = 0
        c.ready_w = self.host.wall()
        c.state = "ready"
        self.release(c)
        self.host.on_idle()  # a start slot is free again

    @property
    def alive(self) -> int:
        """Containers alive or on their way: launched and not gone, plus starts queued for room."""
        return len(self.live) + self.n_queued

    def _cancel_queued_starts(self) -> None:
        """Starts still queued for room that no waiting invocation needs any more are cancelled, keeping the floor."""
        while self.n_queued and self.n_starting > len(self.waiting) and self.alive > self.min_warm:
            if not self.host.dequeue(self):
                return
            self.n_queued -= 1
            self.n_starting -= 1

    def _fail_head(self, error: str) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(InvocationFailed(error))
                return

    def _start_for_queue(self) -> None:
        if len(self.waiting) > self.n_starting:
            self.start()

    def evict(self, c: Container, t: float, refill: bool = True) -> None:
        """End ``c``'s life at wall time ``t`` and terminate its actor; keep the floor unless ``refill`` is False."""
        if c.state == "gone":
            return
        if c.state == "idle":
            self.idle.remove(c)
        c.state = "gone"
        c.end_w = t
        self.live.remove(c)
        self.host.terminate(c)
        self._reschedule()
        if refill:
            self.fill_floor()

    def fill_floor(self) -> None:
        """Start containers until ``min_warm`` are alive (not while starts keep failing)."""
        while self.healthy and self.alive < self.min_warm:
            self.start()

    # ----------------------------------------------------------------- targets
    def set_target(self, target: PoolTarget) -> None:
        self.min_warm = target.min_warm
        self.keep_alive_w = target.keep_alive_s / self.time_scale
        self.healthy = True
        self.expire()
        self._cancel_queued_starts()
        self.fill_floor()
        self._reschedule()

    def set_config(self, config: ResourceConfig) -> None:
        """New containers get ``config``; idle ones with another configuration are retired now, busy ones later."""
        self.config = config
        now = self.host.wall()
        for c in [c for c in self.idle if c.config != config]:
            self.evict(c, now)

    def expire(self) -> None:
        """Evict idle containers whose keep-alive ran out (oldest first, down to ``min_warm``), at their expiry."""
        now = self.host.wall()
        while self.idle and self.alive > self.min_warm and self.idle[0].idle_since + self.keep_alive_w <= now:
            c = self.idle[0]
            self.evict(c, c.idle_since + self.keep_alive_w, refill=False)

    def _reschedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.idle and self.alive > self.min_warm:
            due = self.idle[0].idle_since + self.keep_alive_w
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(0.0, due - self.host.wall()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.expire()
        self._reschedule()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.n_starting -= self.n_queued
        self.n_queued = 0
        for waiter in self.waiting:
            if not waiter.future.done():
                waiter.future.set_exception(InvocationFailed("the platform shut down"))
        self.waiting.clear()


def lru_idle(pools: list[FunctionPool], exclude: str) -> Container | None:
    """The idle container, among pools other than ``exclude``, idle the longest."""
    best: Container | None = None
    for p in pools:
        if p.name != exclude and p.idle and (best is None or p.idle[0].idle_since < best.idle_since):
            best = p.idle[0]
    return best
