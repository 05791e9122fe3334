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
    """Pure-Python CPU work: ``n`` iterations; returns ``{"n", "seconds"}`` (so a next stage burns the same n)."""
    n = int(payload.get("n", 1_000_000)) if isinstance(payload, dict) else 1_000_000
    began = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return {"n": n, "seconds": time.perf_counter() - began}


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
