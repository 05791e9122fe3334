"""RayPlatform: the :class:`~aquatope.platform.Platform` contract on a real Ray cluster, one actor per container.

A dedicated thread runs an asyncio loop that owns all the platform's state (:mod:`aquatope.runtime.loop`): arrivals
fire at their times, requests run concurrently through their DAG (:mod:`aquatope.runtime.executor`), each
invocation takes a container of its function's pool (:mod:`aquatope.runtime.dispatch`, with the function's
``timeout_s`` and retries after a container died), and pools start, serve and evict container actors
(:mod:`aquatope.runtime.pool`) on the nodes that have room (:mod:`aquatope.runtime.room`). Public methods hand
their work to that loop and wait for it, so the controller's own computing never stalls the platform. Time, lag and
records: :mod:`aquatope.runtime.base`.

**Cluster.** ``address=None`` starts a local Ray (``num_cpus``) unless Ray is already initialized in this process;
otherwise the cluster at ``address`` (or the ``RAY_ADDRESS`` environment variable) is joined after checking that it
answers (``auto``, ``head:6379``, ``ray://head:10001``; on Kubernetes a KubeRay ``RayCluster``'s head service).
Nothing assumes one machine: code ships with the actors, payloads move through the object store, room is counted
per node, and every ``health_period_s`` the platform reads the cluster's nodes: containers on a node that left are
treated as dead (their invocations are retried on other containers, the pools refill elsewhere). ``start_slots``
bounds the containers starting at once per node (default: its CPUs; :mod:`aquatope.runtime.room`). ``shutdown()``
kills every container actor it started and, if it started Ray, stops it.

**Overcommitting CPU.** A local Ray started with more ``num_cpus`` than the machine has cores lets containers
reserve more CPU than exists, as Kubernetes CPU limits and OpenWhisk's CPU shares do: each container's quota still
caps it, and containers that mostly wait (short executions between requests) share the cores. Then set
``start_slots`` to the real cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aquatope.errors import InputError
from aquatope.platform import ContainerRecord, FunctionObservation, PoolTarget
from aquatope.resources import Pricing, ResourceConfig
from aquatope.runtime.base import ReplayPlatform
from aquatope.runtime.capacity import MIB
from aquatope.runtime.connect import connect
from aquatope.runtime.container import ContainerActor
from aquatope.runtime.dispatch import PoolDispatcher
from aquatope.runtime.functions import BoundFunction, bind_workflow
from aquatope.runtime.limits import detect_cpu_mode, sweep_until_gone
from aquatope.runtime.pool import Container, FunctionPool
from aquatope.runtime.records import container_record
from aquatope.runtime.room import Room
from aquatope.workflow import Workflow


@dataclass(frozen=True)
class ContainerInfo:
    """A live container as the platform sees it (for tests, fault injection and diagnostics)."""

    container_id: int
    function: str
    state: str
    pid: int | None
    cpu_mode: str | None
    node_id: str | None = None


class RayPlatform(ReplayPlatform):
    """FaaS platform on Ray: one actor per container (see the module docstrings for time, faults and clusters)."""

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
        max_lag_s: float | None = None,
        health_period_s: float = 2.0,
        start_slots: int | None = None,
        ray_init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if cpu_mode not in ("auto", "cgroup-v1", "cgroup-v2", "threads"):
            raise InputError(f"unknown cpu mode {cpu_mode!r}", field="cpu_mode")
        self.owns_ray = connect(address, num_cpus, ray_init_kwargs)
        import ray

        self._ray = ray
        self.pricing = pricing or Pricing()
        self.default_pool = default_pool or PoolTarget(0, 600.0)
        self.cpu_mode = cpu_mode
        self.health_period_s = health_period_s
        self._actor_cls = ray.remote(ContainerActor)
        self._token = uuid.uuid4().hex[:8]
        self._pools: dict[str, FunctionPool] = {}
        self._containers: list[Container] = []
        self._next_cid = 0
        self._dispatcher = PoolDispatcher(self._pools, {}, self._kill, max_retries)
        super().__init__(
            time_scale=time_scale,
            late_tolerance_s=late_tolerance_s,
            keep_outputs=keep_outputs,
            drain_timeout_s=drain_timeout_s,
            max_lag_s=max_lag_s,
            thread_name="aquatope-ray-platform",
            capacity_source=ray.nodes,
        )
        self._room = Room(self._capacity, self._containers, self._pools, self.wall, start_slots)
        self._health: asyncio.Task[None] | None = self._call(self._start_health)

    @property
    def max_retries(self) -> int:
        return self._dispatcher.max_retries

    @property
    def token(self) -> str:
        """This platform's prefix of container names (its actors' cgroups are ``<token>-<container id>``)."""
        return self._token

    # ----------------------------------------------------------------- Platform API
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
                self._dispatcher.timeouts_s[name] = workflow.functions[name].timeout_s
            self._add_runner(workflow, self._dispatcher)

        self._call(install)

    def set_resources(self, function: str, config: ResourceConfig) -> None:
        pool = self._pool(function)
        self._capacity.check_fits(config, function)
        self._call(pool.set_config, config)

    def set_pool(self, function: str, target: PoolTarget) -> None:
        pool = self._pool(function)
        self._call(pool.set_target, target)

    def observe(self) -> dict[str, FunctionObservation]:
        """Per function, since the previous call (:mod:`aquatope.runtime.counters` says on which clock)."""
        return self._call(lambda: {name: p.counters.take() for name, p in self._pools.items()})

    def container_records(self) -> list[ContainerRecord]:
        def records() -> list[ContainerRecord]:
            now = self.wall()
            return [container_record(c, now, self.time_scale) for c in self._containers]

        return self._call(records)

    # ----------------------------------------------------------------- extras
    def live_containers(self) -> list[ContainerInfo]:
        """Containers alive now (starting, idle or busy)."""

        def snap() -> list[ContainerInfo]:
            return [
                ContainerInfo(c.cid, c.function, c.state, c.info.get("pid"), c.info.get("cpu_mode"), c.node_id)
                for c in self._room.live()
            ]

        return self._call(snap)

    def enforcement(self) -> dict[str, list[str]]:
        """CPU and memory enforcement modes reported by the containers so far (detected locally if none yet)."""
        cpu = sorted({str(c.info["cpu_mode"]) for c in self._containers if c.info.get("cpu_mode")})
        mem = sorted({str(c.info["memory_mode"]) for c in self._containers if c.info.get("memory_mode")})
        return {"cpu": cpu or [detect_cpu_mode()], "memory": mem or ["rlimit"]}

    def starts_waiting(self) -> int:
        """Container starts waiting for room (no node fits them now)."""
        return self._call(self._starts_waiting)

    def node_usage(self) -> dict[str, dict[str, float]]:
        """Per alive node id: CPUs and memory MB it offers and what this platform's live containers reserve."""

        def usage() -> dict[str, dict[str, float]]:
            used = self._room.usage()
            return {
                n.node_id: {
                    "cpu": n.cpu,
                    "memory_mb": n.memory_bytes / MIB,
                    "cpu_reserved": used.get(n.node_id, (0.0, 0.0))[0],
                    "memory_reserved_mb": used.get(n.node_id, (0.0, 0.0))[1] / MIB,
                }
                for n in self._capacity.nodes()
            }

        return self._call(usage)

    def shutdown(self) -> None:
        """Kill every container actor, stop the loop thread and, if this platform started Ray, stop Ray."""
        if self._closed:
            return
        self._closed = True

        def close_pools() -> None:
            if self._health is not None:
                self._health.cancel()
            self._room.closed = True
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
        self._stop_loop()
        with contextlib.suppress(Exception):
            sweep_until_gone(f"{self._token}-")
        if self.owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    # ----------------------------------------------------------------- PoolHost (called on the loop thread)
    def new_container_id(self) -> int:
        self._next_cid += 1
        return self._next_cid - 1

    def new_actor(self, function: BoundFunction, config: ResourceConfig, cid: int, node_id: str) -> Any:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        return self._actor_cls.options(
            num_cpus=config.cpu,
            memory=config.memory_mb * MIB,
            max_restarts=0,
            max_task_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=True),
        ).remote(function, config.cpu, config.memory_mb, f"{self._token}-{cid}", self.cpu_mode)

    def register(self, container: Container) -> None:
        self._containers.append(container)

    def terminate(self, container: Container) -> None:
        """Ask the actor to exit once idle (its cgroup is removed on the way out); a kill follows at shutdown."""
        with contextlib.suppress(Exception):
            container.handle.__ray_terminate__.remote()
        self._room.drain()

    def make_room(self, config: ResourceConfig, exclude: str) -> str | None:
        node = self._room.make_room(config, exclude)
        return None if node is None else node.node_id

    def enqueue(self, pool: FunctionPool) -> None:
        self._room.enqueue(pool)

    def dequeue(self, pool: FunctionPool) -> bool:
        return self._room.dequeue(pool)

    def on_idle(self) -> None:
        self._room.drain()

    # ----------------------------------------------------------------- internals
    def _kill(self, container: Container) -> None:
        """End a container's actor at once (its handler may never return)."""
        with contextlib.suppress(Exception):
            self._ray.kill(container.handle, no_restart=True)

    def _starts_waiting(self) -> int:
        return sum(p.n_queued for p in self._pools.values())

    def _starting(self) -> int:
        return sum(p.n_starting for p in self._pools.values())

    def _start_health(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._watch_nodes())

    async def _watch_nodes(self) -> None:
        """Every ``health_period_s``: re-read the nodes; containers on nodes that left are lost."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.health_period_s)
            try:
                nodes = await loop.run_in_executor(None, self._capacity.refresh)
            except Exception:  # the GCS is briefly unreachable: try again at the next period
                continue
            for c in self._room.gone_containers(nodes):
                self._pools[c.function].lost(c)
            self._room.drain()

    def _pool(self, function: str) -> FunctionPool:
        if function not in self._pools:
            raise InputError(f"unknown function {function!r}; deployed: {sorted(self._pools)}")
        return self._pools[function]

    def _wait_actors_gone(self, timeout_s: float = 10.0) -> None:
        """Wait until the killed actors' processes are gone (Ray reports them DEAD)."""
        deadline = time.monotonic() + timeout_s
        here = self._ray.get_runtime_context().get_node_id()
        pending = [c for c in self._containers if c.info.get("pid") and c.info.get("node_id") == here]
        while pending and time.monotonic() < deadline:
            pending = [c for c in pending if pid_alive(int(c.info["pid"]))]
            if pending:
                time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this machine and is not a zombie (remote pids count as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
