"""Tick table for ``provisioned:q``: per-minute peaks (estimated from training counts, then observed) -> level."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.platform import FunctionObservation, PoolTarget
from aquatope.prewarm import FunctionStats, PolicyContext, ProvisionedConcurrency, SafePolicy, policy_interval_s
from aquatope.prewarm.provisioned import little_peaks

TRAIN = [99, 10, 20, 0, 40, 10]  # training counts per minute; with 30 s invocations, peaks = counts / 2
# tick time, count of the minute that just ended, observed peak (None: not observed), level, and why
TICKS = [
    (0, None, None, 11),  # last 5 estimated peaks [5, 10, 0, 20, 5]: q0.8 = 10, + 10% = 11
    (60, 0, 30, 11),  # peaks [10, 0, 20, 5, 30]; no update before 120 s
    (120, 2, 2, 22),  # peaks [0, 20, 5, 30, 2]: q0.8 = 20 -> 22
    (180, 50, None, 22),  # not observed: 50 * 30 / 60 = 25 estimated; peaks [20, 5, 30, 2, 25]; held
    (240, 1, 1, 28),  # peaks [5, 30, 2, 25, 1]: q0.8 = 25 -> 27.5, rounded half up to 28
]


def test_tick_table() -> None:
    policy = ProvisionedConcurrency(q=0.8, lookback_s=300.0, update_every_s=120.0)
    stats = {"f": FunctionStats(30.0, 60.0)}
    history, state = np.array([TRAIN], dtype=float), None
    for now, count, peak, level in TICKS:
        observed = {}
        if count is not None:
            history = np.concatenate([history, [[count]]], axis=1)
            if peak is not None:
                observed = {"f": FunctionObservation(invocations=count, peak_concurrency=peak)}
        ctx = PolicyContext(float(now), ("f",), history, stats=stats, state=state, observed=observed)
        decision, state = policy(ctx)
        assert decision.targets["f"] == PoolTarget(level, 600.0), f"t={now}"
        assert decision.fallback is None
    assert policy_interval_s(policy) == 60.0 and policy.name == "provisioned:q=0.8"


def test_quantile_one_is_the_peak_and_buffer_rounds_half_up() -> None:
    history = np.array([[0, 400, 4, 0], [0, 0, 0, 0]], dtype=float)  # 1 s invocations: peaks ceil(c / 60)
    ctx = PolicyContext(0.0, ("a", "b"), history)
    decision, _ = ProvisionedConcurrency(q=1.0)(ctx)
    # a: peaks [0, 7, 1, 0] -> 7 * 1.1 = 7.7 -> 8; b: never invoked -> 0, on demand only
    assert decision.targets == {"a": PoolTarget(8, 600.0), "b": PoolTarget(0, 600.0)}


def test_little_peaks_over_one_duration() -> None:
    counts = np.array([[4, 0, 2, 6], [100, 1, 0, 0]], dtype=float)
    # 150 s = 2.5 minutes: weights [1, 1, 0.5] -> [4, 4, 2 + 0 + 2, 6 + 2 + 0]; 0.6 s: 100 * 0.01 = 1, 0.01 -> 1
    assert little_peaks(counts, np.array([150.0, 0.6]), 60.0).tolist() == [[4, 4, 4, 8], [1, 1, 0, 0]]


def test_no_history_falls_back_to_on_demand_and_is_counted() -> None:
    policy = SafePolicy(ProvisionedConcurrency())
    decision, state = policy(PolicyContext(0.0, ("f",), np.zeros((1, 0))))
    assert decision.targets["f"] == PoolTarget(0, 600.0)
    assert decision.fallback is not None and decision.reasons["*"].startswith("fallback")
    assert state.fallback_ticks == 1
    ctx = PolicyContext(60.0, ("f",), np.ones((1, 1)), state=state, observed={"f": FunctionObservation(1, 3)})
    decision, state = policy(ctx)
    assert decision.targets["f"] == PoolTarget(3, 600.0) and decision.fallback is None  # 3 * 1.1 = 3.3 -> 3
    assert state.fallback_ticks == 1


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("q", {"q": 0.0}), ("q", {"q": 1.5}), ("lookback_s", {"lookback_s": 0.0}), ("buffer", {"buffer": -0.1})],
)
def test_config_is_validated(field: str, kwargs: dict) -> None:
    with pytest.raises(InputError) as info:
        ProvisionedConcurrency(**kwargs)
    assert info.value.field == field
