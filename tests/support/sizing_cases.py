"""Small sizing problems for tests: a three-function chain whose optimum lies outside the starting design."""

from __future__ import annotations

from aquatope.perf import ParametricPerf
from aquatope.resources import Pricing, ResourceConfig, ResourceSpace
from aquatope.sizing import SizingProblem
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow

SMALL_SPACE = ResourceSpace.decoupled(cpu_range=(0.1, 4.0, 0.1), memory_range_mb=(128, 2048, 64))


def _perf(serial_ms: float, parallel_ms: float, io_ms: float) -> ParametricPerf:
    return ParametricPerf(
        serial_ms=serial_ms,
        parallel_ms=parallel_ms,
        max_parallelism=2,
        io_ms=io_ms,
        working_set_mb=256,
        min_memory_mb=128,
        cv=0.1,
        cold_start_ms=100,
    )


def three_chain(qos_ms: float = 700.0) -> Workflow:
    """a -> b -> c, each at 2 vCPU / 1024 MB by default (over-provisioned: the optimum is about 1 vCPU / 256 MB
    each, which no point of the starting design reaches)."""
    fns = {
        "a": FunctionSpec("a", _perf(60, 140, 20), ResourceConfig(2.0, 1024)),
        "b": FunctionSpec("b", _perf(100, 40, 30), ResourceConfig(2.0, 1024)),
        "c": FunctionSpec("c", _perf(30, 200, 10), ResourceConfig(2.0, 1024)),
    }
    stages = (Stage("a", "a"), Stage("b", "b", ("a",)), Stage("c", "c", ("b",)))
    return Workflow("three", QoS(qos_ms), fns, stages)


def three_problem(budget: int = 12, seed: int = 0, qos_ms: float = 700.0) -> SizingProblem:
    return SizingProblem(three_chain(qos_ms), SMALL_SPACE, Pricing.cloud_run(), budget=budget, seed=seed)
