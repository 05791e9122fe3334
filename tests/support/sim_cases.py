from __future__ import annotations

from aquatope.perf import ParametricPerf
from aquatope.resources import ResourceConfig
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow

ONE = ResourceConfig(1.0, 1024)


def exact_perf(ms: float, cold_ms: float = 1000.0, min_memory_mb: int = 64) -> ParametricPerf:
    """Deterministic: ``ms`` of serial work at 1 vCPU, a cold start of ``cold_ms`` at 1 vCPU, no noise."""
    return ParametricPerf(
        serial_ms=ms,
        parallel_ms=0,
        max_parallelism=1,
        io_ms=0,
        working_set_mb=min_memory_mb,
        min_memory_mb=min_memory_mb,
        cv=0.0,
        cold_start_ms=cold_ms,
        cold_start_cv=0.0,
    )


def chain(name: str, stages: list[tuple[str, float]], qos_ms: float = 1000.0, fanout: int = 1) -> Workflow:
    """A sequence of stages with exact latencies; ``fanout`` applies to the middle stage of three."""
    fns = {n: FunctionSpec(n, exact_perf(ms), ONE) for n, ms in stages}
    out, prev = [], None
    for i, (n, _) in enumerate(stages):
        f = fanout if (len(stages) == 3 and i == 1) else 1
        out.append(Stage(n, n, (prev,) if prev else (), fanout=f, map_group=f"stage:{n}" if f > 1 else None))
        prev = n
    return Workflow(name, QoS(qos_ms), fns, tuple(out))


def map_chain(name: str, stages: list[tuple[str, float]], copies: int = 3) -> Workflow:
    """A source stage then stages mapped element-wise over ``copies`` chunks (one map group), exact latencies: copy
    ``k`` of each mapped stage starts when copy ``k`` before it ends."""
    fns = {n: FunctionSpec(n, exact_perf(ms), ONE) for n, ms in stages}
    (source, _), *mapped = stages
    out, prev = [Stage(source, source)], source
    for n, _ in mapped:
        out.append(Stage(n, n, (prev,), fanout=copies, map_group="chunks"))
        prev = n
    return Workflow(name, QoS(5000.0), fns, tuple(out))
