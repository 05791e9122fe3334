"""PercentilePerf: published percentiles reproduced exactly, log-linear in between, the YAML form, validation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from aquatope.errors import InputError
from aquatope.perf import PercentilePerf, PerfModel, perf_model_from_spec
from aquatope.resources import ResourceConfig

CFG = ResourceConfig(1.0, 512)
# an Azure 2019 durations row: percentiles 0, 1, 25, 50, 75, 99, 100 of execution time (ms)
AZURE_PERCENTS = (0.0, 1.0, 25.0, 50.0, 75.0, 99.0, 100.0)
AZURE_ROW = (2338.0, 2440.0, 3391.0, 4144.0, 7240.0, 39451.0, 92951.0)


def _azure() -> PercentilePerf:
    return PercentilePerf(AZURE_PERCENTS, AZURE_ROW)


def test_is_a_perf_model() -> None:
    assert isinstance(_azure(), PerfModel)


@pytest.mark.parametrize(("q", "ms"), [(0.01, 2440.0), (0.25, 3391.0), (0.5, 4144.0), (0.75, 7240.0), (0.99, 39451.0)])
def test_published_percentiles_are_reproduced_exactly(q: float, ms: float) -> None:
    assert _azure().latency_quantile_ms(CFG, q) == pytest.approx(ms, rel=1e-12)


def test_between_two_points_the_latency_is_geometric_not_linear() -> None:
    perf = PercentilePerf((0, 50, 100), (100.0, 400.0, 1600.0))
    assert perf.latency_quantile_ms(CFG, 0.25) == pytest.approx(200.0)  # sqrt(100 * 400), not 250
    assert perf.latency_quantile_ms(CFG, 0.75) == pytest.approx(800.0)
    assert perf.latency_quantile_ms(CFG, 0.125) == pytest.approx(100.0 * 4**0.25)


def test_levels_outside_the_published_range_are_clamped_to_its_ends() -> None:
    perf = PercentilePerf((25, 75), (100.0, 300.0))
    assert perf.latency_quantile_ms(CFG, 0.01) == pytest.approx(100.0)
    assert perf.latency_quantile_ms(CFG, 0.99) == pytest.approx(300.0)
    samples = perf.sample_latency_ms(CFG, 10_000, np.random.default_rng(0))
    assert samples.min() >= 100.0 and samples.max() <= 300.0 + 1e-9


def test_samples_follow_the_published_distribution() -> None:
    perf = _azure()
    samples = perf.sample_latency_ms(CFG, 200_000, np.random.default_rng(1))
    assert samples.shape == (200_000,) and samples.dtype == np.float64
    assert np.isfinite(samples).all()  # never fails
    assert samples.min() >= AZURE_ROW[0] and samples.max() <= AZURE_ROW[-1] * (1 + 1e-12)
    for percent, ms in zip(AZURE_PERCENTS[1:-1], AZURE_ROW[1:-1], strict=True):
        assert np.mean(samples <= ms) == pytest.approx(percent / 100, abs=0.005), percent


def test_samples_are_reproducible_and_ignore_the_configuration() -> None:
    perf = _azure()
    a = perf.sample_latency_ms(CFG, 50, np.random.default_rng(7))
    b = perf.sample_latency_ms(ResourceConfig(4.0, 8192), 50, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert perf.latency_quantile_ms(ResourceConfig(0.1, 128), 0.5) == perf.latency_quantile_ms(CFG, 0.5)
    assert not perf.fails(ResourceConfig(0.1, 1))
    assert perf.sample_latency_ms(CFG, 0, np.random.default_rng(0)).shape == (0,)


def test_constant_row_gives_a_constant_latency() -> None:
    perf = PercentilePerf((0, 100), (2733.0, 2733.0))
    samples = perf.sample_latency_ms(CFG, 100, np.random.default_rng(0))
    assert samples == pytest.approx(np.full(100, 2733.0))


def test_decreasing_latencies_are_made_monotone() -> None:
    # the trace's percentiles of per-interval averages occasionally decrease
    perf = PercentilePerf((0, 50, 99, 100), (10.0, 50.0, 40.0, 60.0))
    assert perf.latencies_ms == (10.0, 50.0, 50.0, 60.0)
    assert perf.latency_quantile_ms(CFG, 0.75) == pytest.approx(50.0)


def test_latencies_below_one_ms_are_raised_to_one_ms() -> None:
    perf = PercentilePerf((0, 50, 100), (0.0, 0.0, 100.0))
    assert perf.latency_quantile_ms(CFG, 0.25) == pytest.approx(1.0)
    assert perf.latency_quantile_ms(CFG, 0.75) == pytest.approx(10.0)  # geometric between 1 and 100
    assert perf.sample_latency_ms(CFG, 1000, np.random.default_rng(0)).min() >= 1.0


def test_cold_start_is_lognormal_around_its_median() -> None:
    perf = PercentilePerf((0, 100), (10.0, 20.0), cold_start_ms=800.0, cold_start_cv=0.3)
    cold = perf.sample_cold_start_ms(CFG, 100_000, np.random.default_rng(2))
    assert np.median(cold) == pytest.approx(800.0, rel=0.01)
    assert np.std(np.log(cold)) == pytest.approx(math.sqrt(math.log1p(0.09)), rel=0.02)
    exact = PercentilePerf((0, 100), (10.0, 20.0), cold_start_ms=500.0, cold_start_cv=0.0)
    assert exact.sample_cold_start_ms(CFG, 3, np.random.default_rng(0)) == pytest.approx([500.0] * 3)


def test_from_points_sorts_the_points() -> None:
    perf = PercentilePerf.from_points([(100, 90.0), (0, 10.0), (50, 30.0)], cold_start_ms=200.0)
    assert perf == PercentilePerf((0, 50, 100), (10.0, 30.0, 90.0), cold_start_ms=200.0)


def test_describe_lists_the_points() -> None:
    text = PercentilePerf((0, 50, 100), (10.0, 30.0, 90.0), cold_start_ms=700.0).describe()
    assert text == "percentiles (ms): p0 10, p50 30, p100 90; cold start 700 ms"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"percents": (50,), "latencies_ms": (10.0,)}, "percentiles"),
        ({"percents": (0, 50, 100), "latencies_ms": (10.0, 20.0)}, "percentiles"),
        ({"percents": (0, 50, 50), "latencies_ms": (10.0, 20.0, 30.0)}, "percentiles"),
        ({"percents": (50, 0), "latencies_ms": (10.0, 20.0)}, "percentiles"),
        ({"percents": (-1, 50), "latencies_ms": (10.0, 20.0)}, "percentiles"),
        ({"percents": (0, 101), "latencies_ms": (10.0, 20.0)}, "percentiles"),
        ({"percents": (0, 100), "latencies_ms": (-1.0, 20.0)}, "latencies_ms"),
        ({"percents": (0, 100), "latencies_ms": (10.0, math.nan)}, "latencies_ms"),
        ({"percents": (0, 100), "latencies_ms": (10.0, math.inf)}, "latencies_ms"),
        ({"percents": (0, 100), "latencies_ms": (10.0, 20.0), "cold_start_ms": -1.0}, "cold_start_ms"),
        ({"percents": (0, 100), "latencies_ms": (10.0, 20.0), "cold_start_ms": math.nan}, "cold_start_ms"),
        ({"percents": (0, 100), "latencies_ms": (10.0, 20.0), "cold_start_cv": -0.1}, "cold_start_cv"),
    ],
)
def test_bad_points_are_refused_by_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as info:
        PercentilePerf(**kwargs)
    assert info.value.field == field


def test_bad_quantile_level_and_sample_count() -> None:
    perf = _azure()
    for q in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError):
            perf.latency_quantile_ms(CFG, q)
    with pytest.raises(ValueError):
        perf.sample_latency_ms(CFG, -1, np.random.default_rng(0))


# ----------------------------------------------------------------------------------------------- the YAML form
def test_spec_builds_a_percentile_model(tmp_path: Path) -> None:
    spec = {"model": "percentiles", "percents": [0, 50, 100], "latencies_ms": [10, 30, 90], "cold_start_ms": 250}
    perf = perf_model_from_spec(spec, base_dir=tmp_path)
    assert perf == PercentilePerf((0, 50, 100), (10.0, 30.0, 90.0), cold_start_ms=250.0)
    assert perf.latency_quantile_ms(CFG, 0.5) == pytest.approx(30.0)


def test_to_spec_round_trips_through_json_and_yaml(tmp_path: Path) -> None:
    perf = PercentilePerf(AZURE_PERCENTS, AZURE_ROW, cold_start_ms=1200.0, cold_start_cv=0.4)
    spec = perf.to_spec()
    assert spec == {
        "model": "percentiles",
        "percents": list(AZURE_PERCENTS),
        "latencies_ms": list(AZURE_ROW),
        "cold_start_ms": 1200.0,
        "cold_start_cv": 0.4,
    }
    for text in (json.dumps(spec), yaml.safe_dump(spec)):
        again = perf_model_from_spec(yaml.safe_load(text), base_dir=tmp_path)
        assert again == perf
        assert again.latency_quantile_ms(CFG, 0.99) == perf.latency_quantile_ms(CFG, 0.99)


def test_to_spec_of_a_monotone_fixed_model_round_trips(tmp_path: Path) -> None:
    perf = PercentilePerf((0, 50, 100), (10.0, 50.0, 40.0))
    assert perf_model_from_spec(perf.to_spec(), base_dir=tmp_path) == perf


@pytest.mark.parametrize(
    ("change", "field", "match"),
    [
        ({"latencies_ms": None}, "perf.latencies_ms", "missing"),
        ({"percents": None}, "perf.percents", "missing"),
        ({"percents": "0,50,100"}, "perf.percents", "list of numbers"),
        ({"latencies_ms": [10, "x", 90]}, "perf.latencies_ms", "list of numbers"),
        ({"percents": [0, 60, 50]}, "perf.percentiles", "increase"),
        ({"latencies_ms": [10, -30, 90]}, "perf.latencies_ms", "in 0..8.64e"),
        ({"latencies_ms": [10, 30, 1e300]}, "perf.latencies_ms", "in 0..8.64e"),
        ({"latencies_ms": [10, 30]}, "perf.percentiles", "two"),
        ({"cold_start_ms": -5}, "perf.cold_start_ms", ">= 0"),
        ({"cold_start_cv": "high"}, "perf.cold_start_cv", "number"),
        ({"scale": 2}, "perf.scale", "unknown field"),
    ],
)
def test_spec_errors_name_the_field(tmp_path: Path, change: dict[str, Any], field: str, match: str) -> None:
    spec: dict[str, Any] = {"model": "percentiles", "percents": [0, 50, 100], "latencies_ms": [10, 30, 90]}
    for key, value in change.items():
        if value is None:
            del spec[key]
        else:
            spec[key] = value
    with pytest.raises(InputError, match=match) as info:
        perf_model_from_spec(spec, base_dir=tmp_path, source="wf.yaml")
    assert (info.value.field, info.value.source) == (field, "wf.yaml")
