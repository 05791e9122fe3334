"""Executable specifications of the simulator's sources of uncertainty (exact timings on tiny cases).

Every case uses deterministic performance models (no noise): a function with ``ms`` of serial CPU work at 1 vCPU and
a cold start of 1 s; so latencies follow from the model's formulas and can be checked exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_cases import ONE, chain, exact_perf

from aquatope.platform import PoolTarget
from aquatope.sim import SimConfig, Simulator, Slowdown
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow

WARM = PoolTarget(min_warm=1, keep_alive_s=3600.0)


def _warm_pair(config: SimConfig) -> Simulator:
    """Two one-stage workflows ``a`` and ``b`` (1 s of CPU work each at 1 vCPU), one warm container each."""
    sim = Simulator(config, record_events=True)
    for name in ("a", "b"):
        sim.deploy(chain(name, [(name, 1000.0)], qos_ms=10_000))
        sim.set_pool(name, WARM)
    sim.advance(5.0)  # both containers ready (cold start 1 s)
    return sim


def _ends(sim: Simulator) -> dict[str, float]:
    return {r.workflow: round(r.end_s, 9) for r in sim.request_records()}


def test_interference_slows_invocations_that_overlap_on_one_invoker() -> None:
    # one invoker of 2 vCPU, slope 0.5: alone, a 1-vCPU invocation sees u = 0.5 and runs at 1 / 1.25 = 0.8;
    # together u = 1 and both run at 1 / 1.5
    sim = _warm_pair(SimConfig(invokers=1, invoker_cpu=2.0, invoker_memory_mb=4096, interference=0.5))
    sim.submit("a", np.array([10.0]))
    sim.submit("b", np.array([10.5]))
    sim.advance(math.inf)
    # a: 0.4 s of work by 10.5, then 0.6 s at 2/3 -> 11.4; b: 0.6 s of work by 11.4, then 0.4 s at 0.8 -> 11.9
    assert _ends(sim) == {"a": pytest.approx(11.4), "b": pytest.approx(11.9)}


def test_no_interference_between_invocations_on_different_invokers() -> None:
    # each container takes a whole invoker's memory, so a and b land on different invokers: each runs alone
    config = SimConfig(invokers=2, invoker_cpu=2.0, invoker_memory_mb=1024, interference=0.5)
    sim = _warm_pair(config)
    assert {c.function: c for c in sim.container_records()}["a"].config == ONE
    sim.submit("a", np.array([10.0]))
    sim.submit("b", np.array([10.5]))
    sim.advance(math.inf)
    assert _ends(sim) == {"a": pytest.approx(11.25), "b": pytest.approx(11.75)}  # 1 s at 0.8 each


def test_processor_sharing_above_the_invokers_cores() -> None:
    # 1 core, CPU overcommitted 2x, no contention slope: two 1-vCPU invocations share the core (half speed each)
    sim = _warm_pair(SimConfig(invokers=1, invoker_cpu=1.0, invoker_memory_mb=4096, cpu_overcommit=2.0))
    sim.submit("a", np.array([10.0]))
    sim.submit("b", np.array([10.0]))
    sim.advance(math.inf)
    assert _ends(sim) == {"a": pytest.approx(12.0), "b": pytest.approx(12.0)}
    busy = {c.function: c.busy_s for c in sim.container_records()}
    assert busy == {"a": pytest.approx(2.0), "b": pytest.approx(2.0)}  # the stretched time is billed


def test_io_time_is_not_slowed() -> None:
    io_bound = Workflow(
        "io",
        QoS(10_000),
        {"io": FunctionSpec("io", _perf(serial_ms=500, io_ms=500), ONE)},
        (Stage("io", "io"),),
    )
    sim = Simulator(SimConfig(invokers=1, invoker_cpu=1.0, invoker_memory_mb=4096, cpu_overcommit=2.0))
    sim.deploy(io_bound)
    sim.deploy(chain("b", [("b", 1000.0)], qos_ms=10_000))
    for name in ("io", "b"):
        sim.set_pool(name, WARM)
    sim.advance(5.0)
    sim.submit("io", np.array([10.0]))
    sim.submit("b", np.array([10.0]))
    sim.advance(math.inf)
    # io computes 0.5 s at half speed (1 s), then does 0.5 s of I/O alone; b gets the core to itself after 11.0
    ends = _ends(sim)
    assert ends["io"] == pytest.approx(11.5)
    assert ends["b"] == pytest.approx(11.5)  # 0.5 s of work by 11.0, then 0.5 s at full speed


def test_memory_bound_functions_have_their_own_slope() -> None:
    mem = Workflow(
        "m", QoS(10_000), {"m": FunctionSpec("m", exact_perf(1000.0), ONE, bound="memory")}, (Stage("m", "m"),)
    )
    config = SimConfig(invokers=1, invoker_cpu=2.0, invoker_memory_mb=4096, interference=0.0, interference_memory=1.0)
    sim = Simulator(config)
    sim.deploy(mem)
    sim.deploy(chain("b", [("b", 1000.0)], qos_ms=10_000))
    for name in ("m", "b"):
        sim.set_pool(name, WARM)
    sim.advance(5.0)
    sim.submit("m", np.array([10.0]))
    sim.submit("b", np.array([10.0]))
    sim.advance(math.inf)
    # together u = 1: the memory-bound invocation runs at 1 / 2, the CPU-bound one at full speed (ends at 11.0);
    # then m is alone (u = 0.5, rate 1 / 1.5): its remaining 0.5 s of work take 0.75 s
    assert _ends(sim) == {"m": pytest.approx(11.75), "b": pytest.approx(11.0)}


def test_cold_start_storm_exact_event_log() -> None:
    sim = Simulator(
        SimConfig(invokers=1, invoker_cpu=2.0, cpu_overcommit=4.0, cold_start_storm=1.0), record_events=True
    )
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", PoolTarget(min_warm=4, keep_alive_s=600.0))
    sim.advance(10.0)
    assert sim.events is not None
    log = [(round(t, 9), what, cid) for t, what, _, cid, _ in sim.events]
    # four containers start at once on a 2-core invoker, each start computing on 1 vCPU: the first two fit on the
    # cores (1x of 1 s), the third shares them three ways (1.5x), the fourth four ways (2x)
    assert log == [
        (0.0, "container-start", 0),
        (0.0, "container-start", 1),
        (0.0, "container-start", 2),
        (0.0, "container-start", 3),
        (1.0, "ready", 0),
        (1.0, "ready", 1),
        (1.5, "ready", 2),
        (2.0, "ready", 3),
    ]
    sim.set_pool("a", PoolTarget(min_warm=5, keep_alive_s=600.0))  # alone again: no storm
    sim.advance(20.0)
    assert sim.container_records()[4].ready_s - sim.container_records()[4].start_s == pytest.approx(1.0)


def test_transfer_delay_from_payload_size_and_latency() -> None:
    fns = {
        "a": FunctionSpec("a", exact_perf(100.0), ONE, output_mb=10.0),
        "b": FunctionSpec("b", exact_perf(300.0), ONE),
        "c": FunctionSpec("c", exact_perf(50.0), ONE),
    }
    stages = (Stage("a", "a"), Stage("b", "b"), Stage("c", "c", ("a", "b")))
    wf = Workflow("fanin", QoS(10_000), fns, stages)
    config = SimConfig(transfer_ms=10.0, transfer_inline_mb=0.25, transfer_storage_ms=30.0, transfer_mb_per_s=50.0)
    sim = Simulator(config, record_events=True)
    sim.deploy(wf)
    for name in fns:
        sim.set_pool(name, WARM)
    sim.advance(5.0)
    sim.submit("fanin", np.array([10.0]))
    sim.advance(math.inf)
    # a's 10 MB go through object storage: 10 ms hop + 30 ms + 10 / 50 s = 240 ms after a ends (10.34); b's small
    # payload goes inline: 10 ms after b ends (10.31); c starts when the later input is there
    (rec,) = sim.request_records()
    assert rec.latency_ms == pytest.approx(340.0 + 50.0)
    assert rec.stage_latency_ms["c"] == pytest.approx(50.0)
    assert sim.events is not None
    runs = {name: round(t, 9) for t, what, name, _, _ in sim.events if what == "run-warm"}
    assert runs == {"a": 10.0, "b": 10.0, "c": pytest.approx(10.34)}


def test_tenants_take_capacity_and_stay_invisible() -> None:
    # one invoker with room for two containers; a tenant's two long invocations hold both until t = 6
    sim = Simulator(SimConfig(invokers=1, invoker_cpu=4.0, invoker_memory_mb=2048), record_events=True)
    tenant = Workflow("tenant", QoS(60_000), {"t": FunctionSpec("t", exact_perf(5000.0), ONE)}, (Stage("t", "t"),))
    sim.deploy_background(tenant, pool=PoolTarget(0, 600.0))
    sim.submit("tenant", np.array([0.0, 0.0]))
    sim.deploy(chain("ours", [("a", 100.0)]))
    sim.submit("ours", np.array([2.0]))
    sim.advance(math.inf)
    (rec,) = sim.request_records()  # the tenant's requests are not ours to see
    # our container waited in the cluster queue until a tenant container fell idle at 6.0 and was evicted (LRU)
    assert rec.latency_ms == pytest.approx((7.1 - 2.0) * 1000.0)
    assert set(sim.observe()) == {"a"}
    assert {c.function for c in sim.container_records()} == {"a"}
    assert sim.tenant_figures()["invocations"] == 2
    assert sim.events is not None
    assert [(round(t, 9), what) for t, what, name, _, _ in sim.events if name == "a"][:3] == [
        (6.0, "container-start"),
        (7.0, "ready"),
        (7.0, "run-cold"),
    ]


def test_a_step_slowdown_shows_after_its_time_and_not_before() -> None:
    sim = Simulator(SimConfig(slowdowns=(Slowdown(100.0, "a", 2.0),)))
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", WARM)
    sim.submit("one", np.array([50.0, 99.0, 100.0, 150.0]))
    sim.advance(math.inf)
    assert [round(r.latency_ms, 6) for r in sim.request_records()] == [100.0, 100.0, 200.0, 200.0]


def test_diurnal_factor() -> None:
    sim = Simulator(SimConfig(diurnal_amplitude=0.5, diurnal_period_s=400.0, diurnal_peak_s=0.0))
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", WARM)
    sim.submit("one", np.array([400.0, 500.0, 600.0]))  # the peak, a quarter period later, the trough
    sim.advance(math.inf)
    assert [round(r.latency_ms, 6) for r in sim.request_records()] == [150.0, 100.0, 50.0]


def test_heavy_tails_multiply_some_draws_and_leave_the_others_alone() -> None:
    def latencies(prob: float) -> np.ndarray:
        sim = Simulator(SimConfig(heavy_tail_prob=prob, heavy_tail_alpha=2.0), seed=3)
        wf = Workflow("n", QoS(10_000), {"n": FunctionSpec("n", _perf(serial_ms=100, cv=0.2), ONE)}, (Stage("n", "n"),))
        sim.deploy(wf)
        sim.set_pool("n", WARM)
        sim.submit("n", np.arange(2000, dtype=float) * 1.0 + 10.0)
        sim.advance(math.inf)
        return np.array([r.latency_ms for r in sim.request_records()])

    base, tail = latencies(0.0), latencies(0.2)
    ratio = tail / base
    assert np.all(ratio >= 1.0 - 1e-12)  # the same base draws, some multiplied by a Pareto(2) factor >= 1
    hit = ratio > 1.0 + 1e-12
    assert 0.15 < hit.mean() < 0.25
    assert np.mean(ratio[hit]) == pytest.approx(2.0, rel=0.25)  # Pareto(alpha=2, scale 1) has mean 2


def test_noisy_neighbours_come_in_episodes_and_slow_what_computes_there() -> None:
    config = SimConfig(
        invokers=1, invoker_cpu=2.0, neighbour_rate_per_h=60.0, neighbour_duration_s=30.0, neighbour_cpu_share=2.0
    )
    sim = Simulator(config, seed=1)
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", WARM)
    sim.submit("one", np.arange(1.0, 600.0, 2.0))
    sim.advance(math.inf)  # the neighbours alone do not keep the run going
    assert not sim.pending()
    lat = np.array([r.latency_ms for r in sim.request_records()])
    episodes = sim.neighbours.episodes
    assert episodes and all(e > s for _, s, e in episodes)
    noisy = np.array([any(s <= r.arrival_s < e for _, s, e in episodes) for r in sim.request_records()])
    # alone on 2 cores u = 0.5 of nothing else: no slope, so 100 ms; with the neighbour on both cores u = 1.5: PS
    assert np.allclose(lat[~noisy], 100.0)
    assert np.all(lat[noisy] > 100.0)
    # slow requests come in runs: consecutive requests (2 s apart) are slow together
    runs = np.diff(np.flatnonzero(np.diff(noisy.astype(int)) != 0))
    assert noisy.sum() >= 10 and (runs.size == 0 or runs.max() >= 5)


def test_observations_report_mean_concurrency_and_observed_durations() -> None:
    sim = Simulator()
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", WARM)
    sim.advance(10.0)
    sim.observe()
    sim.submit("one", np.array([20.0, 20.05, 30.0]))
    sim.advance(60.0)
    obs = sim.observe()["a"]
    # 20.0-20.05 one in flight, 20.05-20.1 two (one waits for the container), 20.1-20.2 one; 30.0-30.1 one
    assert obs.inflight_s == pytest.approx(0.05 + 0.1 + 0.1 + 0.1)
    assert (obs.completed, obs.invocations) == (3, 3)
    assert obs.busy_s == pytest.approx(0.3)  # execution time only: the wait is not billed


def _perf(serial_ms: float, io_ms: float = 0.0, cv: float = 0.0):  # type: ignore[no-untyped-def]
    from aquatope.perf import ParametricPerf

    return ParametricPerf(
        serial_ms=serial_ms,
        parallel_ms=0,
        max_parallelism=1,
        io_ms=io_ms,
        working_set_mb=64,
        min_memory_mb=64,
        cv=cv,
        cold_start_ms=1000.0,
        cold_start_cv=0.0,
    )
