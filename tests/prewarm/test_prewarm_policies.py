"""Tick tables for the pool policies: (history / forecast / future) -> expected PoolTarget."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.platform import FunctionObservation, PoolTarget
from aquatope.prewarm import (
    FixedKeepAlive,
    ForecastPoolPolicy,
    FunctionStats,
    HybridHistogramPolicy,
    PolicyContext,
)
from aquatope.prewarm.forecast_pool import onset_persistence


def ctx(history: np.ndarray | list[list[float]], **kw: object) -> PolicyContext:
    h = np.asarray(history, dtype=float)
    names = tuple(f"f{i}" for i in range(h.shape[0]))
    return PolicyContext(now_s=float(h.shape[1] * 60), functions=names, history=h, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("seconds", [0.0, 600.0, 1234.5])
def test_keepalive_is_fixed_and_never_prewarms(seconds: float) -> None:
    decision, state = FixedKeepAlive(seconds)(ctx([[0, 5], [3, 0]]))
    assert dict(decision.targets) == {"f0": PoolTarget(0, seconds), "f1": PoolTarget(0, seconds)}
    assert state is None


# (forecast mean, std, mean duration s, observed in progress, q) -> min_warm; keep-alive is half an interval (30 s)
AQUATOPE_TABLE = [
    (0.0, 0.0, 1.0, 0, 0.9, 0),  # nothing expected: no container
    (0.3, 0.0, 1.0, 0, 0.9, 0),  # below presence (0.5)
    (6.0, 0.0, 1.0, 0, 0.9, 2),  # L = 0.1, m = 60, level 0.9^(1/60) = 0.99825: Poisson(0.1) quantile 2
    (60.0, 0.0, 1.0, 0, 0.9, 5),  # L = 1, level 0.99825: Poisson(1) quantile 5
    (600.0, 0.0, 6.0, 0, 0.9, 79),  # L = 60, m = 10, level 0.98952: Poisson(60) quantile 79
    (600.0, 0.0, 6.0, 500, 0.9, 79),  # short function: nothing running now survives the interval
    (60.0, 0.0, 120.0, 0, 0.9, 70),  # long function: all 60 arrivals overlap; Poisson(60) q0.9 = 70
    (60.0, 0.0, 120.0, 100, 0.9, 120),  # + half of the 100 running still run at the end: 50 + 70
    (0.0, 0.0, 1200.0, 400, 0.9, 0),  # nothing expected: running invocations keep their own containers
    (0.0, 1.0, 1.0, 0, 0.9, 1),  # q0.9 = 1.28 >= presence
    (0.0, 1.0, 1.0, 0, 0.5, 0),  # q0.5 = 0
]


@pytest.mark.parametrize(("mean", "std", "duration", "running", "q", "warm"), AQUATOPE_TABLE)
def test_aquatope_tick_table(mean: float, std: float, duration: float, running: int, q: float, warm: int) -> None:
    forecast = Forecast(np.array([[mean]]), np.array([[std]]))
    stats = {"f0": FunctionStats(duration, duration)}
    observed = {"f0": FunctionObservation(invocations=0, peak_concurrency=running)}
    decision, _ = ForecastPoolPolicy(q=q)(ctx([[1, 2]], forecast=forecast, stats=stats, observed=observed))
    assert decision.targets["f0"] == PoolTarget(warm, 30.0)


def test_aquatope_floor_rises_with_q() -> None:
    forecast = Forecast(np.array([[5.0, 40.0, 300.0]]).T, np.array([[2.0, 10.0, 50.0]]).T)
    stats = {f"f{i}": FunctionStats(d, d) for i, d in enumerate((600.0, 30.0, 2.0))}
    floors = [
        [
            t.min_warm
            for t in ForecastPoolPolicy(q=q)(ctx(np.ones((3, 2)), forecast=forecast, stats=stats))[0].targets.values()
        ]
        for q in (0.5, 0.7, 0.9, 0.99)
    ]
    assert np.all(np.diff(np.array(floors), axis=0) >= 0)
    assert sum(floors[-1]) > sum(floors[0])


def test_aquatope_onset_persistence_raises_the_count() -> None:
    # bursts from zero last 2 intervals (persistence 1) in f0; isolated one-interval spikes (persistence 0) in f1
    history = [[0, 0, 50, 50, 0, 0, 80, 80, 0, 0, 400], [0, 0, 50, 0, 0, 0, 80, 0, 0, 0, 400]]
    np.testing.assert_allclose(onset_persistence(np.array(history, dtype=float), 1440), [1.0, 0.0])
    forecast = Forecast(np.full((2, 1), 10.0), np.zeros((2, 1)))  # lags the burst
    stats = {f: FunctionStats(120.0, 120.0) for f in ("f0", "f1")}
    decision, _ = ForecastPoolPolicy()(ctx(history, forecast=forecast, stats=stats))
    # f0: c = max(10, 1.0 * 400) = 400 -> Poisson(400) q0.9 = 426; f1: c = 10 -> Poisson(10) q0.9 = 14
    assert decision.targets["f0"].min_warm == 426
    assert decision.targets["f1"].min_warm == 14


def test_aquatope_refuses_missing_forecast() -> None:
    with pytest.raises(InputError):
        ForecastPoolPolicy()(ctx([[1.0]]))


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
