"""ParametricPerf: hand-computed latencies, noise and straggler statistics, cold starts, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.perf import ParametricPerf, PerfModel, noise_quantile
from aquatope.resources import ResourceConfig


def _model(**overrides: float) -> ParametricPerf:
    fields: dict[str, float] = {
        "serial_ms": 100.0,
        "parallel_ms": 200.0,
        "max_parallelism": 4.0,
        "io_ms": 50.0,
        "working_set_mb": 512.0,
        "min_memory_mb": 256.0,
        "cv": 0.0,
        "cold_start_ms": 1000.0,
        "cold_start_cv": 0.0,
    }
    fields.update(overrides)
    return ParametricPerf(**fields)


@pytest.mark.parametrize(
    ("cpu", "memory_mb", "expected_ms"),
    [
        (1.0, 1024, 100 + 200 + 50),  # 1 vCPU, no memory pressure
        (2.0, 1024, 100 + 200 / 2 + 50),  # the parallel part uses 2 vCPU
        (8.0, 1024, 100 + 200 / 4 + 50),  # ... but at most max_parallelism = 4
        (0.5, 1024, (100 + 200) / 0.5 + 50),  # a fractional quota slows serial and parallel parts
        (1.0, 512, 350),  # at the working set: no slowdown
        (1.0, 256, 300 * (1 + 1.0 * (512 / 256 - 1)) + 50),  # below it: cpu part x 2, io untouched
    ],
)
def test_deterministic_latency_is_amdahl_plus_io_with_memory_slowdown(
    cpu: float, memory_mb: int, expected_ms: float
) -> None:
    model = _model()
    config = ResourceConfig(cpu, memory_mb)
    samples = model.sample_latency_ms(config, 5, np.random.default_rng(0))
    assert samples.dtype == np.float64 and samples.shape == (5,)
    np.testing.assert_allclose(samples, expected_ms, rtol=1e-12)
    assert model.latency_quantile_ms(config, 0.5) == pytest.approx(expected_ms, rel=1e-12)
    assert model.latency_quantile_ms(config, 0.99) == pytest.approx(expected_ms, rel=1e-12)


def test_memory_slowdown_strength_scales_the_penalty() -> None:
    model = _model(memory_slowdown=0.5)
    assert model.base_latency_ms(ResourceConfig(1.0, 256)) == pytest.approx(300 * 1.5 + 50)
    assert _model(memory_slowdown=0.0).base_latency_ms(ResourceConfig(1.0, 256)) == pytest.approx(350)


def test_out_of_memory_fails_every_invocation_as_nan() -> None:
    model = _model()
    oom, ok = ResourceConfig(1.0, 255), ResourceConfig(1.0, 256)
    assert model.fails(oom) and not model.fails(ok)
    samples = model.sample_latency_ms(oom, 4, np.random.default_rng(0))
    assert samples.shape == (4,) and np.all(np.isnan(samples))
    assert model.latency_quantile_ms(oom, 0.5) == math.inf
    assert np.all(np.isfinite(model.sample_cold_start_ms(oom, 4, np.random.default_rng(0))))


def test_is_a_perf_model_and_reproducible_from_its_seed() -> None:
    model = _model(cv=0.3, straggler_prob=0.1, straggler_factor=3.0)
    assert isinstance(model, PerfModel)
    config = ResourceConfig(1.5, 1024)
    a = model.sample_latency_ms(config, 100, np.random.default_rng(7))
    b = model.sample_latency_ms(config, 100, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert model.sample_latency_ms(config, 0, np.random.default_rng(7)).shape == (0,)
    assert "parametric" in model.describe()


def test_lognormal_noise_preserves_the_mean() -> None:
    model = _model(cv=0.5)
    config = ResourceConfig(1.0, 1024)
    samples = model.sample_latency_ms(config, 200_000, np.random.default_rng(1))
    assert samples.mean() == pytest.approx(350, rel=0.01)
    assert samples.std() / samples.mean() == pytest.approx(0.5, rel=0.03)


@pytest.mark.parametrize(
    ("cv", "prob", "factor"), [(0.3, 0.0, 1.0), (0.3, 0.05, 4.0), (0.1, 0.2, 1.5), (0.0, 0.15, 3.0)]
)
def test_quantiles_match_sampled_quantiles(cv: float, prob: float, factor: float) -> None:
    model = _model(cv=cv, straggler_prob=prob, straggler_factor=factor)
    config = ResourceConfig(2.0, 1024)
    samples = model.sample_latency_ms(config, 20_000, np.random.default_rng(2))
    for q in (0.05, 0.25, 0.5, 0.75, 0.9, 0.99):
        expected = model.latency_quantile_ms(config, q)
        assert np.quantile(samples, q) == pytest.approx(expected, rel=0.04), q


def test_quantile_without_stragglers_is_the_lognormal_closed_form() -> None:
    sigma = math.sqrt(math.log(1 + 0.4**2))
    z90 = 1.2815515655446004
    assert noise_quantile(0.9, 0.4, 0.0, 1.0) == pytest.approx(math.exp(-(sigma**2) / 2 + sigma * z90))


def test_straggler_fraction_and_factor() -> None:
    model = _model(straggler_prob=0.1, straggler_factor=3.0)
    config = ResourceConfig(1.0, 1024)
    samples = model.sample_latency_ms(config, 20_000, np.random.default_rng(3))
    assert set(np.unique(samples)) == {350.0, 1050.0}
    assert np.mean(samples == 1050.0) == pytest.approx(0.1, abs=0.01)
    assert model.latency_quantile_ms(config, 0.85) == pytest.approx(350)
    assert model.latency_quantile_ms(config, 0.95) == pytest.approx(1050)


def test_cold_start_shrinks_with_cpu_up_to_one_vcpu() -> None:
    model = _model(cold_start_cpu_fraction=0.5)
    rng = np.random.default_rng(4)
    cold = {cpu: model.sample_cold_start_ms(ResourceConfig(cpu, 1024), 3, rng) for cpu in (0.25, 0.5, 1, 2)}
    np.testing.assert_allclose(cold[0.25], 1000 * (0.5 / 0.25 + 0.5))
    np.testing.assert_allclose(cold[0.5], 1000 * (0.5 / 0.5 + 0.5))
    np.testing.assert_allclose(cold[1], 1000)
    np.testing.assert_allclose(cold[2], 1000)  # init is single-threaded: nothing gained beyond 1 vCPU
    noisy = _model(cold_start_cv=0.2).sample_cold_start_ms(ResourceConfig(0.5, 1024), 50_000, rng)
    assert noisy.mean() == pytest.approx(1500, rel=0.01)
    assert noisy.std() / noisy.mean() == pytest.approx(0.2, rel=0.05)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("serial_ms", -1.0),
        ("io_ms", float("nan")),
        ("parallel_ms", "fast"),
        ("max_parallelism", 0.5),
        ("working_set_mb", 0.0),
        ("min_memory_mb", 1024.0),  # above the working set
        ("memory_slowdown", -0.1),
        ("cv", -0.2),
        ("straggler_prob", 1.0),
        ("straggler_factor", 0.9),
        ("cold_start_ms", -5.0),
        ("cold_start_cpu_fraction", 1.5),
        ("cold_start_cv", True),
        ("cold_start_ms", 1e300),  # bounded: a day in ms
        ("cv", 1e200),  # would overflow the lognormal's sigma
        ("working_set_mb", float(2**21)),
        ("max_parallelism", 1e9),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InputError) as info:
        _model(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_zero_work_is_refused() -> None:
    with pytest.raises(InputError, match="serial_ms"):
        _model(serial_ms=0.0, parallel_ms=0.0, io_ms=0.0)


def test_ints_are_stored_as_floats_and_spec_lists_every_field() -> None:
    model = _model(serial_ms=100)
    assert isinstance(model.serial_ms, float)
    spec = model.to_spec()
    assert spec["model"] == "parametric"
    assert set(spec) == {"model"} | {f.name for f in dataclasses.fields(ParametricPerf)}


def test_memory_used_is_the_working_set_capped_by_the_limit() -> None:
    model = _model()  # working set 512 MB, out of memory below 256
    assert model.memory_used_mb(ResourceConfig(1.0, 2048)) == 512.0
    assert model.memory_used_mb(ResourceConfig(1.0, 384)) == 384.0  # pages: holds all it has
