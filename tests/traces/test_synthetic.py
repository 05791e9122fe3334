"""Synthetic generators (rates are invocations per minute) and the synthetic:KIND:key=value spec."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.traces import (
    InvocationTrace,
    bursty_trace,
    diurnal_trace,
    load_trace,
    parse_synthetic_spec,
    periodic_trace,
    poisson_trace,
)


def _dispersion(counts: np.ndarray) -> float:
    """Index of dispersion (variance / mean) of all counts, pooled over functions."""
    return float(counts.var(axis=1).mean() / counts.mean())


@pytest.mark.parametrize("make", [poisson_trace, diurnal_trace, bursty_trace, periodic_trace])
def test_determinism_per_seed(make: Callable[..., InvocationTrace]) -> None:
    a, b, c = (make(minutes=600, functions=3, seed=s) for s in (7, 7, 8))
    assert np.array_equal(a.counts, b.counts)
    assert not np.array_equal(a.counts, c.counts)
    assert a.counts.shape == (3, 600) and a.counts.dtype == np.int64


def test_poisson_mean_and_dispersion() -> None:
    trace = poisson_trace(5.0, minutes=1440, functions=20, seed=1)
    assert trace.counts.mean() == pytest.approx(5.0, rel=0.02)
    assert _dispersion(trace.counts) == pytest.approx(1.0, abs=0.1)
    assert trace.function_ids[:2] == ("poisson-00", "poisson-01")


def test_diurnal_mean_and_shape() -> None:
    trace = diurnal_trace(10.0, amplitude=0.8, minutes=2880, functions=10, seed=2)
    assert trace.counts.mean() == pytest.approx(10.0, rel=0.02)
    hourly = trace.counts.sum(axis=0).reshape(-1, 60).sum(axis=1)
    assert np.argmax(hourly[:24]) in (5, 6)  # sine peaks a quarter period (6 h) in
    assert np.argmin(hourly[:24]) in (17, 18)


def test_bursty_mean_and_higher_dispersion_than_poisson() -> None:
    bursty = bursty_trace(5.0, minutes=1440, functions=50, seed=3)
    poisson = poisson_trace(5.0, minutes=1440, functions=50, seed=3)
    assert bursty.counts.mean() == pytest.approx(5.0, rel=0.1)
    assert _dispersion(bursty.counts) > 5 * _dispersion(poisson.counts)


def test_periodic_period_and_offsets() -> None:
    trace = periodic_trace(15, count=3, offset=4, minutes=120, functions=2)
    for row in trace.counts:
        active = np.flatnonzero(row)
        assert active.tolist() == list(range(4, 120, 15))
        assert set(row[active].tolist()) == {3}
    random_offsets = periodic_trace(60, minutes=1440, functions=8, seed=5)
    for row in random_offsets.counts:
        assert np.all(np.diff(np.flatnonzero(row)) == 60) and row.sum() == 24


def test_spec_string_matches_the_generator() -> None:
    spec = "synthetic:poisson:rate=5,minutes=100,functions=2,seed=9"
    trace = parse_synthetic_spec(spec)
    assert np.array_equal(trace.counts, poisson_trace(5.0, minutes=100, functions=2, seed=9).counts)
    assert trace.source == spec
    assert np.array_equal(load_trace(spec).counts, trace.counts)
    # the caller's seed applies when the spec gives none
    other = load_trace("synthetic:bursty:rate=2,minutes=50", seed=4)
    assert np.array_equal(other.counts, bursty_trace(2.0, minutes=50, seed=4).counts)
    assert load_trace("synthetic:periodic").counts.sum() == 24  # defaults: every 60 min, one day


@pytest.mark.parametrize(
    ("spec", "words", "field"),
    [
        ("synthetic:gauss:rate=1", "unknown synthetic kind", None),
        ("synthetic:poisson:lambda=1", "unknown parameter", "lambda"),
        ("synthetic:poisson:rate=fast", "expected a number", "rate"),
        ("synthetic:periodic:period=2.5", "expected an integer", "period"),
        ("synthetic:poisson:rate=-1", "rate must be", "rate"),
        ("synthetic:poisson:rate=1,rate=2", "given twice", "rate"),
        ("synthetic:poisson:rate", "expected key=value", None),
        ("synthetic:diurnal:amplitude=2", "amplitude must be", "amplitude"),
        ("synthetic:poisson:minutes=0", "minutes must be", "minutes"),
        ("synthetic:poisson:rate=1e300", "rate must be a number in 0..1e+08", "rate"),
        ("synthetic:poisson:seed=-1", "must be an integer in 0..4294967295", "seed"),
        ("synthetic:poisson:minutes=600000", "more than the limit of 527,040", "minutes"),
        ("synthetic:poisson:functions=1000000", "GiB of counts", "functions"),
        ("synthetic:diurnal:phase=nan", "phase must be a finite", "phase"),
        ("synthetic:bursty:on_minutes=inf", "on_minutes must be in", "on_minutes"),
        ("synthetic:bursty:ratio=inf", "ratio (on rate / off rate) must be in", "ratio"),
        ("synthetic:periodic:count=1000000000", "count must be in", "count"),
    ],
)
def test_bad_specs(spec: str, words: str, field: str | None) -> None:
    with pytest.raises(InputError) as info:
        parse_synthetic_spec(spec)
    assert words in str(info.value) and info.value.source == spec and info.value.field == field
