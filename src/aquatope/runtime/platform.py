"""RayPlatform: the :class:`~aquatope.platform.Platform` contract on a real Ray cluster.

A dedicated thread runs an asyncio loop that owns all the platform's state: arrivals fire at their times, requests
run concurrently (:mod:`aquatope.runtime.executor`), pools start, serve and evict container actors
(:mod:`aquatope.runtime.pool`). Public methods hand their work to that loop and wait for it, so the controller's own
computing (forecasts, sizing) never stalls the platform.

**Time.** The platform clock runs ``time_scale`` times faster than the wall clock: ``now_s = wall seconds since the
platform started x time_scale`` (``time_scale=60`` replays a trace minute in a wall second). Event times on it are
trace seconds: request arrivals and ends, container starts, readiness and ends, keep-alives and pool targets
(``keep_alive_s=600`` keeps a container for 10 wall seconds at 60). Work is never compressed: ``latency_ms``,
``stage_latency_ms`` and ``busy_s`` are real durations. With ``time_scale=1`` (right-sizing measurements) the two
coincide. Cost (``resources.Pricing`` over ``ContainerRecord``) therefore charges busy time at its real length and a
container's life at its trace length, as if the trace had been replayed at its own pace; a cold start at
``time_scale > 1`` is charged ``time_scale`` times (compression cannot shorten it).

``advance(until_s)`` waits (really) until the clock reaches ``until_s``; ``advance(math.inf)`` waits until no
arrival is pending, no request is in flight and no container is starting. ``submit`` accepts times up to
``late_tolerance_s`` wall seconds in the past (the clock moves while the caller computes): they start at once and
their latency counts from the time they were submitted for.

**Cluster.** ``address=None`` starts a local Ray (``num_cpus``) unless Ray is already initialized in this process;
otherwise ``ray.init(address=...)`` (or the ``RAY_ADDRESS`` environment variable) joins an existing cluster
(``auto``, ``ray://head:10001``; on Kubernetes a KubeRay ``RayCluster``'s head service). Nothing assumes one machine:
code ships with the actors, payloads move through the object store, room is counted against the whole cluster and
a configuration must fit on its largest node. ``shutdown()`` kills every container actor it started and, if it
started Ray, stops it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import ContainerRecord, FunctionObservation, PoolTarget, RequestRecord
from aquatope.resources import Pricing, ResourceConfig
from aquatope.runtime.capacity import ClusterCapacity
from aquatope.runtime.container import ContainerActor
from aquatope.runtime.executor import RequestOutcome, RequestRunner, WorkflowPlan
from aquatope.runtime.functions import BoundFunction, bind, bind_workflow
from aquatope.runtime.limits import detect_cpu_mode, sweep_stale
from aquatope.runtime.pool import MIB, Container, FunctionPool, lru_idle
from aquatope.runtime.records import container_record, request_record
from aquatope.workflow import Workflow

T = TypeVar("T")


@dataclass(frozen=True)
class ContainerInfo:
    """A live container as the platform sees it (for tests, fault injection and diagnostics)."""

    container_id: int
    function: str
    state: str
    pid: int | None
    cpu_mode: str | None


class RayPlatform:
    """FaaS platform on Ray: one actor per container (see the module docstring for time, faults and clusters)."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        address: str | None = None,
        num_cpus: int | None = None,
        pricing: Pricing | None = None,
        default_pool: PoolTarget | None = None,
        max_retries: int = 2,
        cpu_mode: str = "auto",
        late_tolerance_s: float = 1.0,
        keep_outputs: bool = False,
        drain_timeout_s: float = 600.0,
        ray_init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if not (time_scale > 0 and math.isfinite(time_scale)):
            raise InputError(f"must be a finite number > 0, got {time_scale}", field="time_scale")
        if cpu_mode not in ("auto", "cgroup-v1", "cgroup-v2", "threads"):
            raise InputError(f"unknown cpu mode {cpu_mode!r}", field="cpu_mode")
        import ray

        self._ray = ray
        self.time_scale = float(time_scale)
        self.pricing = pricing or Pricing()
        self.default_pool = default_pool or PoolTarget(0, 600.0)
        self.max_retries = max_retries
        self.cpu_mode = cpu_mode
        self.late_tolerance_s = late_tolerance_s
        self.drain_timeout_s = drain_timeout_s
        self.keep_outputs = keep_outputs
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address is None:
                kwargs["num_cpus"] = num_cpus
            kwargs.update(ray_init_kwargs or {})
            ray.init(address=address, **kwargs)
        self._actor_cls = ray.remote(ContainerActor)
        self._token = uuid.uuid4().hex[:8]
        self._capacity = ClusterCapacity(ray.nodes)
        self._pools: dict[str, FunctionPool] = {}
        self._bound: dict[str, BoundFunction] = {}
        self._runners: dict[str, RequestRunner] = {}
        self._containers: list[Container] = []
        self._records: list[RequestRecord] = []
        self._outputs: dict[int, dict[str, Any]] = {}
        self._next_rid = 0
        self._next_cid = 0
        self._start_queue: deque[FunctionPool] = deque()
        self._draining = False
        self._pending = 0
        self._closed = False
        self._errors: list[BaseException] = []
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._thread = threading.Thread(target=self._loop.run_forever, name="aquatope-ray-platform", daemon=True)
        self._thread.start()
        self._t0 = time.monotonic()

    # ----------------------------------------------------------------- clock
    def wall(self) -> float:
        """Wall seconds since the platform started."""
        return time.monotonic() - self._t0

    @property
    def now_s(self) -> float:
        return self.wall() * self.time_scale

    # ----------------------------------------------------------------- Platform API
    def bind(self, function: str, handler: Callable[..., Any], init: Callable[[], Any] | None = None) -> None:
        """Bind Python callables to ``function`` before ``deploy`` (overrides the YAML's ``handler``/``init``)."""
        self._bound[function] = bind(function, handler, init)

    def deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None) -> None:
        if workflow.name in self._runners:
            raise InputError(f"workflow {workflow.name!r} is already deployed", field="workflow")
        code = bind_workflow(workflow, self._bound)
        configs = dict(configs or {})
        chosen = {}
        for name in workflow.function_names:
            if name in self._pools:
                raise InputError(f"function {name!r} is already deployed by another workflow", field=name)
            chosen[name] = configs.get(name, workflow.functions[name].resources)
            self._capacity.check_fits(chosen[name], f"configs.{name}")

        def install() -> None:
            for name in workflow.function_names:
                self._pools[name] = FunctionPool(code[name], chosen[name], self.default_pool, self.time_scale, self)
            self._runners[workflow.name] = RequestRunner(
                WorkflowPlan.of(workflow), self._pools, self.wall, self._on_request_done, self.max_retries
            )

        self._call(install)

    def set_resources(self, function: str, config: ResourceConfig) -> None:
        pool = self._pool(function)
        self._capacity.check_fits(config, function)
        self._call(pool.set_config, config)

    def set_pool(self, function: str, target: PoolTarget) -> None:
        pool = self._pool(function)
        self._call(pool.set_target, target)

    def submit(self, workflow: str, arrivals_s: np.ndarray, inputs: list[Any] | None = None) -> None:
        """Schedule requests at ``arrivals_s`` (platform seconds); ``inputs[i]`` is request ``i``'s input for the
        source stages (default: the request id)."""
        if workflow not in self._runners:
            raise InputError(f"workflow {workflow!r} is not deployed; deployed: {sorted(self._runners)}")
        times = np.asarray(arrivals_s, dtype=float).ravel()
        earliest = self.now_s - self.late_tolerance_s * self.time_scale
        if times.size and (not np.isfinite(times).all() or times.min() < earliest):
            raise InputError(f"arrival times must be finite and >= now ({self.now_s:.3f} s)", field="arrivals_s")
        if inputs is not None and len(inputs) != times.size:
            raise InputError(f"{len(inputs)} inputs for {times.size} arrivals", field="inputs")
        runner = self._runners[workflow]

        def schedule() -> None:
            for i, t in enumerate(times.tolist()):
                rid = self._next_rid
                self._next_rid += 1
                self._pending += 1
                value = rid if inputs is None else inputs[i]
                wall_t = t / self.time_scale
                self._loop.call_at(self._t0 + wall_t, self._arrive, runner, rid, wall_t, value)

        self._call(schedule)

    def advance(self, until_s: float) -> None:
        """Wait until the clock reaches ``until_s``; ``math.inf`` waits until everything in flight is done."""
        if math.isnan(until_s):
            raise ValueError("cannot advance to NaN")
        if until_s == math.inf:
            self._drain()
            return
        while True:
            self._raise_loop_errors()
            left = until_s / self.time_scale - self.wall()
            if left <= 0:
                return
            time.sleep(min(left, 0.25))

    def observe(self) -> dict[str, FunctionObservation]:
        def take() -> dict[str, FunctionObservation]:
            out = {}
            for name, p in self._pools.items():
                out[name] = FunctionObservation(p.invocations, max(p.peak, p.in_flight), p.cold_starts)
                p.invocations = p.cold_starts = 0
                p.peak = p.in_flight
            return out

        return self._call(take)

    def request_records(self) -> list[RequestRecord]:
        return sorted(self._call(lambda: list(self._records)), key=lambda r: r.request_id)

    def container_records(self) -> list[ContainerRecord]:
        return self._call(self._container_records)

    # ----------------------------------------------------------------- extras
    def live_containers(self) -> list[ContainerInfo]:
        """Containers alive now (starting, idle or busy)."""

        def snap() -> list[ContainerInfo]:
            return [
                ContainerInfo(c.cid, c.function, c.state, c.info.get("pid"), c.info.get("cpu_mode"))
                for c in self._containers
                if c.state != "gone"
            ]

        return self._call(snap)

    def enforcement(self) -> dict[str, list[str]]:
        """CPU and memory enforcement modes reported by the containers so far (detected locally if none yet)."""
        cpu = sorted({str(c.info["cpu_mode"]) for c in self._containers if c.info.get("cpu_mode")})
        mem = sorted({str(c.info["memory_mode"]) for c in self._containers if c.info.get("memory_mode")})
        return {"cpu": cpu or [detect_cpu_mode()], "memory": mem or ["rlimit"]}

    def outputs(self, request_id: int, timeout_s: float | None = 60.0) -> dict[str, Any]:
        """What request ``request_id``'s sink stages returned (``keep_outputs=True`` only): ``{stage: value}``, a
        list of values for a fan-out sink. KeyError if the request failed, is unknown or outputs are not kept."""
        refs = self._call(lambda: self._outputs[request_id])
        return {stage: self._ray.get(ref, timeout=timeout_s) for stage, ref in refs.items()}

    def node_capacity(self) -> tuple[float, float]:
        """(CPUs, memory MB) of the cluster's largest node: what one container can get at most."""
        cpu, mem = self._capacity.largest_node()
        return cpu, mem / MIB

    def cluster_capacity(self) -> tuple[float, float]:
        """(CPUs, memory MB) of the whole cluster."""
        cpu, mem = self._capacity.cluster()
        return cpu, mem / MIB

    def in_flight(self) -> int:
        return self._call(lambda: sum(r.in_flight for r in self._runners.values()))

    def shutdown(self) -> None:
        """Kill every container actor, stop the loop thread and, if this platform started Ray, stop Ray."""
        if self._closed:
            return
        self._closed = True

        def close_pools() -> None:
            for p in self._pools.values():
                p.close()
            now = self.wall()
            for c in self._containers:
                if c.state != "gone":
                    c.state = "gone"
                    c.end_w = now

        with contextlib.suppress(Exception):
            self._call(close_pools)
        for c in self._containers:
            with contextlib.suppress(Exception):
                self._ray.kill(c.handle, no_restart=True)
        self._wait_actors_gone()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5.0)
        with contextlib.suppress(Exception):
            sweep_stale()
        if self.owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayPlatform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ----------------------------------------------------------------- PoolHost (called on the loop thread)
    def new_container_id(self) -> int:
        self._next_cid += 1
        return self._next_cid - 1

    def new_actor(self, function: BoundFunction, config: ResourceConfig, cid: int) -> Any:
        return self._actor_cls.options(
            num_cpus=config.cpu, memory=config.memory_mb * MIB, max_restarts=0, max_task_retries=0
        ).remote(function, config.cpu, config.memory_mb, f"{self._token}-{cid}", self.cpu_mode)

    def register(self, container: Container) -> None:
        self._containers.append(container)

    def terminate(self, container: Container) -> None:
        """Ask the actor to exit once idle (its cgroup is removed on the way out); a kill follows at shutdown."""
        with contextlib.suppress(Exception):
            container.handle.__ray_terminate__.remote()
        self._drain_starts()

    def enqueue(self, pool: FunctionPool) -> None:
        self._start_queue.append(pool)

    def dequeue(self, pool: FunctionPool) -> bool:
        """Remove ``pool``'s most recent queued start; False if it has none."""
        for i in range(len(self._start_queue) - 1, -1, -1):
            if self._start_queue[i] is pool:
                del self._start_queue[i]
                return True
        return False

    def on_idle(self) -> None:
        self._drain_starts()

    def _drain_starts(self) -> None:
        """Launch queued starts, in order, while there is room (evicting idle containers of other functions)."""
        if self._draining or self._closed:
            return
        self._draining = True
        try:
            while self._start_queue:
                pool = self._start_queue[0]
                if not self.make_room(pool.config, exclude=pool.name):
                    break
                self._start_queue.popleft()
                pool.launch(from_queue=True)
        finally:
            self._draining = False

    def make_room(self, config: ResourceConfig, exclude: str) -> bool:
        """Evict idle containers of other functions, least recently used first, until ``config`` fits; False if it
        still does not (Ray then holds the actor until resources free up)."""
        while True:
            used_cpu = sum(c.config.cpu for c in self._containers if c.state != "gone")
            used_mem = sum(c.config.memory_mb for c in self._containers if c.state != "gone") * MIB
            if self._capacity.has_room(used_cpu, used_mem, config):
                return True
            victim = lru_idle(list(self._pools.values()), exclude)
            if victim is None:
                return False
            self._pools[victim.function].evict(victim, self.wall(), refill=False)

    # ----------------------------------------------------------------- internals
    def _arrive(self, runner: RequestRunner, rid: int, arrival_w: float, value: Any) -> None:
        self._pending -= 1
        runner.start(rid, min(arrival_w, self.wall()), value)

    def _on_request_done(self, out: RequestOutcome) -> None:
        if self.keep_outputs and out.outputs is not None:
            self._outputs[out.rid] = out.outputs
        self._records.append(request_record(out, self.time_scale))

    def _container_records(self) -> list[ContainerRecord]:
        now = self.wall()
        return [container_record(c, now, self.time_scale) for c in self._containers]

    def _drain(self) -> None:
        deadline = time.monotonic() + self.drain_timeout_s

        def busy() -> bool:
            starting = sum(p.n_starting for p in self._pools.values())
            return self._pending > 0 or starting > 0 or any(r.in_flight for r in self._runners.values())

        while self._call(busy):
            self._raise_loop_errors()
            if time.monotonic() > deadline:
                raise RuntimeError(f"requests still in flight after {self.drain_timeout_s} s")
            time.sleep(0.01)

    def _pool(self, function: str) -> FunctionPool:
        if function not in self._pools:
            raise InputError(f"unknown function {function!r}; deployed: {sorted(self._pools)}")
        return self._pools[function]

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the loop thread and return its result (raising its exception)."""
        if threading.current_thread() is self._thread:
            return fn(*args)
        if self._closed and not self._loop.is_running():
            return fn(*args)  # after shutdown: read-only access to the final state
        done: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(*args))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        self._errors.append(exc if isinstance(exc, BaseException) else RuntimeError(str(context.get("message"))))

    def _raise_loop_errors(self) -> None:
        if self._errors:
            raise RuntimeError(f"the Ray platform's event loop failed: {self._errors[0]!r}") from self._errors[0]

    def _wait_actors_gone(self, timeout_s: float = 10.0) -> None:
        """Wait until the killed actors' processes are gone (Ray reports them DEAD)."""
        deadline = time.monotonic() + timeout_s
        here = self._ray.get_runtime_context().get_node_id()
        pending = [c for c in self._containers if c.info.get("pid") and c.info.get("node_id") == here]
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending if _pid_alive(int(c.info["pid"]))]
            if pending:
                time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this machine and is not a zombie (remote pids count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
