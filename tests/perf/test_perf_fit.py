"""fit_parametric: the parametric model reproduces the SeBS warm medians, and recovers synthetic models."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import aquatope
from aquatope.perf import Measurements, ParametricPerf, fit_parametric, load_measurements
from aquatope.resources import ResourceConfig

SEBS_DIR = Path(aquatope.__file__).parent / "workloads" / "measurements"


def _measured_warm_medians(path: Path) -> dict[int, float]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    sizes = sorted({int(r["memory"]) for r in rows})
    return {
        m: float(
            np.median([float(r["exec_time"]) / 1000 for r in rows if int(r["memory"]) == m and r["type"] == "warm"])
        )
        for m in sizes
    }


@pytest.mark.parametrize("name", ["sebs-120.csv", "sebs-210_python.csv", "sebs-311.csv"])
def test_fit_reproduces_sebs_warm_medians_within_15_percent(name: str) -> None:
    result = fit_parametric(load_measurements(SEBS_DIR / name))
    print(f"\n{name}: {result.model.describe()}\n{result.table()}")
    expected = _measured_warm_medians(SEBS_DIR / name)
    assert [c.config.memory_mb for c in result.per_config] == list(expected)
    for row in result.per_config:
        assert row.measured_median_ms == pytest.approx(expected[row.config.memory_mb])
        assert row.config.cpu == pytest.approx(row.config.memory_mb / 1769, abs=1e-4)
        assert row.fitted_median_ms == pytest.approx(result.model.latency_quantile_ms(row.config, 0.5))
        assert abs(row.rel_error) <= 0.15, f"{name} at {row.config}: {row.rel_error:+.1%}"
    assert result.max_rel_error <= 0.15
    assert result.median_rel_error <= result.max_rel_error
    model = result.model
    assert 0 < model.cv < 1 and model.cold_start_ms > 0
    assert all(not model.fails(c.config) for c in result.per_config)


def _synthetic(model: ParametricPerf, configs: list[ResourceConfig], n: int, seed: int) -> Measurements:
    rng = np.random.default_rng(seed)
    mem, cpu, cold, lat = [], [], [], []
    for config in configs:
        warm = model.sample_latency_ms(config, n, rng)
        first = model.sample_latency_ms(config, n, rng) + model.sample_cold_start_ms(config, n, rng)
        mem += [config.memory_mb] * 2 * n
        cpu += [config.cpu] * 2 * n
        cold += [False] * n + [True] * n
        lat += [*warm, *first]
    return Measurements.from_arrays(mem, cold, lat, cpu=cpu)


def test_fit_recovers_a_decoupled_synthetic_model() -> None:
    truth = ParametricPerf(
        serial_ms=50, parallel_ms=400, max_parallelism=2, io_ms=20, working_set_mb=1024, min_memory_mb=128,
        cv=0.1, cold_start_ms=500, memory_slowdown=0.5, straggler_prob=0.05, straggler_factor=3,
        cold_start_cpu_fraction=0.6, cold_start_cv=0.1,
    )  # fmt: skip
    configs = [ResourceConfig(c, m) for c in (0.25, 0.5, 1.0, 2.0, 4.0) for m in (512, 1024, 2048)]
    result = fit_parametric(_synthetic(truth, configs, 400, seed=0))
    print(f"\n{result.model.describe()}\n{result.table()}")
    assert result.max_rel_error < 0.03
    fitted = result.model
    assert fitted.cv == pytest.approx(0.1, rel=0.15)
    assert fitted.straggler_prob == pytest.approx(0.05, abs=0.015)
    assert fitted.straggler_factor == pytest.approx(3, rel=0.15)
    assert fitted.max_parallelism == pytest.approx(2, rel=0.25)
    for config in (ResourceConfig(0.25, 512), ResourceConfig(4.0, 2048)):
        cold_truth, cold_fit = truth.cold_start_base_ms(config), fitted.cold_start_base_ms(config)
        assert cold_fit == pytest.approx(cold_truth, rel=0.1)


def test_fit_on_a_single_size_without_cold_rows_is_still_a_valid_model() -> None:
    data = Measurements.from_arrays([1024] * 5, [False] * 5, [90.0, 100.0, 100.0, 110.0, 120.0])
    result = fit_parametric(data)
    assert result.max_rel_error < 1e-9
    assert result.model.cold_start_ms == 0 and result.model.min_memory_mb == 0
