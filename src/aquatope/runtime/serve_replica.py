"""What runs inside Ray Serve: the replica class of every function's deployment, and the replica registry.

A replica is a container (:class:`~aquatope.runtime.container.ContainerActor`: CPU quota, thread pools and memory
cap applied from inside, the function's ``init`` as its cold start) that Serve starts and stops. It calls the handler
with one invocation at a time (``max_ongoing_requests=1``) and returns a :class:`StageResult`: the status (outcome,
execution time, which replica, when it became ready) and the output. A downstream stage receives the upstream
results as Ray resolves them and unwraps their outputs, so payloads move replica to replica.

Serve reports replica counts, not lives, so each replica tells the platform's :class:`ReplicaRegistry` (a named actor)
when it started and became ready, which invocation it is running (a timeout must kill the right one), and when it
stops (``__del__``, Serve's graceful shutdown hook); replicas that die without stopping are found by the platform.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aquatope.runtime.container import ContainerActor
from aquatope.runtime.functions import BoundFunction
from aquatope.runtime.limits import release_cgroup

REGISTRY_NAMESPACE = "aquatope"


@dataclass(frozen=True)
class StageResult:
    """One invocation's status and output (the output is None when the invocation failed)."""

    status: dict[str, Any]
    value: Any


def unwrap(value: Any) -> Any:
    """The output inside a :class:`StageResult` (anything else is returned as is: the request's input)."""
    return value.value if isinstance(value, StageResult) else value


class ServeContainer(ContainerActor):
    """The class of every function's deployment (module docstring); Serve constructs it in a replica actor."""

    def __init__(self, function: BoundFunction, cpu: float, memory_mb: int, cpu_mode: str, registry: str) -> None:
        import ray

        began = time.time()
        self.replica_id = uuid.uuid4().hex[:12]
        super().__init__(function, cpu, memory_mb, f"serve-{self.replica_id}", cpu_mode, baseline_memory=True)
        self.ready_epoch = time.time()
        self.registry: Any = None
        with contextlib.suppress(Exception):
            self.registry = ray.get_actor(registry, namespace=REGISTRY_NAMESPACE)
        info = {
            **self.ready(),
            "replica_id": self.replica_id,
            "function": function.name,
            "cpu": cpu,
            "memory_mb": memory_mb,
            "start_epoch": began,
            "ready_epoch": self.ready_epoch,
            "actor_name": ray.get_runtime_context().get_actor_name(),
        }
        self._tell("started", info)

    def _tell(self, method: str, *args: Any) -> None:
        if self.registry is not None:
            with contextlib.suppress(Exception):
                getattr(self.registry, method).remote(*args)

    def __call__(self, meta: dict[str, Any], *inputs: Any) -> StageResult:
        """Run one invocation (``meta`` as :meth:`ContainerActor.invoke` takes it) on the unwrapped inputs."""
        if self.error is not None:  # the init failed: every invocation fails with its error
            return StageResult({"ok": False, "oom": False, "error": self.error, "exec_ms": 0.0, **self._me()}, None)
        self._tell("running", meta["key"], self.replica_id)
        status, out = self.invoke(meta, *(unwrap(x) for x in inputs))
        return StageResult({**status, **self._me()}, out)

    def _me(self) -> dict[str, Any]:
        return {"replica_id": self.replica_id, "ready_epoch": self.ready_epoch}

    def __del__(self) -> None:
        """Serve's graceful shutdown: say so, and remove the cgroup."""
        self._tell("ended", self.replica_id, time.time())
        release_cgroup(self.group)


class ReplicaRegistry:
    """Lives of the platform's replicas, told by the replicas themselves (a Ray actor, ``num_cpus=0``)."""

    def __init__(self) -> None:
        self.replicas: dict[str, dict[str, Any]] = {}
        self.running_on: dict[str, str] = {}

    def started(self, info: dict[str, Any]) -> None:
        self.replicas[info["replica_id"]] = {**info, "end_epoch": None}

    def running(self, key: str, replica_id: str) -> None:
        self.running_on[key] = replica_id

    def ended(self, replica_id: str, epoch: float) -> None:
        if replica_id in self.replicas and self.replicas[replica_id]["end_epoch"] is None:
            self.replicas[replica_id]["end_epoch"] = epoch

    def where(self, key: str) -> dict[str, Any] | None:
        """The replica running invocation ``key`` (None if it never started)."""
        replica = self.running_on.get(key)
        return None if replica is None else self.replicas.get(replica)

    def snapshot(self) -> list[dict[str, Any]]:
        return list(self.replicas.values())
