"""Shared helpers of the Ray runtime tests: one local Ray (2 CPUs) per test session, workflows built inline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aquatope.workflow import Workflow, workflow_from_dict

WORKLOADS = Path(__file__).resolve().parent.parent / "runtime" / "workloads"
PERF = {
    "model": "parametric",
    "serial_ms": 5,
    "parallel_ms": 0,
    "max_parallelism": 1,
    "io_ms": 0,
    "working_set_mb": 64,
    "min_memory_mb": 32,
    "cv": 0.1,
    "cold_start_ms": 100,
}


def start_local_ray() -> bool:
    """Start a local Ray with 2 CPUs unless one runs already; True if this call started it."""
    import ray

    if ray.is_initialized():
        return False
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    return True


def inline_workflow(
    name: str,
    functions: dict[str, dict[str, Any]],
    stages: dict[str, Any] | None = None,
    qos_ms: float = 5000.0,
) -> Workflow:
    """A workflow whose handlers live in ``tests/runtime/workloads/rt_handlers.py``; each function is
    ``{handler, init?, timeout_s?, cpu?, memory_mb?}``; stages default to one stage per function, in a chain."""
    funcs = {
        f: {
            "resources": {"cpu": spec.get("cpu", 0.2), "memory_mb": spec.get("memory_mb", 256)},
            "perf": PERF,
            "handler": spec["handler"],
            **{key: spec[key] for key in ("init", "timeout_s") if key in spec},
        }
        for f, spec in functions.items()
    }
    if stages is None:
        names = list(functions)
        stages = {n: ({"after": [names[i - 1]]} if i else {}) for i, n in enumerate(names)}
    data = {"name": name, "qos": {"latency_ms": qos_ms}, "functions": funcs, "stages": stages}
    return workflow_from_dict(data, base_dir=WORKLOADS, source=str(WORKLOADS / f"{name}.yaml"))


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    """Poll ``condition`` every 50 ms until it holds; AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (Ray's raylet, GCS and workers below a driver), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` that still run (not zombies)."""
    out = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            out.add(pid)
    return out
