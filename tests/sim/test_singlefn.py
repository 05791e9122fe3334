"""Single-function mode: one one-stage workflow per trace function, from its durations and memory rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import aquatope
from aquatope.perf import PercentilePerf
from aquatope.resources import LAMBDA_MB_PER_VCPU, ResourceConfig
from aquatope.sim.singlefn import (
    AZURE_COLD_START_MS,
    DEFAULT_DURATION_MS,
    DEFAULT_MEMORY_MB,
    single_function_workflows,
)
from aquatope.traces import DurationStats, InvocationTrace, MemoryStats, load_trace

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"
PERCENTS = (0.0, 1.0, 25.0, 50.0, 75.0, 99.0, 100.0)
NAN = np.nan
FULL = [10.0, 20.0, 100.0, 200.0, 300.0, 1000.0, 5000.0]


def _trace(rows: list[list[float]], average_ms: list[float], memory_mb: list[float] | None) -> InvocationTrace:
    n = len(rows)
    durations = DurationStats(
        average_ms=average_ms,
        minimum_ms=[NAN] * n,
        maximum_ms=[NAN] * n,
        count=[NAN] * n,
        percentiles=PERCENTS,
        percentile_ms=rows,
    )
    memory = None
    if memory_mb is not None:
        memory = MemoryStats(
            average_mb=memory_mb, sample_count=[NAN] * n, percentiles=(50.0,), percentile_mb=[[NAN]] * n
        )
    ids = tuple(f"fn{i}" for i in range(n))
    return InvocationTrace(ids, np.ones((n, 3), dtype=np.int64), durations=durations, memory=memory)


def test_one_single_stage_workflow_per_function_named_by_its_id() -> None:
    fset = single_function_workflows(_trace([FULL, FULL], [300.0, 300.0], [256.0, 512.0]))
    assert [wf.name for wf in fset.workflows] == ["fn0", "fn1"]
    for wf in fset.workflows:
        assert list(wf.functions) == [wf.name]
        assert [(s.name, s.function, s.after, s.fanout) for s in wf.stages] == [(wf.name, wf.name, (), 1)]
        assert wf.kind == "analytics"
        assert wf.invocations_per_request() == {wf.name: 1}
    assert (fset.missing_durations, fset.missing_memory) == (0, 0)


def test_published_percentiles_are_reproduced() -> None:
    (wf,) = single_function_workflows(_trace([FULL], [300.0], [512.0])).workflows
    spec = wf.functions["fn0"]
    assert isinstance(spec.perf, PercentilePerf)
    for percent, ms in zip(PERCENTS[1:-1], FULL[1:-1], strict=True):
        assert spec.perf.latency_quantile_ms(spec.resources, percent / 100) == pytest.approx(ms), percent
    samples = spec.perf.sample_latency_ms(spec.resources, 10_000, np.random.default_rng(0))
    assert samples.min() >= FULL[0] and samples.max() <= FULL[-1] * (1 + 1e-12)
    assert spec.perf.cold_start_ms == AZURE_COLD_START_MS


def test_unknown_percentiles_are_skipped() -> None:
    row = [NAN, 20.0, NAN, 200.0, NAN, 1000.0, NAN]
    (wf,) = single_function_workflows(_trace([row], [300.0], [512.0])).workflows
    perf = wf.functions["fn0"].perf
    assert isinstance(perf, PercentilePerf)
    assert (perf.percents, perf.latencies_ms) == ((1.0, 50.0, 99.0), (20.0, 200.0, 1000.0))


def test_rows_without_percentiles_run_for_their_average_or_the_default_and_are_counted() -> None:
    one_point = [NAN, NAN, NAN, 70.0, NAN, NAN, NAN]  # a single percentile is not a distribution
    rows = [[NAN] * 7, one_point, [NAN] * 7, [NAN] * 7]
    fset = single_function_workflows(_trace(rows, [450.0, 80.0, NAN, 0.0], [512.0] * 4))
    constants = []
    for wf in fset.workflows:
        perf = wf.functions[wf.name].perf
        assert isinstance(perf, PercentilePerf)
        assert perf.percents == (0.0, 100.0) and perf.latencies_ms[0] == perf.latencies_ms[1]
        constants.append(perf.latencies_ms[0])
    # the average where it is known (and > 0), else DEFAULT_DURATION_MS; only the latter count as missing
    assert constants == [450.0, 80.0, DEFAULT_DURATION_MS, DEFAULT_DURATION_MS]
    assert fset.missing_durations == 2


def test_rows_without_memory_get_the_default_and_are_counted() -> None:
    fset = single_function_workflows(_trace([FULL] * 3, [300.0] * 3, [NAN, 0.0, 1024.0]))
    assert [wf.functions[wf.name].resources.memory_mb for wf in fset.workflows] == [
        DEFAULT_MEMORY_MB,
        DEFAULT_MEMORY_MB,
        1024,
    ]
    assert (fset.missing_durations, fset.missing_memory) == (0, 2)


def test_a_trace_without_statistics_uses_defaults_everywhere() -> None:
    trace = InvocationTrace(("a", "b"), np.ones((2, 5), dtype=np.int64))
    fset = single_function_workflows(trace)
    assert (fset.missing_durations, fset.missing_memory) == (2, 2)
    spec = fset.workflows[0].functions["a"]
    assert spec.resources == ResourceConfig(round(DEFAULT_MEMORY_MB / LAMBDA_MB_PER_VCPU, 3), DEFAULT_MEMORY_MB)
    assert spec.perf.latency_quantile_ms(spec.resources, 0.5) == pytest.approx(DEFAULT_DURATION_MS)


@pytest.mark.parametrize(
    ("memory_mb", "cpu", "memory"),
    [
        (1769.0, 1.0, 1769),
        (3538.0, 2.0, 3538),
        (884.5, 0.5, 884),  # memory rounds half to even; cpu = 884.5 / 1769
        (256.0, 0.145, 256),  # 0.1447... rounded to 3 decimals
        (50.0, 0.05, 50),  # 0.028 vCPU raised to the 0.05 floor
    ],
)
def test_cpu_is_the_lambda_share_of_memory(memory_mb: float, cpu: float, memory: int) -> None:
    (wf,) = single_function_workflows(_trace([FULL], [300.0], [memory_mb])).workflows
    assert wf.functions["fn0"].resources == ResourceConfig(cpu, memory)


@pytest.mark.parametrize(
    ("p99_ms", "target_ms"),
    [
        (1000.0, 1500.0),  # 1.5 x p99 when that is the larger
        (100.0, 200.0),  # p99 + 100 ms for short functions
        (200.0, 300.0),  # the two rules meet at 200 ms
    ],
)
def test_qos_target_is_one_and_a_half_p99_at_least_p99_plus_100ms(p99_ms: float, target_ms: float) -> None:
    row = [1.0, 1.0, 1.0, 1.0, 1.0, p99_ms, 2 * p99_ms]
    (wf,) = single_function_workflows(_trace([row], [50.0], [512.0])).workflows
    assert wf.qos.latency_ms == pytest.approx(target_ms)
    assert wf.qos.percentile == 99.0


def test_cold_start_median_can_be_chosen() -> None:
    (wf,) = single_function_workflows(_trace([FULL], [300.0], [512.0]), cold_start_ms=250.0).workflows
    perf = wf.functions["fn0"].perf
    assert isinstance(perf, PercentilePerf) and perf.cold_start_ms == 250.0


def test_bundled_sample_has_full_statistics_and_rows_are_reproduced() -> None:
    trace = load_trace(SAMPLE)
    fset = single_function_workflows(trace)
    assert len(fset.workflows) == trace.n_functions == 250
    assert (fset.missing_durations, fset.missing_memory) == (0, 0)
    assert [wf.name for wf in fset.workflows] == list(trace.function_ids)
    assert trace.durations is not None and trace.memory is not None
    for i in (0, 2, 4):  # rows with distinct percentiles
        wf = fset.workflows[i]
        spec = wf.functions[wf.name]
        row = np.maximum.accumulate(trace.durations.percentile_ms[i])
        got = [spec.perf.latency_quantile_ms(spec.resources, p / 100) for p in (1, 25, 50, 75, 99)]
        assert got == pytest.approx(row[1:6].tolist())
        assert spec.resources.memory_mb == round(trace.memory.average_mb[i])
