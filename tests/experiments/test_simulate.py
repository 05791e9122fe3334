"""aquatope.experiments.simulate: option parsing, configuration files, and replays checked against hand-computed figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from sim_cases import ONE, chain

from aquatope.errors import InputError
from aquatope.experiments.simulate import (
    SimulationResult,
    load_configs,
    parse_prewarm,
    pick_function,
    simulate_single_functions,
    simulate_workflow,
    summarize,
)
from aquatope.platform import PoolTarget
from aquatope.resources import Pricing, ResourceConfig
from aquatope.sim import SimConfig, Simulator
from aquatope.traces import DurationStats, InvocationTrace, MemoryStats, load_trace
from aquatope.workflow import Workflow, load_workflow

UNIFORM = SimConfig(arrival_mode="uniform")
RATE_ONE = Pricing.cloud_run().usd_per_second(ONE)  # 1 vCPU, 1 GB


# ----------------------------------------------------------------------------------------------- parse_prewarm
@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("none", PoolTarget(0, 0.0)),
        ("keepalive:600", PoolTarget(0, 600.0)),
        ("keepalive:0", PoolTarget(0, 0.0)),
        ("keepalive:1.5", PoolTarget(0, 1.5)),
        ("keepalive:1e3", PoolTarget(0, 1000.0)),
    ],
)
def test_parse_prewarm(spec: str, target: PoolTarget) -> None:
    assert parse_prewarm(spec) == target


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "None",
        "hybrid",
        "keepalive",
        "keepalive:",
        "keepalive:-1",
        "keepalive:abc",
        "keepalive:inf",
        "keepalive:nan",
    ],
)
def test_parse_prewarm_refuses_anything_else(spec: str) -> None:
    with pytest.raises(InputError, match="use none or keepalive:<seconds>") as info:
        parse_prewarm(spec)
    assert info.value.field == "--prewarm"
    assert repr(spec) in info.value.message


# ----------------------------------------------------------------------------------------------- load_configs
@pytest.fixture(scope="module")
def trip_booking() -> Workflow:
    return load_workflow("trip-booking")


def test_load_configs_default_is_the_yaml(trip_booking: Workflow) -> None:
    assert load_configs(None, trip_booking) == trip_booking.default_configs()
    assert load_configs("default", trip_booking) == trip_booking.default_configs()


def test_load_configs_overrides_only_the_given_functions(trip_booking: Workflow, tmp_path: Path) -> None:
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"confirm": {"cpu": 0.5, "memory_mb": 256}}))
    configs = load_configs(str(path), trip_booking)
    expected = trip_booking.default_configs() | {"confirm": ResourceConfig(0.5, 256)}
    assert configs == expected
    assert trip_booking.default_configs()["confirm"] == ResourceConfig(1.0, 512)  # the workflow is untouched


def test_load_configs_reads_a_tune_result(trip_booking: Workflow, tmp_path: Path) -> None:
    path = tmp_path / "tune.json"
    path.write_text(json.dumps({"best": {"config": {"reserve-car": {"cpu": 2, "memory_mb": 1024}}, "cost": 1}}))
    assert load_configs(str(path), trip_booking)["reserve-car"] == ResourceConfig(2.0, 1024)


def test_load_configs_unknown_function_names_file_and_function(trip_booking: Workflow, tmp_path: Path) -> None:
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"reserve-boat": {"cpu": 1, "memory_mb": 512}}))
    with pytest.raises(InputError, match="unknown function") as info:
        load_configs(str(path), trip_booking)
    assert (info.value.source, info.value.field) == (str(path), "reserve-boat")
    assert "reserve-hotel" in info.value.message  # lists the known ones


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"cpu": -1, "memory_mb": 512}, "confirm.cpu"),
        ({"cpu": 1, "memory_mb": 0}, "confirm.memory_mb"),
        ({"cpu": 1}, "confirm.memory_mb"),
        ({"cpu": "1", "memory_mb": 512}, "confirm.cpu"),
        ({"cpu": 1, "memory_mb": 512, "gpu": 1}, "confirm"),
        (512, "confirm"),
    ],
)
def test_load_configs_bad_value_names_file_and_field(
    trip_booking: Workflow, tmp_path: Path, value: object, field: str
) -> None:
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"confirm": value}))
    with pytest.raises(InputError) as info:
        load_configs(str(path), trip_booking)
    assert (info.value.source, info.value.field) == (str(path), field)


def test_load_configs_refuses_a_cpu_that_rounds_to_zero(trip_booking: Workflow, tmp_path: Path) -> None:
    path = tmp_path / "configs.json"
    path.write_text(json.dumps({"confirm": {"cpu": 0.00001, "memory_mb": 512}}))
    with pytest.raises(InputError):
        load_configs(str(path), trip_booking)


def test_load_configs_malformed_json_names_the_line(trip_booking: Workflow, tmp_path: Path) -> None:
    path = tmp_path / "configs.json"
    path.write_text('{\n  "confirm": {"cpu": 1,\n  "memory_mb" 512}\n}\n')
    with pytest.raises(InputError, match="malformed JSON") as info:
        load_configs(str(path), trip_booking)
    assert (info.value.source, info.value.line) == (str(path), 3)


def test_load_configs_missing_file_and_wrong_shape(trip_booking: Workflow, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="configuration file not found") as info:
        load_configs(str(tmp_path / "nope.json"), trip_booking)
    assert info.value.source == str(tmp_path / "nope.json")
    path = tmp_path / "list.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="expected an object"):
        load_configs(str(path), trip_booking)


# ----------------------------------------------------------------------------------------------- pick_function
TRACE3 = InvocationTrace(("a", "b", "c"), np.array([[1, 1], [5, 0], [0, 2]]), source="t")


def test_pick_function_by_default_the_busiest() -> None:
    assert pick_function(TRACE3, None) == 1


def test_pick_function_by_index_or_id() -> None:
    assert pick_function(TRACE3, "2") == 2
    assert pick_function(TRACE3, "0") == 0
    assert pick_function(TRACE3, "c") == 2


@pytest.mark.parametrize(("spec", "match"), [("3", "out of range"), ("zz", "unknown function id"), ("-1", "unknown")])
def test_pick_function_refuses_unknown_rows(spec: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        pick_function(TRACE3, spec)
    assert info.value.field == "--function"


# ----------------------------------------------------------------------------------------------- simulate_workflow
# One function of 100 ms (cold start 1 s) under three arrivals: minute 0 holds two, minute 2 one. Uniform
# arrivals are at 15 s, 45 s and 150 s; the run covers 3 minutes (180 s).
TINY = InvocationTrace(("f",), np.array([[2, 0, 1]]), source="tiny")
ONE_FN = chain("one", [("a", 100.0)], qos_ms=1000.0)


def test_keepalive_keeps_one_container_warm_hand_computed() -> None:
    r = simulate_workflow(ONE_FN, TINY, prewarm="keepalive:600", sim_config=UNIFORM)
    m = r.metrics
    # 15 s: cold (1 s + 0.1 s); 45 s and 150 s: warm. The container lives from 15 s to the end of the run.
    assert (m.requests, m.invocations, m.cold_starts, m.containers_started) == (3, 3, 1, 1)
    assert m.cold_start_rate == pytest.approx(1 / 3)
    assert m.qos_violation_rate == pytest.approx(1 / 3)  # only the cold request exceeds 1000 ms
    assert m.latency_ms["p50"] == pytest.approx(100.0)
    assert m.latency_ms["mean"] == pytest.approx((1100 + 100 + 100) / 3)
    assert m.cost_usd["execution"] == pytest.approx(0.3 * RATE_ONE)
    assert m.cost_usd["idle"] == pytest.approx((165.0 - 0.3) * RATE_ONE)
    assert m.cost_usd["requests"] == pytest.approx(3 * Pricing.cloud_run().usd_per_request)
    assert (m.mean_warm_containers, m.peak_warm_containers) == (pytest.approx(165 / 180), 1)
    assert m.idle_gb_s == pytest.approx(165.0 - 0.3)
    assert m.horizon_s == 180.0
    assert m.per_workflow == {"one": {"requests": 3, "qos_violation_rate": pytest.approx(1 / 3)}}


@pytest.mark.parametrize(("prewarm", "life_s"), [("keepalive:10", 11.1), ("none", 1.1)])
def test_short_keepalive_makes_every_request_cold_hand_computed(prewarm: str, life_s: float) -> None:
    m = simulate_workflow(ONE_FN, TINY, prewarm=prewarm, sim_config=UNIFORM).metrics
    # every container: 1 s starting, 0.1 s busy, then idle until the keep-alive runs out
    assert (m.requests, m.cold_starts, m.containers_started, m.cold_start_rate) == (3, 3, 3, 1.0)
    assert m.qos_violation_rate == 1.0
    assert m.latency_ms["p99"] == pytest.approx(1100.0)
    assert m.cost_usd["execution"] == pytest.approx(0.3 * RATE_ONE)
    assert m.cost_usd["idle"] == pytest.approx(3 * (life_s - 0.1) * RATE_ONE)
    assert (m.mean_warm_containers, m.peak_warm_containers) == (pytest.approx(3 * life_s / 180), 1)


def test_hours_limits_the_replay_and_beyond_the_trace_is_refused() -> None:
    assert simulate_workflow(ONE_FN, TINY, hours=1 / 60, sim_config=UNIFORM).metrics.requests == 2
    assert simulate_workflow(ONE_FN, TINY, hours=0.001, sim_config=UNIFORM).setup["minutes"] == 1  # at least 1
    whole = simulate_workflow(ONE_FN, TINY, hours=3 / 60, sim_config=UNIFORM)
    assert (whole.setup["minutes"], whole.metrics.requests, whole.metrics.horizon_s) == (3, 3, 180.0)
    with pytest.raises(InputError, match="only 0.05 hours") as info:
        simulate_workflow(ONE_FN, TINY, hours=10, sim_config=UNIFORM)
    assert info.value.field == "--hours"


@pytest.mark.parametrize("hours", [0.0, -1.0, math.nan, math.inf])
def test_bad_hours_are_refused(hours: float) -> None:
    with pytest.raises(InputError, match="> 0") as info:
        simulate_workflow(ONE_FN, TINY, hours=hours)
    assert info.value.field == "--hours"


@pytest.mark.parametrize("scale", [0.0, -1.0, math.nan])
def test_bad_scale_is_refused(scale: float) -> None:
    with pytest.raises(InputError) as info:
        simulate_workflow(ONE_FN, TINY, scale=scale)
    assert info.value.field == "--scale"


def test_scale_multiplies_the_arrivals() -> None:
    m = simulate_workflow(ONE_FN, TINY, scale=2.0, sim_config=UNIFORM).metrics
    assert (m.requests, m.invocations) == (6, 6)


def test_a_function_without_arrivals_in_the_window_is_refused() -> None:
    trace = InvocationTrace(("f",), np.array([[0, 0, 4]]))
    with pytest.raises(InputError, match="no invocations in the first 2 minutes"):
        simulate_workflow(ONE_FN, trace, hours=2 / 60)


def test_requests_are_the_chosen_functions_arrivals_times_stage_invocations() -> None:
    wf = chain("fan", [("split", 10.0), ("work", 50.0), ("merge", 10.0)], fanout=3)
    trace = InvocationTrace(("x", "y"), np.array([[1, 2, 0], [4, 0, 3]]))
    for function, requests in ((None, 7), ("x", 3), ("0", 3), ("y", 7)):
        m = simulate_workflow(wf, trace, function=function).metrics
        assert (m.requests, m.invocations) == (requests, requests * 5), function


def test_setup_records_everything_needed_to_reproduce(tmp_path: Path) -> None:
    configs = {"a": ResourceConfig(2.0, 2048)}
    r = simulate_workflow(ONE_FN, TINY, prewarm="none", configs=configs, sim_config=UNIFORM, seed=5, scale=1.0)
    assert r.setup["scenario"]["name"] == "calm"
    world = r.setup.pop("world")
    assert (world["invokers"], world["tenants"]["functions"], world["neighbour_episodes"]) == (96, 0, 0)
    r.setup.pop("scenario")
    assert r.setup == {
        "mode": "workflow",
        "workflow": "one",
        "trace": "tiny",
        "function": "f",
        "scale": 1.0,
        "minutes": 3,
        "prewarm": "none",
        "configs": {"a": {"cpu": 2.0, "memory_mb": 2048}},
        "sim": UNIFORM.to_dict(),
        "seed": 5,
    }
    # the configuration is applied: 2 vCPU / 2 GB containers cost more than the default 1 vCPU / 1 GB
    default = simulate_workflow(ONE_FN, TINY, prewarm="none", sim_config=UNIFORM).metrics
    assert r.metrics.cost_usd["idle"] > default.cost_usd["idle"]
    assert simulate_workflow(ONE_FN, TINY, sim_config=UNIFORM).setup["configs"] == {"a": ONE.to_dict()}


def test_progress_is_reported_up_to_one() -> None:
    seen: list[float] = []
    simulate_workflow(ONE_FN, TINY, progress=seen.append)
    assert seen == sorted(seen) and len(seen) == 100
    assert seen[0] == pytest.approx(0.01) and seen[-1] == 1.0


def test_same_seed_same_result_and_seed_matters() -> None:
    wf = load_workflow("trip-booking")
    trace = load_trace("synthetic:poisson:rate=20,minutes=10", seed=1)
    a = simulate_workflow(wf, trace, seed=3).metrics
    b = simulate_workflow(wf, trace, seed=3).metrics
    c = simulate_workflow(wf, trace, seed=4).metrics
    assert a == b
    assert a.latency_ms != c.latency_ms


def test_requests_in_flight_at_the_horizon_finish() -> None:
    slow = chain("slow", [("a", 30_000.0)], qos_ms=60_000.0)
    trace = InvocationTrace(("f",), np.array([[0, 1]]))  # one arrival at 90 s; the run covers 120 s
    m = simulate_workflow(slow, trace, sim_config=UNIFORM).metrics
    assert (m.requests, m.failed_requests) == (1, 0)
    assert m.latency_ms["p50"] == pytest.approx(31_000.0)  # ends at 121 s, after the horizon


# ----------------------------------------------------------------------------------------------- single functions
def _stats_trace() -> InvocationTrace:
    """f0: 100 ms, 1769 MB; f1: never called, no statistics; f2: 50 ms on average, 512 MB."""
    nan = np.nan
    durations = DurationStats(
        average_ms=[100.0, nan, 50.0],
        minimum_ms=[nan] * 3,
        maximum_ms=[nan] * 3,
        count=[nan] * 3,
        percentiles=(0.0, 100.0),
        percentile_ms=[[100.0, 100.0], [nan, nan], [nan, nan]],
    )
    memory = MemoryStats(
        average_mb=[1769.0, nan, 512.0], sample_count=[nan] * 3, percentiles=(), percentile_mb=[[]] * 3
    )
    counts = np.array([[2, 0, 1], [0, 0, 0], [1, 1, 1]])
    return InvocationTrace(("f0", "f1", "f2"), counts, durations=durations, memory=memory, source="stats")


def test_single_functions_hand_computed() -> None:
    r = simulate_single_functions(_stats_trace(), prewarm="keepalive:600", sim_config=UNIFORM)
    m = r.metrics
    # each called function cold-starts once (about 1 s, over its target: f0 200 ms, f2 150 ms), then runs warm
    assert (m.requests, m.invocations, m.cold_starts, m.containers_started, m.failed_requests) == (6, 6, 2, 2, 0)
    assert m.qos_violation_rate == pytest.approx(2 / 6)
    assert m.latency_ms["p50"] == pytest.approx(100.0)  # warm: 50, 50, 100, 100; cold: ~1 s
    assert m.per_workflow == {}
    assert r.setup.pop("scenario")["name"] == "calm"
    assert r.setup.pop("world")["tenants"]["functions"] == 0
    per_fn = r.setup.pop("per_function_p95_over_target")  # both called functions' p95 is their ~1 s cold start
    assert (per_fn["functions"], per_fn["over"]) == (2, 2) and 1.0 < per_fn["median"] <= per_fn["worst"]
    assert r.setup == {
        "mode": "single-function",
        "trace": "stats",
        "functions": 3,
        "missing_durations": 1,
        "missing_memory": 1,
        "minutes": 3,
        "prewarm": "keepalive:600",
        "sim": UNIFORM.to_dict(),
        "seed": 0,
    }


def test_single_functions_first_n_and_hours() -> None:
    r = simulate_single_functions(_stats_trace(), functions=2, hours=2 / 60, sim_config=UNIFORM)
    assert (r.metrics.requests, r.setup["functions"], r.setup["minutes"]) == (2, 2, 2)
    assert (r.setup["missing_durations"], r.setup["missing_memory"]) == (1, 1)
    assert simulate_single_functions(_stats_trace(), functions=99).setup["functions"] == 3


def test_single_functions_refuses_zero_functions() -> None:
    with pytest.raises(InputError, match=">= 1") as info:
        simulate_single_functions(_stats_trace(), functions=0)
    assert info.value.field == "--functions"


def test_single_functions_refuse_a_trace_without_invocations() -> None:
    silent = InvocationTrace(("a", "b"), np.array([[0, 0, 3], [0, 0, 0]]), source="silent.csv")
    with pytest.raises(InputError, match="no invocations in the first 2 minutes of its 2 functions") as info:
        simulate_single_functions(silent, hours=2 / 60)
    assert info.value.source == "silent.csv"


def test_single_functions_cost_follows_the_lambda_share_of_memory() -> None:
    # prewarm none: f0's container (1 vCPU, 1769 MB) is cold once per request
    m = simulate_single_functions(_stats_trace(), functions=1, prewarm="none", sim_config=UNIFORM).metrics
    assert (m.requests, m.cold_starts) == (3, 3)
    per_s = Pricing.cloud_run().usd_per_second(ResourceConfig(1.0, 1769))
    assert m.cost_usd["execution"] == pytest.approx(3 * 0.1 * per_s)


# ----------------------------------------------------------------------------------------------- summarize
def test_summarize_reports_each_workflow() -> None:
    sim = Simulator(UNIFORM)
    sim.deploy(chain("x", [("a", 100.0)], qos_ms=1000.0))
    sim.deploy(chain("y", [("b", 100.0)], qos_ms=2000.0))
    sim.submit("x", np.array([0.0]))
    sim.submit("y", np.array([0.0]))
    sim.advance(math.inf)
    m = summarize(sim, 60.0)
    # both requests take 1100 ms (cold): over x's target, within y's
    assert m.per_workflow == {
        "x": {"requests": 1, "qos_violation_rate": 1.0},
        "y": {"requests": 1, "qos_violation_rate": 0.0},
    }
    assert (m.requests, m.qos_violation_rate, m.invocations, m.cold_starts) == (2, 0.5, 2, 2)
    assert summarize(sim, 60.0, per_workflow=False).per_workflow == {}


def test_summarize_of_an_empty_simulator() -> None:
    m = summarize(Simulator(), 60.0)
    assert (m.requests, m.invocations, m.containers_started, m.qos_violation_rate) == (0, 0, 0, 0.0)
    assert m.cost_usd["total"] == 0.0 and math.isnan(m.latency_ms["p50"])


def test_summarize_counts_failed_requests_as_violations() -> None:
    sim = Simulator(UNIFORM)
    sim.deploy(chain("x", [("a", 100.0)], qos_ms=5000.0), {"a": ResourceConfig(1.0, 32)})  # below the 64 MB floor
    sim.submit("x", np.array([0.0, 10.0]))
    sim.advance(math.inf)
    m = summarize(sim, 60.0)
    assert (m.requests, m.failed_requests, m.qos_violation_rate) == (2, 2, 1.0)
    assert math.isnan(m.latency_ms["p50"])


# ----------------------------------------------------------------------------------------------- result
def test_result_to_dict_adds_speed_and_setup() -> None:
    r = simulate_workflow(ONE_FN, TINY, sim_config=UNIFORM)
    d = r.to_dict()
    assert d["setup"] == r.setup and d["wall_s"] == r.wall_s > 0
    assert d["invocations_per_s"] == pytest.approx(3 / r.wall_s)
    assert {k: v for k, v in d.items() if k not in ("wall_s", "invocations_per_s", "setup")} == r.metrics.to_dict()
    zero = SimulationResult(r.metrics, 0.0, {}).to_dict()
    assert zero["invocations_per_s"] == math.inf
