"""The safety wrapper: bounds, hysteresis on scale-down, fallback when the forecast is unusable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.platform import PoolTarget
from aquatope.prewarm import (
    FixedKeepAlive,
    ForecastPoolPolicy,
    PolicyContext,
    PoolDecision,
    ReactivePolicy,
    SafePolicy,
    SafeState,
    SafetyConfig,
    policy_interval_s,
)


@dataclass(frozen=True)
class AskHistory:
    """Test policy: asks for ``min_warm`` = the last history value, keep-alive = ``keep``; counts its calls."""

    keep: float = 60.0
    name: str = "ask"
    needs_forecast: bool = False
    needs_future: bool = False

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        ask = int(context.history[0, -1])
        return PoolDecision({"f0": PoolTarget(ask, self.keep)}), (context.state or 0) + 1


def ctx(value: float, state: Any = None, forecast: Forecast | None = None) -> PolicyContext:
    return PolicyContext(0.0, ("f0",), np.array([[value]]), forecast=forecast, state=state)


def test_bounds_clip_and_say_why() -> None:
    policy = SafePolicy(AskHistory(keep=1e7), SafetyConfig(max_warm=10, max_keep_alive_s=3600.0))
    decision, _ = policy(ctx(5000))
    assert decision.targets["f0"] == PoolTarget(10, 3600.0)
    assert "clipped" in decision.reasons["f0"]
    decision, _ = policy(ctx(3))
    assert decision.targets["f0"] == PoolTarget(3, 3600.0)


# asks per tick -> applied min_warm with a scale-down delay of 3 ticks (3 consecutive asks below what is
# applied, then the latest ask); scale-up is immediate and resets the count
HYSTERESIS_TABLE = [(5, 5), (2, 5), (2, 5), (2, 2), (7, 7), (1, 7), (6, 7), (1, 1), (4, 4), (2, 4), (9, 9), (2, 9)]


def test_hysteresis_tick_table() -> None:
    policy = SafePolicy(AskHistory(), SafetyConfig(downscale_delay_ticks=3))
    state = None
    for tick, (ask, applied) in enumerate(HYSTERESIS_TABLE):
        decision, state = policy(ctx(ask, state))
        assert decision.targets["f0"].min_warm == applied, f"tick {tick}"
    assert isinstance(state, SafeState) and state.inner == len(HYSTERESIS_TABLE)


def test_no_hysteresis_by_default() -> None:
    policy = SafePolicy(AskHistory())
    _, state = policy(ctx(5))
    decision, _ = policy(ctx(0, state))
    assert decision.targets["f0"].min_warm == 0


@pytest.mark.parametrize(
    ("forecast", "why"),
    [
        (None, "no forecast"),
        (Forecast(np.zeros((2, 1)), np.zeros((2, 1))), "2 rows for 1 functions"),
        (Forecast(np.zeros((1, 1)), np.zeros((1, 1)), samples=np.full((3, 1, 1), np.nan)), "not finite"),
    ],
)
def test_fallback_when_forecast_unusable(forecast: Forecast | None, why: str) -> None:
    policy = SafePolicy(ForecastPoolPolicy(), fallback=FixedKeepAlive(600.0))
    decision, state = policy(ctx(1, forecast=forecast))
    assert decision.targets["f0"] == PoolTarget(0, 600.0)
    assert decision.reasons["*"].startswith("fallback to keepalive:600") and why in decision.reasons["*"]
    assert decision.fallback == decision.reasons["*"]  # the marker the controller counts
    assert state.fallback_ticks == 1
    good = Forecast(np.array([[60.0]]), np.zeros((1, 1)))
    decision, state = policy(ctx(1, state, good))
    assert decision.targets["f0"] == PoolTarget(5, 30.0) and "*" not in decision.reasons  # tick table: 60 at 1 s
    assert decision.fallback is None and state.fallback_ticks == 1


def test_wrapper_passes_the_control_interval_through() -> None:
    assert policy_interval_s(SafePolicy(ReactivePolicy())) == 2.0
    assert policy_interval_s(SafePolicy(FixedKeepAlive())) is None
    assert policy_interval_s(SafePolicy(AskHistory())) is None  # a policy that does not say


def test_safety_config_is_validated() -> None:
    with pytest.raises(InputError):
        SafetyConfig(downscale_delay_ticks=0)
    with pytest.raises(InputError):
        SafetyConfig(min_keep_alive_s=10.0, max_keep_alive_s=5.0)
