"""The ``--pareto`` knobs: sweeps fixed a priori, specs at each value, and each knob moving its pool the documented way."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.platform import FunctionObservation
from aquatope.prewarm import KNOBS, FunctionStats, PolicyContext, PoolPolicy, knob_for, make_policy, policy_with_knob
from aquatope.prewarm.histogram import HistogramState, update_histograms
from aquatope.prewarm.knobs import odds_grid, seconds_grid

SWEEPS = {
    "keepalive": (150.0, 300.0, 600.0, 1200.0, 2400.0),
    "keepalive:auto": (0.917, 0.971, 0.99, 0.997, 0.999),
    "hybrid-histogram": (0.917, 0.971, 0.99, 0.997, 0.999),
    "reactive": (0.206, 0.437, 0.7, 0.875, 0.955),
    "provisioned": (0.917, 0.971, 0.99, 0.997, 0.999),
    "aquatope": (0.5, 0.75, 0.9, 0.964, 0.988),
}


def test_sweeps_are_the_default_and_a_symmetric_grid() -> None:
    assert {k: v.values for k, v in KNOBS.items()} == SWEEPS
    for knob in KNOBS.values():
        assert knob.values[2] == knob.default
    assert seconds_grid(600.0) == SWEEPS["keepalive"] and odds_grid(0.9) == SWEEPS["aquatope"]


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        ("keepalive:600", 300.0, "keepalive:300"),
        ("keepalive:auto", 0.999, "keepalive:auto:p=0.999"),
        ("keepalive:auto:p=0.9", 0.99, "keepalive:auto"),
        ("hybrid-histogram", 0.917, "hybrid-histogram:p=0.917"),
        ("reactive", 0.437, "reactive:target=0.437"),
        ("reactive:target=0.5", 0.7, "reactive"),
        ("provisioned", 0.999, "provisioned:q=0.999"),
        ("aquatope:q=0.9", 0.5, "aquatope:q=0.5"),
        ("aquatope:keep=auto", 0.988, "aquatope:q=0.988:keep=auto"),  # the sweep keeps the word option
    ],
)
def test_policy_with_knob(spec: str, value: float, expected: str) -> None:
    assert policy_with_knob(spec, value) == expected
    assert make_policy(expected).name == expected


def test_knob_errors() -> None:
    for spec in ("clairvoyant-interval", "oracle"):
        with pytest.raises(InputError, match="no knob"):
            knob_for(spec)
    with pytest.raises(InputError):
        policy_with_knob("reactive", 1.5)  # outside (0, 1]
    with pytest.raises(InputError):
        policy_with_knob("keepalive", float("nan"))
    with pytest.raises(InputError):
        knob_for("aquatope:q=2")


def idle_times_history() -> np.ndarray:
    """One function with idle times of 0 (many), 2, 5, 20 and 100 intervals."""
    row: list[float] = [3.0] * 50
    for gap in (2, 5, 20, 100, 2, 5, 20):
        row += [0.0] * gap + [1.0]
    return np.array([row])


def warm_keepalive_auto(policy: PoolPolicy) -> float:
    decision, _ = policy(PolicyContext(0.0, ("f",), idle_times_history()))
    return decision.targets["f"].keep_alive_s


def warm_histogram(policy: PoolPolicy) -> float:
    history = idle_times_history()
    state = update_histograms(HistogramState.empty(1, 240), history, 0.5)
    _, tail = policy.windows(state)  # type: ignore[attr-defined]
    return float(tail[0])


def warm_reactive(policy: PoolPolicy) -> float:
    ctx = PolicyContext(
        0.0, ("f",), np.zeros((1, 0)), interval_s=2.0, observed={"f": FunctionObservation(inflight_s=6.0)}
    )
    return policy(ctx)[0].targets["f"].min_warm


def warm_provisioned(policy: PoolPolicy) -> float:
    counts = np.array([np.arange(1440) % 97], dtype=float)  # peaks 0..96 per minute with 60 s invocations
    ctx = PolicyContext(0.0, ("f",), counts, stats={"f": FunctionStats(60.0, 60.0)})
    return policy(ctx)[0].targets["f"].min_warm


def warm_aquatope(policy: PoolPolicy) -> float:
    forecast = Forecast(np.array([[40.0]]), np.array([[15.0]]))
    ctx = PolicyContext(0.0, ("f",), np.ones((1, 2)), forecast=forecast, stats={"f": FunctionStats(30.0, 30.0)})
    return policy(ctx)[0].targets["f"].min_warm


WARMTH: dict[str, Callable[[PoolPolicy], float]] = {
    "keepalive": lambda p: p(PolicyContext(0.0, ("f",), np.zeros((1, 1))))[0].targets["f"].keep_alive_s,
    "keepalive:auto": warm_keepalive_auto,
    "hybrid-histogram": warm_histogram,
    "reactive": warm_reactive,
    "provisioned": warm_provisioned,
    "aquatope": warm_aquatope,
}


@pytest.mark.parametrize("pool", sorted(KNOBS))
def test_each_knob_trades_the_documented_way(pool: str) -> None:
    knob = KNOBS[pool]
    warmth = [WARMTH[pool](make_policy(knob.spec(v))) for v in knob.values]
    if not knob.more_warm_when_higher:
        warmth = warmth[::-1]
    assert warmth == sorted(warmth), warmth
    assert warmth[-1] > warmth[0], warmth
