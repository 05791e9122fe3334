"""The replay's warm-up: wait until the pool's containers are ready, and a lead from observed start-up times."""

from __future__ import annotations

import math
from typing import Any

import pytest
from sim_cases import chain, exact_perf

from aquatope.experiments.ray_run import RunSpec, run_on_platform
from aquatope.experiments.warmup import MAX_WARMUP_INTERVALS, observed_lead_s, starting, wait_until_ready
from aquatope.platform import ContainerRecord, PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.sim import SimConfig, Simulator
from aquatope.traces import load_trace
from aquatope.workflow import FunctionSpec, QoS, Stage, Workflow

ONE = ResourceConfig(1.0, 1024)


def _record(start: float, ready: float, end: float) -> ContainerRecord:
    return ContainerRecord(0, "f", ONE, start, ready, end, 0.0)


def test_starting_counts_live_unready_containers_only() -> None:
    records = [
        _record(0.0, 1.0, 9.0),  # ready
        _record(5.0, math.inf, 9.0),  # starting (alive: its record ends now)
        _record(2.0, math.inf, 3.0),  # failed to start long ago
    ]
    assert starting(records, now_s=9.0) == 1


def test_the_warm_up_lasts_until_the_pool_is_ready() -> None:
    wf = chain("w", [("a", 10.0), ("b", 10.0)])  # the sim cases' containers take 1 s to start
    sim = Simulator(SimConfig())
    sim.deploy(wf)
    for f in ("a", "b"):
        sim.set_pool(f, PoolTarget(min_warm=2, keep_alive_s=600))
    w = wait_until_ready(sim, t0_s=0.0, interval_s=0.4, min_intervals=1)
    assert w == 3  # ready at 1 s: the third 0.4-s interval
    assert starting(sim.container_records(), sim.now_s) == 0 and sim.now_s <= 3 * 0.4


def test_the_warm_up_is_the_minimum_without_a_pool_and_bounded_with_a_slow_one() -> None:
    sim = Simulator(SimConfig())
    sim.deploy(chain("w", [("a", 10.0)]))
    assert wait_until_ready(sim, t0_s=0.0, interval_s=0.4, min_intervals=2) == 2
    sim.set_pool("a", PoolTarget(min_warm=1, keep_alive_s=600))
    assert wait_until_ready(sim, t0_s=sim.now_s, interval_s=0.1, min_intervals=1) == MAX_WARMUP_INTERVALS


def test_the_lead_follows_observed_start_up_times_within_half_an_interval() -> None:
    fast = [_record(0.0, 0.5, 9.0)] * 10
    assert observed_lead_s(fast, fixed_s=2.0, interval_s=60.0) == 2.0  # never below the fixed lead
    slow = [_record(0.0, t, 99.0) for t in (5.0, 6.0, 7.0, 8.0, 30.0)] + [_record(0.0, math.inf, 99.0)]
    assert observed_lead_s(slow, fixed_s=2.0, interval_s=60.0) == pytest.approx(21.2)  # 0.9-quantile of 5 starts
    assert observed_lead_s(slow, fixed_s=2.0, interval_s=20.0) == 10.0
    assert observed_lead_s([], fixed_s=2.0, interval_s=60.0) == 2.0


def test_a_pre_warming_run_waits_for_slow_starts_and_leads_by_them() -> None:
    """Containers that take 90 s to start: the warm-up lasts two intervals and the lead is capped at half of one;
    a system that pre-warms nothing keeps the minimum warm-up and the fixed lead."""
    slow = Workflow(
        "slow",
        QoS(5000.0),
        {"a": FunctionSpec("a", exact_perf(50.0, cold_ms=90_000.0), ONE)},
        (Stage("a", "a", ()),),
    )
    trace = load_trace("synthetic:poisson:rate=20,minutes=40,functions=2", seed=0)

    def run(system: str) -> dict[str, Any]:
        spec = RunSpec(system, minutes=2, start_minute=30, function="0", seed=0, on_lag="warn")
        r = run_on_platform(slow, trace, spec, lambda speedup, pricing, lag: Simulator(SimConfig(), seed=0), "sim")
        assert r.metrics.requests > 0
        return r.setup

    pooled = run("aquatope+defaults")
    assert pooled["warmup_intervals"] == 2 and pooled["lead_s"] == 30.0
    bare = run("openwhisk")
    assert bare["warmup_intervals"] == 1 and bare["lead_s"] == 2.0
