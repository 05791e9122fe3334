"""ServePlatform: the :class:`~aquatope.platform.Platform` contract on Ray Serve, one deployment per function.

What teams run in production on Ray: each function of a workflow is a Serve application with one deployment whose
replicas are its containers (:mod:`aquatope.runtime.serve_replica`), created by Serve's own API:

* **sizes**: ``ray_actor_options`` ``{num_cpus, memory}`` from the function's configuration; ``set_resources``
  redeploys with new options and Serve replaces the replicas (a rolling update);
* **pools**: ``autoscaling_config`` from the pool target: ``min_replicas`` = ``min_warm`` (Serve keeps that many
  replicas up), ``downscale_delay_s`` = ``downscale_to_zero_delay_s`` = ``keep_alive_s`` (on the wall clock), and for
  FaaS semantics ``max_ongoing_requests`` = ``target_ongoing_requests`` = 1 (one invocation per container),
  ``upscale_delay_s`` = 0 (a waiting invocation starts a replica at once, as OpenWhisk or Knative start a container;
  Serve's default waits 30 s), ``max_replicas`` = what the cluster's CPUs hold. Other settings are Serve's defaults
  (its autoscaler averages load over 30 s and handles report it every 10 s, so bursts above the floor scale more
  slowly than on :class:`~aquatope.runtime.platform.RayPlatform`). A pool change is a lightweight update: the
  deployment keeps one code version for the platform's life, so Serve adjusts replicas without restarting them
  (this pins the version through ``Deployment.options(version=..., _internal=True)``: Ray 2.60's Python API draws a
  new version on every ``serve.run``, which restarts every replica). Updates are applied in order by one background
  thread, so ``set_pool`` returns at once, as on RayPlatform;
* **the workflow** is composed with deployment handles on the platform's loop (:mod:`aquatope.runtime.executor`):
  each invocation is a ``handle.remote(meta, *inputs)`` whose inputs are the upstream invocations' object refs, so
  fan-out (several calls), map groups (copy ``k`` takes copy ``k``'s ref) and fan-in (all the refs) move payloads
  between replicas in the object store.

**Records** are the same as RayPlatform's: an invocation *waited on a cold start* when the replica that served it
became ready after the invocation was sent; container records are the replicas' lives (from the registry), their
busy time what the platform measured from assignment to result. **Faults**: a replica that dies mid-invocation is
retried (``max_retries``); an invocation that exceeds its function's ``timeout_s`` after a replica took it fails, and
that replica is killed (Serve replaces it).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import threading
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aquatope.errors import InputError
from aquatope.platform import ContainerRecord, FunctionObservation, PoolTarget
from aquatope.resources import Pricing, ResourceConfig
from aquatope.runtime.base import ReplayPlatform
from aquatope.runtime.capacity import MIB
from aquatope.runtime.connect import connect
from aquatope.runtime.counters import InvocationCounters
from aquatope.runtime.executor import RequestState
from aquatope.runtime.faults import first_line, is_actor_death
from aquatope.runtime.functions import BoundFunction, bind_workflow
from aquatope.runtime.limits import detect_cpu_mode
from aquatope.runtime.pool import InvocationFailed
from aquatope.runtime.serve_replica import REGISTRY_NAMESPACE, ReplicaRegistry, ServeContainer, StageResult, unwrap
from aquatope.workflow import Workflow


class ServeDispatcher:
    """Invocations through deployment handles (module docstring)."""

    def __init__(self, platform: ServePlatform, max_retries: int) -> None:
        self.platform = platform
        self.max_retries = max_retries
        self.handles: dict[str, Any] = {}
        self.counters: dict[str, InvocationCounters] = {}
        self.timeouts_s: dict[str, float] = {}
        self.busy: dict[str, tuple[float, int]] = {}  # replica id -> (busy wall seconds, invocations)
        self.peaks: dict[str, float] = {}  # replica id -> the most resident memory its invocations reached (MB)

    async def invoke(
        self, req: RequestState, function: str, meta: dict[str, Any], inputs: list[Any], arrival_w: float
    ) -> Any | None:
        counters = self.counters[function]
        counters.begin()
        cold, ran = False, None
        key = f"{req.rid}/{meta['stage']}/{meta['copy']}"
        try:
            for failures in range(self.max_retries + 1):
                if req.done:
                    return None
                sent = time.time()
                call = {**meta, "key": f"{key}/{failures}", "memory_mb": self.platform.configs[function].memory_mb}
                outcome = await self._call(function, call, inputs, failures)
                if outcome is None:
                    continue  # the replica died: retry
                ref, result, busy_w = outcome
                cold = cold or result.status["ready_epoch"] > sent
                self._account(result.status, busy_w)
                if result.status.get("oom"):
                    self.platform.kill_replica(result.status["replica_id"])
                if not result.status["ok"]:
                    raise InvocationFailed(result.status["error"])
                ran = busy_w
                return ref
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            counters.end(cold, ran)
            req.cold += int(cold)

    async def _call(
        self, function: str, meta: dict[str, Any], inputs: list[Any], failures: int
    ) -> tuple[Any, StageResult, float] | None:
        """(output ref, result, busy wall seconds); None if the replica died and a retry is allowed."""
        limit_s = self.timeouts_s[function]
        try:
            ref = await self.handles[function].remote(meta, *inputs)._to_object_ref()
            assigned = self.platform.wall()  # a replica took the invocation: its time limit starts
            result = await asyncio.wait_for(_resolve(ref), timeout=limit_s)
            return ref, result, self.platform.wall() - assigned
        except TimeoutError:
            replica = await asyncio.get_running_loop().run_in_executor(None, self.platform.replica_running, meta["key"])
            if replica is not None:
                self.platform.kill_replica(replica)
            raise InvocationFailed(
                f"timed out after {limit_s:g} s (the function's timeout_s); its replica was killed and replaced"
            ) from None
        except InvocationFailed:
            raise
        except Exception as exc:
            if not is_actor_death(exc) or failures >= self.max_retries:
                why = "replica died" if is_actor_death(exc) else type(exc).__name__
                raise InvocationFailed(f"{why}: {first_line(exc)}") from None
            return None

    def _account(self, status: dict[str, Any], busy_w: float) -> None:
        busy, n = self.busy.get(status["replica_id"], (0.0, 0))
        self.busy[status["replica_id"]] = (busy + busy_w, n + 1)
        peak = status.get("peak_mb")
        if peak is not None and peak == peak and peak > self.peaks.get(status["replica_id"], -math.inf):
            self.peaks[status["replica_id"]] = float(peak)


async def _resolve(ref: Any) -> Any:
    return await ref


class ServePlatform(ReplayPlatform):
    """FaaS platform on Ray Serve (module docstring); the same constructor options as RayPlatform where they apply."""

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
        ray_init_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.owns_ray = connect(address, num_cpus, ray_init_kwargs)
        import ray
        from ray import serve

        self._ray: Any = ray
        self._serve: Any = serve
        self.pricing = pricing or Pricing()
        self.default_pool = default_pool or PoolTarget(0, 600.0)
        self.cpu_mode = cpu_mode
        self._token = uuid.uuid4().hex[:8]
        self._code: dict[str, BoundFunction] = {}
        self.configs: dict[str, ResourceConfig] = {}
        self.pools: dict[str, PoolTarget] = {}
        self._dispatcher = ServeDispatcher(self, max_retries)
        self._deployer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aquatope-serve-deployer")
        self._wanted: dict[str, int] = {}  # per function: updates asked for, and applied
        self._applied: dict[str, int] = {}
        self._lock = threading.Lock()
        self._gone: dict[str, float] = {}  # replica id -> epoch it was found dead
        self._registry_name = f"aquatope-registry-{self._token}"
        self._registry: Any = (
            ray.remote(ReplicaRegistry)
            .options(name=self._registry_name, namespace=REGISTRY_NAMESPACE, num_cpus=0)
            .remote()
        )
        serve.start(proxy_location="Disabled")
        super().__init__(
            time_scale=time_scale,
            late_tolerance_s=late_tolerance_s,
            keep_outputs=keep_outputs,
            drain_timeout_s=drain_timeout_s,
            max_lag_s=max_lag_s,
            thread_name="aquatope-serve-platform",
            capacity_source=ray.nodes,
        )
        self._epoch0 = time.time() - self.wall()

    # ----------------------------------------------------------------- Platform API
    def deploy(self, workflow: Workflow, configs: Mapping[str, ResourceConfig] | None = None) -> None:
        """Deploy every function as a Serve application (waits until Serve runs them) and the workflow's runner."""
        if workflow.name in self._runners:
            raise InputError(f"workflow {workflow.name!r} is already deployed", field="workflow")
        code = bind_workflow(workflow, self._bound)
        configs = dict(configs or {})
        for name in workflow.function_names:
            if name in self._code:
                raise InputError(f"function {name!r} is already deployed by another workflow", field=name)
            self._capacity.check_fits(configs.get(name, workflow.functions[name].resources), f"configs.{name}")
        for name in workflow.function_names:
            self._code[name] = code[name]
            self.configs[name] = configs.get(name, workflow.functions[name].resources)
            self.pools[name] = self.default_pool
            self._apply(name)
            self._dispatcher.handles[name] = self._serve.get_app_handle(self._app(name))
            self._dispatcher.timeouts_s[name] = workflow.functions[name].timeout_s

        def install() -> None:
            for name in workflow.function_names:
                self._dispatcher.counters[name] = InvocationCounters(self.wall, self.time_scale)
            self._add_runner(workflow, self._dispatcher)

        self._call(install)

    def set_resources(self, function: str, config: ResourceConfig) -> None:
        self._known(function)
        self._capacity.check_fits(config, function)
        self.configs[function] = config
        self._update(function)

    def set_pool(self, function: str, target: PoolTarget) -> None:
        self._known(function)
        self.pools[function] = target
        self._update(function)

    def observe(self) -> dict[str, FunctionObservation]:
        """Per function, since the previous call (:mod:`aquatope.runtime.counters` says on which clock)."""
        return self._call(lambda: {f: c.take() for f, c in self._dispatcher.counters.items()})

    def container_records(self) -> list[ContainerRecord]:
        """Every replica so far, from the registry; replicas still alive end now."""
        replicas = self._replicas()
        busy = self._call(lambda: dict(self._dispatcher.busy))
        peaks = self._call(lambda: dict(self._dispatcher.peaks))
        now = self.wall()
        out = []
        for cid, r in enumerate(replicas):
            end_w = now if r["end_epoch"] is None else r["end_epoch"] - self._epoch0
            ready_w = r["ready_epoch"] - self._epoch0
            busy_w, n = busy.get(r["replica_id"], (0.0, 0))
            config = ResourceConfig(float(r["cpu"]), int(r["memory_mb"]))
            ts = self.time_scale
            start = (r["start_epoch"] - self._epoch0) * ts
            ready = ready_w * ts if ready_w <= end_w else math.inf
            peak = peaks.get(r["replica_id"], math.nan)
            out.append(ContainerRecord(cid, r["function"], config, start, ready, end_w * ts, busy_w, n, peak))
        return out

    # ----------------------------------------------------------------- extras
    def settle(self, timeout_s: float = 300.0) -> None:
        """Wait until every pool and size update handed to Serve has been applied."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                if self._wanted == self._applied:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Serve updates still pending after {timeout_s} s")
            time.sleep(0.05)

    def replica_counts(self, function: str) -> dict[str, int]:
        """Serve's own count of the function's replicas by state (RUNNING, STARTING, ...)."""
        app = self._serve.status().applications.get(self._app(function))
        if app is None:
            return {}
        return {str(k): int(v) for k, v in app.deployments[function].replica_states.items()}

    def enforcement(self) -> dict[str, list[str]]:
        replicas = self._replicas()
        cpu = sorted({str(r["cpu_mode"]) for r in replicas if r.get("cpu_mode")})
        mem = sorted({str(r["memory_mode"]) for r in replicas if r.get("memory_mode")})
        return {"cpu": cpu or [detect_cpu_mode()], "memory": mem or ["rlimit"]}

    def replica_running(self, key: str) -> str | None:
        """The id of the replica that runs invocation ``key`` (None if none took it)."""
        info = self._ray.get(self._registry.where.remote(key), timeout=30)
        return None if info is None else str(info["replica_id"])

    def kill_replica(self, replica_id: str) -> None:
        """Kill a replica's actor now (its handler may never return); Serve starts another."""
        for r in self._replicas():
            if r["replica_id"] == replica_id and r.get("actor_name"):
                with contextlib.suppress(Exception):
                    self._ray.kill(self._ray.get_actor(r["actor_name"], namespace="serve"), no_restart=True)

    def shutdown(self) -> None:
        """Delete the platform's applications (Serve itself too if nothing else runs on it) and, if this platform
        started Ray, stop it."""
        if self._closed:
            return
        self._closed = True
        self._deployer.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            self._stop_loop()
        for name in list(self._code):
            with contextlib.suppress(Exception):
                self._serve.delete(self._app(name))
        with contextlib.suppress(Exception):
            if not self._serve.status().applications:
                self._serve.shutdown()
        with contextlib.suppress(Exception):
            self._ray.kill(self._registry, no_restart=True)
        if self.owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    # ----------------------------------------------------------------- internals
    def _app(self, function: str) -> str:
        return f"aq-{self._token}-{function}"

    def _known(self, function: str) -> None:
        if function not in self._code:
            raise InputError(f"unknown function {function!r}; deployed: {sorted(self._code)}")

    def _update(self, function: str) -> None:
        """Hand the function's latest options to the deployer thread (coalesced: one ``serve.run`` applies every
        update asked for before it starts)."""
        with self._lock:
            self._wanted[function] = self._wanted.get(function, 0) + 1
        self._deployer.submit(self._apply_pending, function)

    def _apply_pending(self, function: str) -> None:
        with self._lock:
            wanted = self._wanted[function]
            if self._applied.get(function, 0) >= wanted:
                return
        try:
            self._apply(function)
        except Exception as exc:  # Serve refused the update: say so at the next advance()
            self._lt.errors.append(exc)
        with self._lock:
            self._applied[function] = max(self._applied.get(function, 0), wanted)

    def _apply(self, function: str) -> None:
        """``serve.run`` the function's application with its current size and pool (module docstring)."""
        self._serve.run(self._application(function), name=self._app(function), route_prefix=None)

    def _application(self, function: str) -> Any:
        config, target = self.configs[function], self.pools[function]
        keep_alive_w = target.keep_alive_s / self.time_scale
        cluster_cpu, _ = self._capacity.cluster()
        most = max(1, target.min_warm, int(cluster_cpu / config.cpu + 1e-9))
        version = hashlib.sha1(f"{self._token}/{function}".encode()).hexdigest()[:12]
        base = self._serve.deployment(ServeContainer).options(version=version, _internal=True)
        return base.options(
            name=function,
            ray_actor_options={"num_cpus": config.cpu, "memory": config.memory_mb * MIB},
            max_ongoing_requests=1,
            autoscaling_config={
                "min_replicas": target.min_warm,
                "initial_replicas": target.min_warm,
                "max_replicas": most,
                "target_ongoing_requests": 1,
                "upscale_delay_s": 0.0,
                "downscale_delay_s": keep_alive_w,
                "downscale_to_zero_delay_s": keep_alive_w,
            },
        ).bind(self._code[function], config.cpu, config.memory_mb, self.cpu_mode, self._registry_name)

    def _replicas(self) -> list[dict[str, Any]]:
        """The registry's replicas, with replicas whose actor is gone (killed, node lost) ended when first found."""
        replicas: list[dict[str, Any]] = self._ray.get(self._registry.snapshot.remote(), timeout=30)
        for r in replicas:
            if r["end_epoch"] is None and not self._actor_alive(r):
                r["end_epoch"] = self._gone.setdefault(r["replica_id"], time.time())
        return replicas

    def _actor_alive(self, replica: dict[str, Any]) -> bool:
        if replica["replica_id"] in self._gone:
            return False
        try:
            self._ray.get_actor(replica["actor_name"], namespace="serve")
        except ValueError:
            return False
        return True

    def _resolve(self, ref: Any, ray: Any, timeout_s: float | None) -> Any:
        if isinstance(ref, list):
            return [self._resolve(r, ray, timeout_s) for r in ref]
        return unwrap(ray.get(ref, timeout=timeout_s))

    def __repr__(self) -> str:
        return f"ServePlatform(token={self._token!r}, functions={sorted(self._code)})"
