from __future__ import annotations

import math

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.resources import ResourceConfig
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow


class FixedPerf:
    """A deterministic perf model: latency = ms / cpu, fails below 128 MB."""

    def __init__(self, ms: float) -> None:
        self.ms = ms

    def sample_latency_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        value = math.nan if config.memory_mb < 128 else self.ms / config.cpu
        return np.full(n, value)

    def sample_cold_start_ms(self, config: ResourceConfig, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.full(n, 100.0)

    def latency_quantile_ms(self, config: ResourceConfig, q: float) -> float:
        return self.ms / config.cpu

    def fails(self, config: ResourceConfig) -> bool:
        return config.memory_mb < 128

    def describe(self) -> str:
        return f"fixed {self.ms} ms"


def fn(name: str, ms: float) -> FunctionSpec:
    return FunctionSpec(name, FixedPerf(ms), ResourceConfig(1.0, 256))  # type: ignore[arg-type]


def make(stages: list[Stage], fns: dict[str, float] | None = None) -> Workflow:
    fns = fns or {s.function: 10.0 for s in stages}
    return Workflow("wf", QoS(1000), {k: fn(k, v) for k, v in fns.items()}, tuple(stages))


def test_qos_validation() -> None:
    assert QoS(500, 99).quantile == pytest.approx(0.99)
    with pytest.raises(InputError, match="qos.latency_ms"):
        QoS(0)
    with pytest.raises(InputError, match="qos.percentile"):
        QoS(100, 100)


def test_topological_order_and_shape_helpers() -> None:
    wf = make([Stage("d", "d", ("b", "c")), Stage("b", "b", ("a",)), Stage("c", "c", ("a",)), Stage("a", "a")])
    assert [s.name for s in wf.stages] == ["a", "b", "c", "d"]
    assert wf.sources() == ("a",) and wf.sinks() == ("d",)
    assert wf.successors("a") == ("b", "c")
    assert wf.function_names == ("a", "b", "c", "d")


def test_refuses_cycles_unknown_edges_and_bad_fanout() -> None:
    with pytest.raises(InputError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        make([Stage("a", "a", ("b",)), Stage("b", "b", ("a",))])
    with pytest.raises(InputError, match=r"stages\.b\.after.*unknown stage 'zz'"):
        make([Stage("a", "a"), Stage("b", "b", ("zz",))])
    with pytest.raises(InputError, match=r"stages\.a\.function"):
        Workflow("wf", QoS(1), {"x": fn("x", 1)}, (Stage("a", "nope"),))
    with pytest.raises(InputError, match=r"stages\.a\.fanout"):
        make([Stage("a", "a", fanout=0)])
    with pytest.raises(InputError, match="duplicate stage"):
        make([Stage("a", "a"), Stage("a", "a")])
    with pytest.raises(InputError, match="at least one stage"):
        Workflow("wf", QoS(1), {"x": fn("x", 1)}, ())


def test_end_to_end_sequence_parallel_fanin() -> None:
    wf = make([Stage("a", "a"), Stage("b", "b", ("a",)), Stage("c", "c", ("a",)), Stage("d", "d", ("b", "c"))])
    lat = {
        "a": np.array([1.0, 2.0]),
        "b": np.array([10.0, 1.0]),
        "c": np.array([3.0, 7.0]),
        "d": np.array([1.0, 1.0]),
    }
    assert wf.end_to_end_ms(lat).tolist() == [12.0, 10.0]
    assert wf.end_to_end_ms(lat, transfer_ms=5).tolist() == [22.0, 20.0]  # two edges on the critical path
    assert wf.critical_path({"a": 1, "b": 10, "c": 3, "d": 1}) == (["a", "b", "d"], 12.0)


def test_map_group_is_elementwise_and_fanout_is_a_barrier() -> None:
    # split -> (w -> t) x2 element-wise -> merge
    stages = [
        Stage("split", "split"),
        Stage("w", "w", ("split",), fanout=2, map_group="chunks"),
        Stage("t", "t", ("w",), fanout=2, map_group="chunks"),
        Stage("merge", "merge", ("t",)),
    ]
    wf = make(stages)
    lat = {
        "split": np.array([[1.0]]),
        "w": np.array([[10.0, 1.0]]),
        "t": np.array([[1.0, 20.0]]),
        "merge": np.array([[2.0]]),
    }
    # chunk 0: 1+10+1 = 12, chunk 1: 1+1+20 = 22 -> merge ends at 24 (element-wise), not 1+10+20+2 = 33
    assert wf.end_to_end_ms(lat).tolist() == [24.0]
    # Without a shared group the second fan-out waits for all copies of the first: 1 + 10 + 20 + 2
    barrier = make(
        [
            Stage("split", "split"),
            Stage("w", "w", ("split",), 2, "g1"),
            Stage("t", "t", ("w",), 2, "g2"),
            Stage("merge", "merge", ("t",)),
        ]
    )
    assert barrier.end_to_end_ms(lat).tolist() == [33.0]
    assert wf.invocations_per_request() == {"split": 1, "w": 2, "t": 2, "merge": 1}


def test_failed_invocation_fails_request() -> None:
    wf = make([Stage("a", "a"), Stage("b", "b", ("a",), fanout=3)])
    out = wf.end_to_end_ms({"a": np.array([1.0, 1.0]), "b": np.array([[1.0, np.nan, 1.0], [1.0, 2.0, 3.0]])})
    assert np.isnan(out[0]) and out[1] == 4.0


def test_sample_end_to_end_uses_configs() -> None:
    wf = make([Stage("a", "a"), Stage("b", "b", ("a",))], {"a": 100.0, "b": 50.0})
    rng = np.random.default_rng(0)
    assert wf.sample_end_to_end_ms(None, 3, rng).tolist() == [150.0] * 3
    fast = {"a": ResourceConfig(2.0, 256), "b": ResourceConfig(0.5, 256)}
    assert wf.sample_end_to_end_ms(fast, 2, rng).tolist() == [150.0, 150.0]
    oom = {"a": ResourceConfig(1.0, 64), "b": ResourceConfig(1.0, 256)}
    assert np.isnan(wf.sample_end_to_end_ms(oom, 2, rng)).all()
