"""Executable specifications of the simulator's semantics (module docstring of aquatope.sim.engine)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_cases import ONE, chain, exact_perf, map_chain

from aquatope.errors import InputError
from aquatope.platform import Platform, PoolTarget
from aquatope.resources import Pricing, ResourceConfig
from aquatope.sim import SimConfig, Simulator
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow


def test_simulator_is_a_platform() -> None:
    assert isinstance(Simulator(), Platform)


def test_exact_event_log_cold_warm_and_cold_after_eviction() -> None:
    wf = chain("two", [("a", 100.0), ("b", 50.0)])
    sim = Simulator(record_events=True, default_pool=PoolTarget(0, 10.0))
    sim.deploy(wf)
    sim.submit("two", np.array([0.0, 5.0, 30.0]))
    sim.advance(100.0)
    assert sim.events is not None
    log = [(round(t, 6), what, name, cid, rid) for t, what, name, cid, rid in sim.events]
    assert log == [
        (0.0, "container-start", "a", 0, -1),  # request 0 arrives: no container, cold start (1 s)
        (1.0, "ready", "a", 0, -1),
        (1.0, "run-cold", "a", 0, 0),
        (1.1, "end", "a", 0, 0),
        (1.1, "container-start", "b", 1, -1),
        (2.1, "ready", "b", 1, -1),
        (2.1, "run-cold", "b", 1, 0),
        (2.15, "end", "b", 1, 0),
        (2.15, "request-done", "two", -1, 0),
        (5.0, "run-warm", "a", 0, 1),  # request 1: both containers still warm
        (5.1, "end", "a", 0, 1),
        (5.1, "run-warm", "b", 1, 1),
        (5.15, "end", "b", 1, 1),
        (5.15, "request-done", "two", -1, 1),
        (15.1, "evict", "a", 0, -1),  # keep-alive (10 s) ran out; applied lazily at the next arrival
        (30.0, "container-start", "a", 2, -1),
        (31.0, "ready", "a", 2, -1),
        (31.0, "run-cold", "a", 2, 2),
        (31.1, "end", "a", 2, 2),
        (15.15, "evict", "b", 1, -1),
        (31.1, "container-start", "b", 3, -1),
        (32.1, "ready", "b", 3, -1),
        (32.1, "run-cold", "b", 3, 2),
        (32.15, "end", "b", 3, 2),
        (32.15, "request-done", "two", -1, 2),
    ]
    recs = sim.request_records()
    assert [round(r.latency_ms, 6) for r in recs] == [2150.0, 150.0, 2150.0]
    assert [r.cold_starts for r in recs] == [2, 0, 2]
    assert recs[0].stage_latency_ms == pytest.approx({"a": 1100.0, "b": 1050.0})
    containers = {c.container_id: c for c in sim.container_records()}
    assert (containers[0].start_s, containers[0].ready_s, containers[0].end_s) == (0.0, 1.0, pytest.approx(15.1))
    assert containers[0].busy_s == pytest.approx(0.2) and containers[0].invocations == 2
    assert containers[2].end_s == pytest.approx(41.1)  # idle since 31.1, evicted 10 s later
    assert containers[3].end_s == pytest.approx(42.15)


def test_arrival_at_the_instant_a_container_frees_is_warm() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator()
    sim.deploy(wf)
    sim.submit("one", np.array([0.0, 1.1]))  # the container frees at exactly 1.1
    sim.advance(math.inf)
    assert [r.cold_starts for r in sim.request_records()] == [1, 0]


def test_cost_arithmetic_on_a_hand_computed_case() -> None:
    wf = chain("one", [("a", 500.0)])
    sim = Simulator(SimConfig(pricing="cloud-run"), default_pool=PoolTarget(0, 2.0))
    sim.deploy(wf, {"a": ResourceConfig(2.0, 2048)})
    sim.submit("one", np.array([0.0]))
    sim.advance(60.0)
    from aquatope.experiments.simulate import summarize

    m = summarize(sim, 60.0)
    # serial work gains nothing past 1 vCPU: cold start 1 s, run 0.5 s, idle 2 s -> the container dies at 3.5 s
    (c,) = sim.container_records()
    assert (c.ready_s, c.end_s, c.busy_s) == (pytest.approx(1.0), pytest.approx(3.5), pytest.approx(0.5))
    price = Pricing.cloud_run()
    per_s = 2.0 * price.usd_per_vcpu_s + 2.0 * price.usd_per_gb_s
    assert m.cost_usd["execution"] == pytest.approx(0.5 * per_s)
    assert m.cost_usd["idle"] == pytest.approx(3.0 * per_s)
    assert m.cost_usd["requests"] == pytest.approx(price.usd_per_request)
    assert m.cost_usd["total"] == pytest.approx(3.5 * per_s + price.usd_per_request)
    assert m.idle_gb_s == pytest.approx(3.0 * 2.0)


def test_conservation_every_arrival_ends_exactly_once() -> None:
    rng = np.random.default_rng(3)
    fns = {
        "split": FunctionSpec("split", exact_perf(20, 300), ONE),
        "work": FunctionSpec("work", exact_perf(200, 500, min_memory_mb=64), ResourceConfig(1.0, 128)),
        "merge": FunctionSpec("merge", exact_perf(30, 300), ONE),
    }
    stages = (
        Stage("split", "split"),
        Stage("work", "work", ("split",), 4, "stage:work"),
        Stage("merge", "merge", ("work",)),
    )
    wf = Workflow("fan", QoS(2000), fns, stages)
    sim = Simulator(SimConfig(invokers=1, invoker_cpu=3.0, invoker_memory_mb=4096, transfer_ms=5.0))
    sim.deploy(wf)
    arrivals = np.sort(rng.uniform(0, 120, 300))
    sim.submit("fan", arrivals)
    sim.advance(60.0)
    sim.submit("fan", np.array([61.0, 61.0]))
    sim.advance(math.inf)
    recs = sim.request_records()
    assert sorted(r.request_id for r in recs) == list(range(302))
    assert all(r.end_s >= r.arrival_s for r in recs)
    assert not sim.pending()
    assert sum(fn.in_flight for fn in sim.functions) == 0


def test_out_of_memory_fails_the_request() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator(record_events=True)
    sim.deploy(wf, {"a": ResourceConfig(1.0, 32)})  # below the 64 MB floor
    sim.submit("one", np.array([0.0]))
    sim.advance(math.inf)
    (rec,) = sim.request_records()
    assert rec.failed
    assert ("out-of-memory", "a") in {(what, name) for _, what, name, _, _ in sim.events or []}
    assert sim.container_records()[0].end_s == pytest.approx(1.0)  # killed when the invocation failed


def test_fanout_fanin_timing() -> None:
    wf = chain("map", [("split", 100.0), ("work", 400.0), ("merge", 100.0)], fanout=3)
    sim = Simulator(SimConfig(transfer_ms=10.0))
    sim.deploy(wf)
    for name in ("split", "work", "merge"):
        sim.set_pool(name, PoolTarget(min_warm=3, keep_alive_s=600))
    sim.advance(10.0)  # pre-warmed: 3 containers each, ready after 1 s
    sim.submit("map", np.array([10.0]))
    sim.advance(math.inf)
    (rec,) = sim.request_records()
    # 100 ms split, 10 ms transfer, three copies of 400 ms in parallel, 10 ms transfer, 100 ms merge
    assert rec.latency_ms == pytest.approx(620.0)
    assert rec.cold_starts == 0
    assert rec.stage_latency_ms == pytest.approx({"split": 100.0, "work": 400.0, "merge": 100.0})
    assert len(sim.container_records()) == 9


def test_elementwise_stage_time_is_its_slowest_copys_own_time() -> None:
    """In a map chain, copy k of ``b`` starts when copy k of ``a`` ends: ``b``'s time is the longest any of its
    copies took from its input to its end, not the spread of ``a``'s finishes (which is ``a``'s time)."""
    wf = map_chain("chunks", [("split", 100.0), ("a", 100.0), ("b", 400.0)])
    sim = Simulator()
    sim.deploy(wf)
    for name, warm in (("split", 1), ("a", 1), ("b", 3)):
        sim.set_pool(name, PoolTarget(min_warm=warm, keep_alive_s=600))
    sim.advance(10.0)  # pre-warmed; the copies of ``a`` queue on its one warm container (a cold start takes 1 s)
    sim.submit("chunks", np.array([10.0]))
    sim.advance(math.inf)
    (rec,) = sim.request_records()
    # split 100 ms; a's copies end 100, 200, 300 ms after split (the last waited 200 ms); b: 400 ms per copy
    assert rec.latency_ms == pytest.approx(800.0)
    # b's first copy starts at 200 ms, its last ends at 800 ms: 600 ms from first start to last end, 400 ms per copy
    assert rec.stage_latency_ms == pytest.approx({"split": 100.0, "a": 300.0, "b": 400.0})


def test_capacity_full_queues_and_lru_evicts_other_functions() -> None:
    one_cpu = SimConfig(invokers=1, invoker_cpu=1.0, invoker_memory_mb=2048)
    wf = chain("one", [("a", 100.0)])
    sim = Simulator(one_cpu)
    sim.deploy(wf)
    sim.submit("one", np.array([0.0, 0.0]))
    sim.advance(math.inf)
    lat = [round(r.latency_ms, 6) for r in sim.request_records()]
    # room for one container: the second request waits for the first (cold 1 s + 0.1 s) then runs 0.1 s
    assert lat == [1100.0, 1200.0]
    assert len(sim.container_records()) == 1

    sim = Simulator(one_cpu, record_events=True)
    sim.deploy(chain("f", [("f", 100.0)]))
    sim.deploy(chain("g", [("g", 100.0)]))
    sim.submit("f", np.array([0.0]))
    sim.submit("g", np.array([5.0]))
    sim.advance(math.inf)
    evictions = [(round(t, 6), name) for t, what, name, _, _ in sim.events or [] if what == "evict"]
    assert evictions[0] == (5.0, "f")  # f's idle container made room for g
    assert [round(r.latency_ms, 6) for r in sim.request_records()] == [1100.0, 1100.0]


def test_min_warm_prewarms_and_survives_keep_alive() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator()
    sim.deploy(wf)
    sim.set_pool("a", PoolTarget(min_warm=2, keep_alive_s=1.0))
    sim.advance(100.0)
    sim.submit("one", np.array([100.0]))
    sim.advance(200.0)
    assert [r.cold_starts for r in sim.request_records()] == [0]
    assert len(sim.container_records()) == 2
    assert all(math.isclose(c.end_s, 200.0) for c in sim.container_records())  # still alive at the end
    sim.set_pool("a", PoolTarget(min_warm=0, keep_alive_s=1.0))
    # released as soon as the floor is gone: now, not retroactively at the end of their keep-alive
    assert all(c.end_s == 200.0 for c in sim.container_records())


def test_observe_counts_since_last_call() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator()
    sim.deploy(wf)
    sim.submit("one", np.array([0.0, 0.0, 0.0, 30.0]))
    sim.advance(10.0)
    obs = sim.observe()["a"]
    assert (obs.invocations, obs.peak_concurrency, obs.cold_starts) == (3, 3, 3)
    sim.advance(60.0)
    obs = sim.observe()["a"]
    assert (obs.invocations, obs.peak_concurrency, obs.cold_starts) == (1, 1, 0)


def test_set_resources_retires_old_containers() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator()
    sim.deploy(wf)
    sim.submit("one", np.array([0.0]))
    sim.advance(5.0)
    sim.set_resources("a", ResourceConfig(0.5, 1024))
    sim.submit("one", np.array([6.0]))
    sim.advance(math.inf)
    first, second = sim.container_records()
    assert first.end_s == pytest.approx(5.0) and second.config == ResourceConfig(0.5, 1024)
    # at 0.5 vCPU: cold start 0.5 s fixed + 0.5 s of CPU at half speed = 1.5 s, then 100 ms of work takes 200 ms
    assert sim.request_records()[1].latency_ms == pytest.approx(1500.0 + 200.0)


def test_determinism_per_seed() -> None:
    from aquatope.workflow import load_workflow

    def run(seed: int) -> list[float]:
        sim = Simulator(SimConfig(interference=0.2), seed=seed)
        sim.deploy(load_workflow("social-network"))
        sim.submit("social-network", np.sort(np.random.default_rng(0).uniform(0, 600, 500)))
        sim.advance(math.inf)
        return [r.latency_ms for r in sim.request_records()]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_bad_input_is_refused() -> None:
    sim = Simulator(SimConfig(invokers=1, invoker_cpu=2.0, invoker_memory_mb=1024))
    wf = chain("one", [("a", 100.0)])
    with pytest.raises(InputError, match="does not fit"):
        sim.deploy(wf, {"a": ResourceConfig(4.0, 512)})
    sim.deploy(wf, {"a": ResourceConfig(1.0, 512)})
    with pytest.raises(InputError, match="already deployed"):
        sim.deploy(wf)
    with pytest.raises(InputError, match="not deployed"):
        sim.submit("nope", np.array([1.0]))
    with pytest.raises(InputError, match="unknown function"):
        sim.set_pool("zz", PoolTarget())
    with pytest.raises(InputError, match="min_warm"):
        PoolTarget(-1)
    sim.advance(10.0)
    with pytest.raises(InputError, match=">= now"):
        sim.submit("one", np.array([5.0]))


def test_pool_floor_is_kept_when_containers_are_retired_or_killed() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator()
    sim.deploy(wf)
    sim.set_pool("a", PoolTarget(min_warm=2, keep_alive_s=5.0))
    sim.advance(10.0)
    sim.set_resources("a", ResourceConfig(1.0, 512))  # both idle containers retire and are replaced at once
    sim.advance(20.0)
    alive = [c for c in sim.container_records() if c.end_s >= 20.0]
    assert len(alive) == 2 and all(c.config == ResourceConfig(1.0, 512) for c in alive)
    sim.set_resources("a", ResourceConfig(1.0, 32))  # below the memory floor: every invocation is killed
    sim.advance(30.0)
    sim.submit("one", np.array([30.0]))
    sim.advance(60.0)
    assert sim.request_records()[0].failed
    alive = [c for c in sim.container_records() if c.end_s >= 60.0]
    assert len(alive) == 2  # the killed container was replaced


def test_clairvoyant_just_in_time_containers_cost_only_their_busy_time() -> None:
    wf = chain("one", [("a", 100.0)])
    sim = Simulator(record_events=True)
    sim.deploy(wf)
    sim.set_instant("a")
    sim.set_pool("a", PoolTarget(min_warm=3, keep_alive_s=600.0))  # ignored: just-in-time containers have no pool
    sim.submit("one", np.array([0.0, 0.05, 0.1, 10.0]))
    sim.advance(math.inf)
    recs = sim.request_records()
    assert [round(r.latency_ms, 9) for r in recs] == [100.0, 100.0, 100.0, 100.0]  # nobody waits
    assert [r.cold_starts for r in recs] == [0, 0, 0, 0]
    lives = [(c.start_s, c.end_s, c.busy_s) for c in sim.container_records()]
    # request 2 arrives as container 0 frees (at 0.1): it is reused; request 3 finds nothing idle 10 s later
    assert lives == [
        (0.0, pytest.approx(0.2), pytest.approx(0.2)),
        (0.05, pytest.approx(0.15), pytest.approx(0.1)),
        (10.0, pytest.approx(10.1), pytest.approx(0.1)),
    ]
    assert all(c.idle_s == pytest.approx(0.0) for c in sim.container_records())


def test_lowering_the_pool_evicts_now_not_retroactively() -> None:
    # a container kept warm by the floor for 100 s is charged for those 100 s when the floor is lifted
    sim = Simulator()
    sim.deploy(chain("one", [("a", 100.0)]))
    sim.set_pool("a", PoolTarget(min_warm=1, keep_alive_s=10.0))
    sim.advance(100.0)
    sim.set_pool("a", PoolTarget(min_warm=0, keep_alive_s=0.0))
    sim.advance(200.0)
    (c,) = sim.container_records()
    assert (c.start_s, c.ready_s, c.end_s) == (0.0, 1.0, 100.0)
    # a keep-alive shortened from 600 s to 5 s at t = 300 ends a container idle since 210 at 300, not at 215
    sim.set_pool("a", PoolTarget(min_warm=0, keep_alive_s=600.0))
    sim.submit("one", np.array([205.0]))
    sim.advance(300.0)
    sim.set_pool("a", PoolTarget(min_warm=0, keep_alive_s=5.0))
    sim.advance(400.0)
    assert sim.container_records()[1].end_s == 300.0


def test_container_records_carry_the_peak_memory_of_what_ran() -> None:
    wf = chain("one", [("a", 100.0)])  # exact model: working set 64 MB
    sim = Simulator()
    sim.deploy(wf, {"a": ResourceConfig(1.0, 512)})
    sim.set_pool("a", PoolTarget(min_warm=2, keep_alive_s=600))
    sim.submit("one", np.array([5.0]))
    sim.advance(10.0)
    peaks = {c.invocations: c.peak_memory_mb for c in sim.container_records()}
    assert peaks[1] == 64.0 and math.isnan(peaks[0])  # the container that never ran an invocation reports nothing
