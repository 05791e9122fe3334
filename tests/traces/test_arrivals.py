"""expand_arrivals: per-minute counts to sorted arrival times in seconds."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.traces import ArrivalMode, expand_arrivals


def test_uniform_is_evenly_spaced_within_each_minute() -> None:
    times = expand_arrivals(np.array([2, 0, 1]))
    assert times.tolist() == [15.0, 45.0, 150.0]
    assert expand_arrivals(np.array([1]), start_s=600.0).tolist() == [630.0]


@pytest.mark.parametrize("mode", ["uniform", "poisson"])
def test_conservation_bounds_and_order(mode: ArrivalMode) -> None:
    counts = np.random.default_rng(0).poisson(3.0, size=1440) * np.arange(1440) % 50
    times = expand_arrivals(counts, mode=mode, rng=np.random.default_rng(1))
    assert times.size == counts.sum()
    assert np.all(np.diff(times) >= 0)
    minute_of_each = np.repeat(np.arange(1440), counts)
    assert np.array_equal(np.floor(times / 60.0).astype(np.int64), minute_of_each)


def test_poisson_is_deterministic_per_rng_and_random_within_minutes() -> None:
    counts = np.full(10, 100)
    a = expand_arrivals(counts, mode="poisson", rng=np.random.default_rng(5))
    b = expand_arrivals(counts, mode="poisson", rng=np.random.default_rng(5))
    c = expand_arrivals(counts, mode="poisson", rng=np.random.default_rng(6))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.array_equal(a, expand_arrivals(counts))


def test_millions_of_invocations_in_one_call() -> None:
    counts = np.full(1440, 1500)  # 2.16 million invocations
    times = expand_arrivals(counts, mode="poisson", rng=np.random.default_rng(0))
    assert times.size == 2_160_000 and times[0] >= 0.0 and times[-1] < 1440 * 60.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="needs rng"):
        expand_arrivals(np.array([1]), mode="poisson")
    with pytest.raises(ValueError, match="non-negative"):
        expand_arrivals(np.array([1, -1]))
    with pytest.raises(ValueError, match="1-D"):
        expand_arrivals(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="unknown mode"):
        expand_arrivals(np.array([1]), mode="gamma")
    assert expand_arrivals(np.zeros(5, dtype=np.int64)).size == 0


def test_more_arrivals_than_the_limit_are_refused_not_allocated() -> None:
    from aquatope.errors import InputError
    from aquatope.traces.arrivals import MAX_ARRIVALS

    with pytest.raises(InputError, match="arrivals to replay, more than the limit"):
        expand_arrivals(np.array([MAX_ARRIVALS, 1]))
