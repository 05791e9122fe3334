"""Handlers of the runtime tests' workflows (shipped to the container actors by value, as user code is)."""

from __future__ import annotations

import os
import time
from typing import Any


def slow_init() -> dict[str, Any]:
    """A visible cold start: 0.4 s of 'model loading'."""
    time.sleep(0.4)
    return {"loaded": True}


def step(payload: Any, ctx: Any) -> dict[str, Any]:
    """Sleep ``sleep_ms`` (from the request input, passed along the chain); record the path taken."""
    base = payload if isinstance(payload, dict) else {"input": payload}
    time.sleep(float(base.get("sleep_ms", 0)) / 1000.0)
    return {**base, "path": [*base.get("path", []), f"{ctx.stage}[{ctx.copy}]"], "state": ctx.state}


def noop(payload: Any) -> Any:
    return payload


def collect(payload: Any, ctx: Any) -> dict[str, Any]:
    """Fan-in: what arrived, as a shape description."""
    if isinstance(payload, list):
        return {"kind": "list", "n": len(payload), "copies": [p["path"][-1] for p in payload]}
    if isinstance(payload, dict) and "path" not in payload:
        return {"kind": "dict", "keys": sorted(payload)}
    return {"kind": "single"}


def burn(payload: Any) -> dict[str, float]:
    """Pure-Python CPU work: ``n`` iterations; returns ``{"n", "seconds", "cpu_s", "pid"}`` (wall and CPU seconds
    of the work; a next stage burns the same n)."""
    n = int(payload.get("n", 1_000_000)) if isinstance(payload, dict) else 1_000_000
    began, cpu = time.perf_counter(), time.process_time()
    x = 0
    for i in range(n):
        x += i
    return {"n": n, "seconds": time.perf_counter() - began, "cpu_s": time.process_time() - cpu, "pid": os.getpid()}


def boom(payload: Any) -> None:
    raise ValueError("boom: the function failed on purpose")


def hog(payload: Any) -> int:
    """Allocate ``mb`` MB and touch it."""
    import numpy as np

    mb = int(payload.get("mb", 64)) if isinstance(payload, dict) else 64
    block = np.ones(mb * 1024 * 1024 // 8)
    return int(block.size)


def pid_sleep(payload: Any) -> int:
    time.sleep(float(payload.get("sleep_ms", 0)) / 1000.0 if isinstance(payload, dict) else 0.0)
    return os.getpid()


def failing_init() -> None:
    raise RuntimeError("model file missing")


def maybe_hang(payload: Any) -> int:
    """Never returns when the input says ``{"hang": true}`` (a handler stuck on I/O); else returns its pid."""
    if isinstance(payload, dict) and payload.get("hang"):
        while True:
            time.sleep(3600)
    return os.getpid()


def exit_now(payload: Any) -> None:
    """Ends its own process, as a handler calling ``os._exit`` (or crashing the interpreter) does."""
    os._exit(3)


def nap(payload: Any) -> int:
    """Sleeps 0.3 s (a short I/O-bound function)."""
    time.sleep(0.3)
    return os.getpid()


def where(payload: Any) -> dict[str, Any]:
    """Sleeps ``sleep_ms``; returns the pid and the Ray node it ran on."""
    import ray

    time.sleep(float(payload.get("sleep_ms", 0)) / 1000.0 if isinstance(payload, dict) else 0.0)
    return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}
