from __future__ import annotations

import math

import numpy as np
import pytest
from sim_cases import chain

from aquatope.resources import Pricing, ResourceConfig, ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing import Measurer, SizingProblem
from aquatope.workflow import load_workflow


def test_measures_warm_requests_one_after_another() -> None:
    wf = chain("two", [("a", 100.0), ("b", 50.0)], qos_ms=201.0)
    problem = SizingProblem(wf, ResourceSpace.decoupled(), Pricing.cloud_run())
    sim = Simulator()
    m = Measurer(sim, problem, k=5).measure({"a": ResourceConfig(1.0, 1024), "b": ResourceConfig(0.5, 512)})
    # exact perf models: a takes 100 ms, b takes 50 ms / 0.5 vCPU = 100 ms; no cold start ever reaches a request
    assert m.latency_ms.tolist() == pytest.approx([200.0] * 5)
    assert all(r.cold_starts == 0 for r in sim.request_records())
    assert m.latency_pctl_ms == pytest.approx(200.0) and m.feasible and m.slack == pytest.approx(math.log(200 / 201))
    assert m.stage_latency_ms["b"].tolist() == pytest.approx([100.0] * 5)
    price = Pricing.cloud_run()
    expected = 0.1 * price.usd_per_second(ResourceConfig(1.0, 1024)) + 0.1 * price.usd_per_second(
        ResourceConfig(0.5, 512)
    )
    assert m.cost_per_request_usd == pytest.approx(expected + 2 * price.usd_per_request)
    arrivals = [r.arrival_s for r in sim.request_records()]
    ends = [r.end_s for r in sim.request_records()]
    assert all(a >= e for a, e in zip(arrivals[1:], ends[:-1], strict=True))  # strictly sequential


def test_failed_requests_make_a_measurement_infeasible() -> None:
    wf = chain("one", [("a", 100.0)], qos_ms=1000.0)
    problem = SizingProblem(wf, ResourceSpace.decoupled())
    m = Measurer(Simulator(), problem, k=3).measure({"a": ResourceConfig(1.0, 32)})
    assert m.failed == 3 and not m.feasible and m.latency_pctl_ms == float("inf") and m.slack > 0


def test_fanout_prewarms_one_container_per_copy_and_disturbance_inflates() -> None:
    wf = load_workflow("chatbot")
    problem = SizingProblem(wf, ResourceSpace.decoupled())
    sim = Simulator(seed=3)
    measurer = Measurer(sim, problem, k=4, disturbance_prob=1.0, disturbance_factor=3.0)
    clean = Measurer(Simulator(seed=3), problem, k=4).measure(wf.default_configs())
    dirty = measurer.measure(wf.default_configs())
    assert all(r.cold_starts == 0 for r in sim.request_records())
    assert np.allclose(dirty.latency_ms, 3.0 * clean.latency_ms)


def test_steps_yield_times_and_let_the_caller_work_in_between() -> None:
    wf = chain("two", [("a", 100.0), ("b", 50.0)], qos_ms=201.0)
    problem = SizingProblem(wf, ResourceSpace.decoupled(), Pricing.cloud_run())
    sim = Simulator()
    measurer = Measurer(sim, problem, k=3)
    gen = measurer.steps({"a": ResourceConfig(1.0, 1024), "b": ResourceConfig(0.5, 512)})
    times = []
    try:
        while True:
            t = next(gen)
            assert t > sim.now_s  # always a time ahead
            times.append(t)
            sim.advance(t)
    except StopIteration as done:
        m = done.value
    assert m.latency_ms.tolist() == pytest.approx([200.0] * 3) and len(times) > 3
    direct = Measurer(Simulator(), problem, k=3).measure(
        {"a": ResourceConfig(1.0, 1024), "b": ResourceConfig(0.5, 512)}
    )
    assert direct.latency_ms.tolist() == m.latency_ms.tolist()


def test_reads_only_its_own_workflow_on_a_shared_platform() -> None:
    mine = chain("mine", [("a", 100.0)], qos_ms=500.0)
    other = chain("other", [("x", 300.0)], qos_ms=500.0)
    sim = Simulator()
    sim.deploy(other)
    sim.submit("other", np.arange(0.0, 30.0, 0.05))  # a busy neighbour workflow, overlapping the measurement
    problem = SizingProblem(mine, ResourceSpace.decoupled(), Pricing.cloud_run())
    m = Measurer(sim, problem, k=4).measure({"a": ResourceConfig(1.0, 1024)})
    assert m.latency_ms.tolist() == pytest.approx([100.0] * 4)  # other's 300 ms requests never enter
    assert m.busy_s == pytest.approx({"a": 0.1})  # and other's busy containers are not billed to it
    assert m.cost_per_request_usd == pytest.approx(
        Pricing.cloud_run().container_cost_usd(ResourceConfig(1.0, 1024), 0.1) + Pricing.cloud_run().usd_per_request
    )


def test_disturbances_come_in_runs_with_the_asked_long_run_share() -> None:
    wf = chain("one", [("a", 10.0)], qos_ms=1000.0)
    problem = SizingProblem(wf, ResourceSpace.decoupled())
    runs = Measurer(Simulator(), problem, k=2, disturbance_prob=0.2, disturbance_run=4.0, seed=1)
    coins = Measurer(Simulator(), problem, k=2, disturbance_prob=0.2, seed=1)
    for measurer in (runs, coins):
        for _ in range(400):
            measurer._disturb()

    def mean_run(flags: list[bool]) -> float:
        lengths, n = [], 0
        for f in [*flags, False]:
            if f:
                n += 1
            elif n:
                lengths.append(n)
                n = 0
        return float(np.mean(lengths))

    assert 0.13 < np.mean(runs.disturbed) < 0.27 and 0.13 < np.mean(coins.disturbed) < 0.27
    assert mean_run(runs.disturbed) > 2.5 > 1.5 > mean_run(coins.disturbed)


def test_a_configuration_whose_containers_cannot_start_is_a_failed_measurement() -> None:
    """Another workflow's long invocations hold the only invoker's memory (busy containers cannot be evicted): the
    measured function's container waits in the cluster queue; after READY_LIMIT_S of platform time the measurement
    is failed (every request), not an exception that ends the sizing run. Once the room is freed, it works again."""
    from aquatope.sim import SimConfig

    wf = chain("one", [("a", 100.0)], qos_ms=500.0)
    hog = chain("hog", [("h", 2_000_000.0)], qos_ms=500.0)  # 2000 s per invocation
    problem = SizingProblem(wf, ResourceSpace.decoupled(), Pricing.cloud_run(), 5, 0)
    sim = Simulator(SimConfig(invokers=1, invoker_cpu=4.0, invoker_memory_mb=2048))
    sim.deploy(hog)
    sim.set_resources("h", ResourceConfig(cpu=1.0, memory_mb=1024))
    sim.submit("hog", np.array([0.0, 0.0]))
    sim.advance(10.0)
    measurer = Measurer(sim, problem, k=3)
    m = measurer.measure({"a": ResourceConfig(cpu=1.0, memory_mb=1024)})
    assert m.failed == 3 and len(m.latency_ms) == 3
    sim.advance(2100.0)  # the hog's invocations end
    assert measurer.measure({"a": ResourceConfig(cpu=1.0, memory_mb=1024)}).failed == 0


def test_a_straggler_past_the_deadline_is_a_failed_request_and_never_taken_for_a_later_one() -> None:
    """A request still running 100x the target (+60 s) after it was sent fails the measurement instead of raising
    (it ended whole sizing runs before). Measured again at once (a confirmation), the straggler finishes while the
    next measurement's first request runs: its record must not be taken for that request's."""
    wf = chain("one", [("a", 50_000.0)], qos_ms=1000.0)  # 50 s at 1 vCPU; the deadline is 100 x 1 s + 60 s
    problem = SizingProblem(wf, ResourceSpace.decoupled(), Pricing.cloud_run(), 5, 0)
    sim = Simulator()
    measurer = Measurer(sim, problem, k=3)
    slow = {"a": ResourceConfig(cpu=0.25, memory_mb=1024)}  # 200 s a request
    first = measurer.measure(slow)
    assert first.failed == 3 and not first.feasible and len(first.latency_ms) == 3
    again = measurer.measure(slow)
    assert [r.latency_ms for r in sim.request_records()] == pytest.approx([200_000.0])  # the straggler, meanwhile
    assert again.failed == 3
    fast = measurer.measure({"a": ResourceConfig(cpu=1.0, memory_mb=1024)})
    assert fast.failed == 0 and fast.latency_ms.tolist() == pytest.approx([50_000.0] * 3)


def test_reports_each_functions_peak_memory_at_the_measured_size() -> None:
    wf = load_workflow("video-processing")  # working sets: split 512, watermark 768, transcode 1024 MB
    problem = SizingProblem(wf, ResourceSpace.decoupled(), Pricing.cloud_run())
    measurer = Measurer(Simulator(), problem, k=2)
    big = {f: ResourceConfig(2.0, 2048) for f in wf.function_names}
    assert measurer.measure(big).memory_used_mb == {f: wf.functions[f].perf.working_set_mb for f in wf.function_names}
    small = {**big, "transcode": ResourceConfig(2.0, 896)}  # below its working set: it holds all it has
    used = measurer.measure(small).memory_used_mb
    assert used["transcode"] == 896.0 and used["split"] == 512.0  # the 2,048-MB transcode containers do not count
