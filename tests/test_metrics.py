"""Run metrics (aquatope.metrics) on hand-computed cases: warm containers, cost split, percentiles, QoS, windows."""

from __future__ import annotations

import math

import numpy as np
import pytest

from aquatope.metrics import (
    RequestColumns,
    RunMetrics,
    compute_metrics,
    container_cost,
    latency_percentiles,
    metrics_from_records,
    warm_containers,
    window_violation_rate,
)
from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.resources import Pricing, ResourceConfig

# round prices so that every cost below is mental arithmetic
UNIT = Pricing(usd_per_vcpu_s=1.0, usd_per_gb_s=10.0, usd_per_request=0.5, name="unit")


def _columns(
    start: list[float], end: list[float], busy: list[float], cpu: list[float], memory_gb: list[float]
) -> dict[str, np.ndarray]:
    return {
        "start": np.array(start, dtype=float),
        "end": np.array(end, dtype=float),
        "busy": np.array(busy, dtype=float),
        "cpu": np.array(cpu, dtype=float),
        "memory_gb": np.array(memory_gb, dtype=float),
    }


NO_CONTAINERS = _columns([], [], [], [], [])


# ----------------------------------------------------------------------------------------------- warm containers
def test_warm_containers_mean_is_alive_seconds_over_horizon_and_peak_is_max_overlap() -> None:
    # [0, 4), [1, 3), [2, 6): all three overlap on [2, 3)
    mean, peak = warm_containers(np.array([0.0, 1.0, 2.0]), np.array([4.0, 3.0, 6.0]), horizon_s=10.0)
    assert mean == pytest.approx((4 + 2 + 4) / 10)
    assert peak == 3
    assert isinstance(peak, int)


def test_warm_containers_one_ending_when_another_starts_do_not_overlap() -> None:
    # [0, 2) and [2, 5): at t = 2 the end is counted before the start, so never two at once
    mean, peak = warm_containers(np.array([0.0, 2.0]), np.array([2.0, 5.0]), horizon_s=5.0)
    assert (mean, peak) == (pytest.approx(1.0), 1)
    # order of the input does not matter
    assert warm_containers(np.array([2.0, 0.0]), np.array([5.0, 2.0]), horizon_s=5.0)[1] == 1
    # ... but [0, 2] and [1.999, 5) do overlap
    assert warm_containers(np.array([0.0, 1.999]), np.array([2.0, 5.0]), horizon_s=5.0)[1] == 2


def test_warm_containers_empty_and_zero_horizon() -> None:
    assert warm_containers(np.zeros(0), np.zeros(0), horizon_s=60.0) == (0.0, 0)
    assert warm_containers(np.array([0.0]), np.array([3.0]), horizon_s=0.0) == (0.0, 1)


# ----------------------------------------------------------------------------------------------- container cost
def test_container_cost_splits_life_into_execution_and_idle() -> None:
    # container 0: 2 vCPU, 0.5 GB -> 2 + 5 = 7 $/s; alive 10 s, busy 4 s
    # container 1: 1 vCPU, 1 GB -> 1 + 10 = 11 $/s; alive 3 s, busy 0 s
    cols = _columns(start=[0, 5], end=[10, 8], busy=[4, 0], cpu=[2, 1], memory_gb=[0.5, 1])
    assert container_cost(cols, UNIT) == {"execution": pytest.approx(7 * 4), "idle": pytest.approx(7 * 6 + 11 * 3)}


def test_container_cost_busy_time_is_capped_by_the_containers_life() -> None:
    cols = _columns(start=[0], end=[2], busy=[5], cpu=[1], memory_gb=[0])
    assert container_cost(cols, UNIT) == {"execution": pytest.approx(2.0), "idle": pytest.approx(0.0)}


def test_container_cost_of_nothing_is_zero() -> None:
    assert container_cost(NO_CONTAINERS, UNIT) == {"execution": 0.0, "idle": 0.0}


# ----------------------------------------------------------------------------------------------- percentiles
def test_latency_percentiles_are_numpy_linear_percentiles_and_the_mean() -> None:
    lat = np.arange(1.0, 101.0)  # 1 .. 100
    assert latency_percentiles(lat) == pytest.approx({"p50": 50.5, "p95": 95.05, "p99": 99.01, "mean": 50.5})


def test_latency_percentiles_ignore_nan_and_infinite_values() -> None:
    lat = np.array([10.0, np.nan, 20.0, np.inf, 30.0, -np.inf])
    assert latency_percentiles(lat) == pytest.approx({"p50": 20.0, "p95": 29.0, "p99": 29.8, "mean": 20.0})


@pytest.mark.parametrize("lat", [np.zeros(0), np.array([np.nan, np.nan])])
def test_latency_percentiles_are_nan_when_nothing_finite(lat: np.ndarray) -> None:
    out = latency_percentiles(lat)
    assert set(out) == {"p50", "p95", "p99", "mean"}
    assert all(math.isnan(v) for v in out.values())


# ----------------------------------------------------------------------------------------------- compute_metrics
def _metrics(**overrides: object) -> RunMetrics:
    args: dict[str, object] = {
        # request 1 failed (its 200 ms do not count); request 2 ends exactly on target (not a violation)
        "latency_ms": np.array([100.0, 200.0, 250.0, 400.0, 300.0]),
        "failed": np.array([False, True, False, False, False]),
        "targets_ms": np.array([250.0, 250.0, 250.0, 250.0, 1000.0]),
        "invocations": 8,
        "cold_starts": 2,
        "containers": _columns(start=[0, 5], end=[10, 8], busy=[4, 0], cpu=[2, 1], memory_gb=[0.5, 1]),
        "pricing": UNIT,
        "horizon_s": 20.0,
    }
    args.update(overrides)
    lat = np.asarray(args.pop("latency_ms"), dtype=float)
    args["requests"] = RequestColumns(
        np.zeros(lat.size), lat, np.asarray(args.pop("failed"), dtype=bool), np.asarray(args.pop("targets_ms"))
    )
    return compute_metrics(**args)  # type: ignore[arg-type]


def test_violation_rate_counts_failed_requests_and_latency_above_target() -> None:
    m = _metrics()
    # violations: request 1 (failed) and request 3 (400 > 250); request 2 is on target, request 4 has its own target
    assert m.qos_violation_rate == pytest.approx(2 / 5)
    assert (m.requests, m.failed_requests) == (5, 1)


def test_a_nan_latency_is_a_violation() -> None:
    m = _metrics(latency_ms=np.array([100.0, np.nan]), failed=np.array([False, False]), targets_ms=np.full(2, 250.0))
    assert m.qos_violation_rate == 0.5
    assert m.latency_ms["p50"] == 100.0


def test_latency_percentiles_exclude_failed_requests() -> None:
    m = _metrics()
    assert m.latency_ms == pytest.approx(latency_percentiles(np.array([100.0, 250.0, 400.0, 300.0])))
    assert m.latency_ms["p50"] == pytest.approx(275.0)


def test_cold_starts_cost_and_containers() -> None:
    m = _metrics()
    assert (m.invocations, m.cold_starts, m.cold_start_rate) == (8, 2, 0.25)
    assert m.cost_usd == pytest.approx(
        {"execution": 28.0, "idle": 75.0, "requests": 8 * 0.5, "tuning": 0.0, "total": 28.0 + 75.0 + 4.0}
    )
    assert m.cost_usd["total"] == m.cost_usd["execution"] + m.cost_usd["idle"] + m.cost_usd["requests"]
    assert m.containers_started == 2
    assert (m.mean_warm_containers, m.peak_warm_containers) == (pytest.approx(13 / 20), 2)
    assert m.idle_gb_s == pytest.approx(0.5 * 6 + 1 * 3)
    assert m.horizon_s == 20.0 and m.per_workflow == {}


def test_an_empty_run_has_zero_rates_and_nan_latency() -> None:
    m = _metrics(
        latency_ms=np.zeros(0),
        failed=np.zeros(0, dtype=bool),
        targets_ms=np.zeros(0),
        invocations=0,
        cold_starts=0,
        containers=NO_CONTAINERS,
    )
    assert (m.requests, m.qos_violation_rate, m.cold_start_rate, m.containers_started) == (0, 0.0, 0.0, 0)
    assert m.cost_usd == {"execution": 0.0, "idle": 0.0, "requests": 0.0, "tuning": 0.0, "total": 0.0}
    assert math.isnan(m.latency_ms["p99"])
    assert (m.mean_warm_containers, m.peak_warm_containers) == (0.0, 0)


def test_to_dict_is_plain_data_with_every_field() -> None:
    details = {"wf": {"requests": 5, "qos_violation_rate": 0.4}}
    d = _metrics(per_workflow=details).to_dict()
    assert list(d) == [
        "requests",
        "invocations",
        "failed_requests",
        "qos_violation_rate",
        "latency_ms",
        "cold_start_rate",
        "cold_starts",
        "cost_usd",
        "containers_started",
        "mean_warm_containers",
        "peak_warm_containers",
        "idle_gb_s",
        "horizon_s",
        "window_violation_rate",
        "window_violation_rate_5m",
        "p95_over_target",
        "p99_over_target",
        "per_workflow",
    ]
    assert d["per_workflow"] == details
    assert set(d["latency_ms"]) == {"p50", "p95", "p99", "mean"}
    assert set(d["cost_usd"]) == {"execution", "idle", "requests", "tuning", "total"}
    for key in ("requests", "invocations", "failed_requests", "cold_starts", "containers_started"):
        assert type(d[key]) is int, key


def test_warm_containers_mean_counts_only_time_inside_the_horizon() -> None:
    # two containers draining long after a 10 s horizon: without clipping the mean would be 5.5, above the peak
    mean, peak = warm_containers(np.array([0.0, 5.0]), np.array([50.0, 20.0]), horizon_s=10.0)
    assert mean == pytest.approx((10.0 + 5.0) / 10.0)
    assert peak == 2 and mean <= peak


# ----------------------------------------------------------------------------------------------- windows
def _record(rid: int, arrival: float, latency_ms: float, failed: bool = False) -> RequestRecord:
    return RequestRecord(rid, "w", arrival, arrival + latency_ms / 1000.0, latency_ms, {}, 0, failed)


def test_window_violation_rate_on_a_hand_made_record_list() -> None:
    # minute 0: 20 requests, one over 100 ms: its p95 (linear, between the 19th and 20th order statistics) is
    # 95 + 0.05 * (500 - 95) = 115.25 > 100: violates. Minute 1: 20 requests, all fine. Minute 2: one failure.
    # Minute 3: no request (not counted).
    recs = [_record(i, 1.0 + i, 50.0 + 2.5 * i if i < 19 else 500.0) for i in range(20)]
    recs += [_record(20 + i, 61.0 + i, 80.0) for i in range(20)]
    recs += [_record(40, 130.0, 10.0, failed=True)]
    cols = RequestColumns.from_records(recs, 100.0)
    rate = window_violation_rate(cols.arrival_s, cols.latency_ms, cols.failed, 100.0, 0.95, 60.0)
    assert rate == pytest.approx(2 / 3)
    # five-minute windows: everything in one window; among 41 requests the two bad ones lie above its p95 (95 ms)
    assert window_violation_rate(cols.arrival_s, cols.latency_ms, cols.failed, 100.0, 0.95, 300.0) == 0.0
    assert np.quantile(np.where(cols.failed, np.inf, cols.latency_ms), 0.95) == pytest.approx(95.0)
    # the per-window percentile is numpy's
    first = np.array([r.latency_ms for r in recs[:20]])
    assert np.quantile(first, 0.95) == pytest.approx(115.25)
    assert math.isnan(window_violation_rate(np.zeros(0), np.zeros(0), np.zeros(0, bool), 100.0, 0.95, 60.0))


def test_metrics_from_records_add_windows_tuning_and_ratios_to_the_target() -> None:
    recs = [_record(i, 10.0 * i, 100.0 + i) for i in range(12)]  # two minutes, none over 200 ms
    containers = [ContainerRecord(0, "f", ResourceConfig(1.0, 1024), 0.0, 1.0, 120.0, 6.0, 12)]
    m = metrics_from_records(
        recs,
        containers,
        target_ms=200.0,
        quantile=0.95,
        invocations=12,
        cold_starts=1,
        pricing=UNIT,
        horizon_s=120.0,
        tuning_usd=3.0,
    )
    assert m.window_violation_rate == 0.0 and m.window_violation_rate_5m == 0.0
    assert m.p95_over_target == pytest.approx(np.percentile(np.arange(100.0, 112.0), 95) / 200.0)
    assert m.cost_usd["tuning"] == 3.0
    # 1 vCPU x 1 + 1 GB x 10 per second: busy 6 s = 66, idle 114 s = 1254, fees 12 x 0.5 = 6
    assert m.cost_usd == pytest.approx(
        {"execution": 66.0, "idle": 1254.0, "requests": 6.0, "tuning": 3.0, "total": 1329.0}
    )
