"""Tick tables for ``aquatope:q`` (the forecast pool policy), its onset floor and its default durations."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.platform import FunctionObservation, PoolTarget
from aquatope.prewarm import ForecastPoolPolicy, FunctionStats, PolicyContext
from aquatope.prewarm.forecast_pool import (
    DEFAULT_STATS,
    ONSET_FLOOR_REASON,
    onset_persistence,
)


def ctx(history: np.ndarray | list[list[float]], **kw: object) -> PolicyContext:
    h = np.asarray(history, dtype=float)
    names = tuple(f"f{i}" for i in range(h.shape[0]))
    return PolicyContext(now_s=float(h.shape[1] * 60), functions=names, history=h, **kw)  # type: ignore[arg-type]


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


def test_the_onset_floor_is_named_in_the_reasons_and_can_be_switched_off() -> None:
    history = [[0, 0, 50, 50, 0, 0, 80, 80, 0, 0, 400], [0, 0, 50, 0, 0, 0, 80, 0, 0, 0, 400]]
    forecast = Forecast(np.full((2, 1), 10.0), np.zeros((2, 1)))
    stats = {f: FunctionStats(120.0, 120.0) for f in ("f0", "f1")}
    decision, _ = ForecastPoolPolicy()(ctx(history, forecast=forecast, stats=stats))
    assert decision.reasons == {"f0": ONSET_FLOOR_REASON}  # f1's spikes never persist: the floor stays at 0
    off = ForecastPoolPolicy(onset_floor=False)
    assert off.name == "aquatope:q=0.9,no-floor"
    decision, _ = off(ctx(history, forecast=forecast, stats=stats))
    assert decision.reasons == {}
    assert decision.targets["f0"].min_warm == decision.targets["f1"].min_warm == 14  # the forecast alone


def test_missing_stats_use_the_documented_default() -> None:
    forecast = Forecast(np.array([[60.0], [60.0]]), np.zeros((2, 1)))
    with_default = {"f0": DEFAULT_STATS}  # f1 has no observed duration
    decision, _ = ForecastPoolPolicy()(ctx([[0.0], [0.0]], forecast=forecast, stats=with_default))
    assert decision.targets["f0"] == decision.targets["f1"] == PoolTarget(5, 30.0)  # the 1 s row of the tick table


@pytest.mark.parametrize("bad", [3e18, 1e300])
def test_an_unusable_forecast_falls_back_on_the_last_count_and_says_so(bad: float) -> None:
    """A forecast of 3e18 invocations (as a bisection bound once produced; NaN cannot be built) must not reach the
    platform as a pool size: that function uses its last observed count, the decision is marked as a fallback."""
    forecast = Forecast(np.array([[bad], [6.0]]), np.array([[0.0], [0.0]]))
    stats = {"f0": FunctionStats(1.0, 1.0), "f1": FunctionStats(1.0, 1.0)}
    decision, _ = ForecastPoolPolicy(onset_floor=False)(ctx([[0, 6], [1, 2]], forecast=forecast, stats=stats))
    assert decision.fallback and "f0" in decision.reasons and "f1" not in decision.reasons
    assert decision.targets["f0"].min_warm == 2  # as a forecast of 6 (the last count) gives
    assert decision.targets["f1"].min_warm == 2


def test_keep_auto_keeps_containers_above_the_floor_for_the_learned_keep_alive() -> None:
    """A timer every 10 minutes: ``keep=auto`` keeps what the floor does not hold for the keep-alive learned from
    the history at the first tick (the 99th percentile of idle times, 9 intervals, plus 10%: 11 minutes), and keeps
    that choice as its state when the history grows; the default releases them after half an interval. A function
    busy every minute learns 1.1 minutes."""
    timer = np.zeros((1, 600))
    timer[0, ::10] = 1.0
    forecast = Forecast(np.zeros((1, 1)), np.zeros((1, 1)))
    stats = {"f0": FunctionStats(1.0, 1.0)}
    short, _ = ForecastPoolPolicy()(ctx(timer, forecast=forecast, stats=stats))
    assert short.targets["f0"] == PoolTarget(0, 30.0)
    auto = ForecastPoolPolicy(keep="auto")
    decision, state = auto(ctx(timer, forecast=forecast, stats=stats))
    assert decision.targets["f0"].keep_alive_s == pytest.approx(10 * 1.1 * 60.0)
    assert decision.targets["f0"].min_warm == 0  # the floor is the forecast's, unchanged
    busy = np.full((1, 600), 5.0)
    again, same = auto(ctx(busy, forecast=forecast, stats=stats, state=state))
    assert again.targets["f0"].keep_alive_s == pytest.approx(660.0) and same is state
    fresh, _ = auto(ctx(busy, forecast=forecast, stats=stats))
    assert fresh.targets["f0"].keep_alive_s == pytest.approx(1.1 * 60.0)
    with pytest.raises(InputError, match="keep"):
        ForecastPoolPolicy(keep="forever")
