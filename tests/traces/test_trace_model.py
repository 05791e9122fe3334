"""InvocationTrace: validation, select, slice_minutes, scale and size helpers."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.traces import DurationStats, InvocationTrace, MemoryStats


def _trace() -> InvocationTrace:
    nan = np.nan
    return InvocationTrace(
        function_ids=("a", "b", "c"),
        counts=np.array([[1, 0, 3, 0], [0, 0, 0, 0], [5, 5, 5, 5]]),
        app_ids=("x", "x", "y"),
        durations=DurationStats(
            np.array([1.0, 2.0, 3.0]),
            np.array([0.5, 1.0, 2.0]),
            np.array([2.0, 3.0, 4.0]),
            np.array([10.0, 20.0, nan]),
            (50.0,),
            np.array([[1.0], [2.0], [3.0]]),
        ),
        memory=MemoryStats(np.array([128.0, 128.0, 256.0]), np.ones(3), (50.0,), np.array([[1.0], [1.0], [2.0]])),
    )


def test_sizes_and_immutability() -> None:
    trace = _trace()
    assert (trace.n_functions, trace.n_minutes, trace.total_invocations) == (3, 4, 24)
    assert trace.per_minute_rate().tolist() == [1.0, 0.0, 5.0]
    with pytest.raises(ValueError):
        trace.counts[0, 0] = 9
    assert trace.durations is not None
    with pytest.raises(ValueError):
        trace.durations.average_ms[0] = 9.0


def test_select_by_ids_and_indices_keeps_everything_aligned() -> None:
    trace = _trace()
    picked = trace.select(["c", "a"])
    assert picked.function_ids == ("c", "a") and picked.app_ids == ("y", "x")
    assert picked.counts.tolist() == [[5, 5, 5, 5], [1, 0, 3, 0]]
    assert picked.durations is not None and picked.durations.average_ms.tolist() == [3.0, 1.0]
    assert picked.memory is not None and picked.memory.average_mb.tolist() == [256.0, 128.0]
    assert trace.select([1]).function_ids == ("b",)
    assert trace.select(np.array([2, 0])).function_ids == ("c", "a")
    with pytest.raises(InputError, match="unknown function id 'zz'"):
        trace.select(["zz"])
    with pytest.raises(IndexError):
        trace.select([3])


def test_slice_minutes() -> None:
    sliced = _trace().slice_minutes(1, 3)
    assert sliced.counts.tolist() == [[0, 3], [0, 0], [5, 5]] and sliced.n_minutes == 2
    assert _trace().slice_minutes(2).n_minutes == 2


def test_scale_is_stochastic_rounding_with_a_seed() -> None:
    trace = InvocationTrace(("f",), np.full((1, 10_000), 3))
    half = trace.scale(0.5, seed=1)
    assert set(np.unique(half.counts).tolist()) == {1, 2}
    assert half.counts.mean() == pytest.approx(1.5, abs=0.05)
    assert np.array_equal(half.counts, trace.scale(0.5, seed=1).counts)
    assert np.array_equal(trace.scale(2.0).counts, trace.counts * 2)
    assert np.array_equal(trace.scale(1.0).counts, trace.counts)
    with pytest.raises(InputError, match="scale factor"):
        trace.scale(-1.0)


@pytest.mark.parametrize(
    ("ids", "counts", "words"),
    [
        (("a", "a"), [[1], [2]], "unique"),
        (("a",), [[1], [2]], "function ids for 2 rows"),
        (("a",), [[-1]], ">= 0"),
        (("a",), [1], "2-D"),
    ],
)
def test_invalid_traces_are_refused(ids: tuple[str, ...], counts: list[object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        InvocationTrace(ids, np.array(counts))


def test_scale_refuses_counts_beyond_exact_integers() -> None:
    trace = InvocationTrace(("f",), np.array([[3, 0]]), source="t.csv")
    with pytest.raises(InputError, match="more than 9.01e\\+15") as info:
        trace.scale(1e300)
    assert (info.value.field, info.value.source) == ("scale", "t.csv")
    assert trace.scale(1e6).counts.tolist() == [[3_000_000, 0]]
