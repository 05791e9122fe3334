"""A container: one Ray actor running one function, one invocation at a time, its limits enforced from inside.

The actor's constructor is the cold start: it applies the CPU limit (:mod:`aquatope.runtime.limits`), runs the
function's ``init`` and caps memory; ``ready()`` returns when that is done, with the timing and the enforcement
mode. A constructor error is kept and reported by ``ready()`` (the start failed), not raised, so the platform can
fail the waiting invocation with the function's own error.

``invoke(meta, *inputs)`` returns two objects (``num_returns=2``): a small status dict that the driver awaits (with,
after a successful invocation, ``peak_mb``: the process's peak resident memory beyond the replica baseline, which
the platform reports as the container's peak memory), and the output, which stays in Ray's object store and is
passed by reference to the next stage's actor. A handler that raises gives ``ok: False`` and the error; ``MemoryError`` is reported as out of memory (``oom: True``) and the
platform retires the container. The actor never raises from ``invoke``: a Ray error on the driver means the actor
itself died.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from typing import Any

from aquatope.runtime.functions import BoundFunction, Invocation, assemble_payload
from aquatope.runtime.limits import (
    Enforcement,
    InitOutOfMemory,
    cap_memory,
    detect_cpu_mode,
    join_cpu_cgroup,
    limit_loaded_pools,
    memory_figures,
    peak_resident_mb,
    release_cgroup,
    set_thread_env,
    sweep_stale,
)


def _error_text(exc: BaseException) -> str:
    """``Type: message`` and the innermost frame of the user's code (one line)."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


class ContainerActor:
    """The body of a container actor (wrapped by ``ray.remote`` in :mod:`aquatope.runtime.pool`)."""

    def __init__(
        self,
        function: BoundFunction,
        cpu: float,
        memory_mb: int,
        name: str,
        cpu_mode: str = "auto",
        baseline_memory: bool = False,
    ) -> None:
        """``baseline_memory``: count ``memory_mb`` from the process's resident set now, before the function's
        init (a Serve replica's own machinery is the platform's, not the function's)."""
        began = time.perf_counter()
        baseline = memory_figures()[1] if baseline_memory else 0
        self.baseline = baseline
        self.function = function
        self.error: str | None = None
        self.group = None
        sweep_stale()
        mode = detect_cpu_mode() if cpu_mode == "auto" else cpu_mode
        if mode != "threads":
            self.group = join_cpu_cgroup(name, cpu, mode)
            if self.group is None:
                mode = "threads"
        threads = set_thread_env(cpu)
        limit_loaded_pools(threads)
        self.state: Any = None
        memory_mode = "ray"
        try:
            if function.init is not None:
                self.state = function.init()
            limit_loaded_pools(threads)  # init may have loaded numeric libraries
            memory_mode = cap_memory(memory_mb, baseline)
        except InitOutOfMemory as exc:
            self.error = str(exc)
        except MemoryError as exc:
            self.error = f"out of memory during init (limit {memory_mb} MB): {_error_text(exc)}"
        except BaseException as exc:
            self.error = f"init failed: {_error_text(exc)}"
        self.enforcement = Enforcement(mode, memory_mode, threads)
        self.init_ms = (time.perf_counter() - began) * 1000.0

    def ready(self) -> dict[str, Any]:
        """Called once the actor exists: the start's outcome, timing and enforcement mode."""
        node_id = None
        with contextlib.suppress(Exception):
            import ray

            node_id = ray.get_runtime_context().get_node_id()
        return {
            "pid": os.getpid(),
            "node_id": node_id,
            "init_ms": self.init_ms,
            "error": self.error,
            "cpu_mode": self.enforcement.cpu,
            "memory_mode": self.enforcement.memory,
            "threads": self.enforcement.threads,
        }

    def invoke(self, meta: dict[str, Any], *inputs: Any) -> tuple[dict[str, Any], Any]:
        """Run the handler on the payload assembled from ``inputs``; (status, output)."""
        began = time.perf_counter()
        fn = self.function
        try:
            payload = assemble_payload(meta["shape"], inputs)
            if fn.wants_ctx:
                ctx = Invocation(meta["request_id"], meta["stage"], meta["copy"], meta["fanout"], self.state)
                out = fn.handler(payload, ctx)
            else:
                out = fn.handler(payload)
        except MemoryError as exc:
            status = {
                "ok": False,
                "oom": True,
                "error": f"out of memory (limit {meta['memory_mb']} MB): {_error_text(exc)}",
            }
            return {**status, "exec_ms": (time.perf_counter() - began) * 1000.0}, None
        except Exception as exc:
            status = {"ok": False, "oom": False, "error": _error_text(exc)}
            return {**status, "exec_ms": (time.perf_counter() - began) * 1000.0}, None
        exec_ms = (time.perf_counter() - began) * 1000.0
        return {
            "ok": True,
            "oom": False,
            "error": None,
            "exec_ms": exec_ms,
            "peak_mb": peak_resident_mb(self.baseline),
        }, out

    def pid(self) -> int:
        return os.getpid()

    def __ray_shutdown__(self) -> None:
        """Graceful exit: leave and remove the container's cgroup."""
        release_cgroup(self.group)
