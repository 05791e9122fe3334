"""Shared helpers of the Ray runtime tests: one local Ray (2 CPUs) per test session, workflows built inline."""

from __future__ import annotations

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
    ``{handler, init?, cpu?, memory_mb?}``; stages default to one stage per function, in a chain."""
    funcs = {
        f: {
            "resources": {"cpu": spec.get("cpu", 0.2), "memory_mb": spec.get("memory_mb", 256)},
            "perf": PERF,
            "handler": spec["handler"],
            **({"init": spec["init"]} if "init" in spec else {}),
        }
        for f, spec in functions.items()
    }
    if stages is None:
        names = list(functions)
        stages = {n: ({"after": [names[i - 1]]} if i else {}) for i, n in enumerate(names)}
    data = {"name": name, "qos": {"latency_ms": qos_ms}, "functions": funcs, "stages": stages}
    return workflow_from_dict(data, base_dir=WORKLOADS, source=str(WORKLOADS / f"{name}.yaml"))
