"""Tick tables for the pool policies: (history / forecast / future) -> expected PoolTarget."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.platform import PoolTarget
from aquatope.prewarm import (
    FixedKeepAlive,
    HybridHistogramPolicy,
    PolicyContext,
)


def ctx(history: np.ndarray | list[list[float]], **kw: object) -> PolicyContext:
    h = np.asarray(history, dtype=float)
    names = tuple(f"f{i}" for i in range(h.shape[0]))
    return PolicyContext(now_s=float(h.shape[1] * 60), functions=names, history=h, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0.0, 600.0, 1234.5])
def test_keepalive_is_fixed_and_never_prewarms(seconds: float) -> None:
    decision, state = FixedKeepAlive(seconds)(ctx([[0, 5], [3, 0]]))
    assert dict(decision.targets) == {"f0": PoolTarget(0, seconds), "f1": PoolTarget(0, seconds)}
    assert state is None


def periodic(period: int, n: int, last: int) -> list[float]:
    """Active (1 invocation) every ``period`` minutes up to minute ``last``, then silent until ``n``."""
    return [1.0 if (m % period == 0 and m <= last) else 0.0 for m in range(n)]


# Every 10 minutes: ITs of 9 intervals -> head 8.1, tail 11 (intervals after the last active one)
HISTOGRAM_TABLE = [
    (0, PoolTarget(0, 0.0)),  # just used: unloaded
    (7, PoolTarget(0, 0.0)),  # interval [7, 8) is before the window
    (8, PoolTarget(1, 0.0)),  # [8, 9) overlaps [8.1, 11): pre-warmed
    (10, PoolTarget(1, 0.0)),
    (11, PoolTarget(0, 0.0)),  # window over
]


@pytest.mark.parametrize(("elapsed", "target"), HISTOGRAM_TABLE)
def test_hybrid_histogram_prewarm_window(elapsed: int, target: PoolTarget) -> None:
    last = 200
    history = [periodic(10, last + 1 + elapsed, last)]
    decision, _ = HybridHistogramPolicy()(ctx(history))
    assert decision.targets["f0"] == target


def test_hybrid_histogram_standard_keepalive_and_busy_functions() -> None:
    history = [
        [0.0] * 100,  # never invoked: fixed keep-alive of the range (4 h)
        [3.0] * 100,  # several per minute: head 0, tail 1.1 interval -> plain keep-alive of 66 s
        [1.0 if m in (5, 50, 90) else 0.0 for m in range(100)],  # too few ITs: range keep-alive
    ]
    decision, _ = HybridHistogramPolicy()(ctx(history))
    assert decision.targets["f0"] == PoolTarget(0, 14400.0)
    assert decision.targets["f1"].min_warm == 0
    assert decision.targets["f1"].keep_alive_s == pytest.approx(66.0)
    assert decision.targets["f2"] == PoolTarget(0, 14400.0)


@pytest.mark.parametrize(("elapsed", "warm"), [(253, 0), (254, 1), (343, 1), (344, 0)])
def test_hybrid_histogram_out_of_range_uses_ewma_of_idle_times(elapsed: int, warm: int) -> None:
    last = 900  # ITs of 299 intervals (> 240): head 0.85 * 299 = 254.15, tail 1.15 * 299 = 343.85
    decision, _ = HybridHistogramPolicy()(ctx([periodic(300, last + 1 + elapsed, last)]))
    assert decision.targets["f0"] == PoolTarget(warm, 0.0)


def test_hybrid_histogram_state_is_incremental() -> None:
    history = np.array([periodic(10, 230, 220), periodic(3, 230, 229)])
    policy = HybridHistogramPolicy()
    state = None
    for n in (100, 180, 230):
        decision, state = policy(ctx(history[:, :n], state=state))
    fresh, fresh_state = policy(ctx(history))
    assert decision == fresh
    np.testing.assert_array_equal(state.hist, fresh_state.hist)
    assert state.seen == 230
