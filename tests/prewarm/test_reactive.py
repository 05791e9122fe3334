"""Tick tables for ``reactive``, the Knative-KPA-style autoscaler: observed concurrency per tick -> containers held.

Every expected count below is worked out by hand from the rules in ``prewarm/reactive.py`` (Knative's defaults:
target 0.7 per container, stable window 60 s, panic window 6 s, panic at 200%, scale down at most by half per tick,
last container held 30 s after the count first falls to 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.platform import FunctionObservation, PoolTarget
from aquatope.prewarm import KPAState, PolicyContext, ReactivePolicy, policy_interval_s

NO_PANIC = 1e9  # a panic threshold no burst reaches: isolates the stable-mode rules


def run(policy: ReactivePolicy, times: list[float], conc: Callable[[float], float | None]) -> list[int]:
    """Tick at ``times``; the interval ending at tick ``t`` had mean concurrency ``conc(t)`` (None: not observed).
    Returns the container count after each tick, and checks every target's keep-alive is one tick."""
    state, counts, prev = None, [], None
    for t in times:
        c = conc(t)
        span = t - prev if prev is not None else 2.0
        observed = {} if c is None else {"f": FunctionObservation(inflight_s=c * span)}
        context = PolicyContext(t, ("f",), np.zeros((1, 0)), interval_s=span, state=state, observed=observed)
        decision, state = policy(context)
        assert decision.targets["f"].keep_alive_s == span
        counts.append(decision.targets["f"].min_warm)
        prev = t
    return counts


def expand(segments: list[tuple[float, float, int]], step: float = 2.0) -> list[int]:
    """``[(from_t, to_t, count), ...]`` -> the count at every tick from 0 in steps of ``step``."""
    return [c for lo, hi, c in segments for _ in np.arange(lo, hi + step / 2, step)]


def burst(t: float) -> float | None:
    if t == 0:
        return None  # tick 0: nothing observed yet
    if t <= 60:
        return 0.7  # one target's worth
    if t <= 66:
        return 2.8  # a burst: four times the target for three ticks
    return 0.0


# t (s): count, and why
PANIC_TABLE = [
    (0, 0, 1),  # no data: Knative's initial scale of 1
    (2, 60, 1),  # stable 0.7 -> ceil(0.7 / 0.7) = 1; panic value 0.7 -> 1 / ready 1 < 200%
    (62, 62, 2),  # panic window (58, 62]: (0.7 + 0.7 + 2.8) / 3 = 1.4 -> 2 = 200% of 1 ready: PANIC from 62
    (64, 64, 3),  # panic value (0.7 + 2.8 + 2.8) / 3 = 2.1 -> 3 (3/2 < 200%: no extension), stable 0.84 -> 2
    (66, 66, 4),  # panic value 2.8 -> 4
    (68, 122, 4),  # the burst ended, but no scale-down in panic until 62 + 60 s have passed
    (124, 124, 2),  # panic over: stable (64, 124] = 2.8 / 30 = 0.093 -> 1, scale-down rate: at least 4 / 2 = 2
    (126, 126, 1),  # stable 0 -> 0, but at least 2 / 2 = 1
    (128, 156, 1),  # count 0 from 128: the last container is held for the 30 s grace period
    (158, 162, 0),  # 158 - 128 = 30 s: scaled to zero
]


def test_panic_mode_entry_hold_and_exit() -> None:
    times = [2.0 * k for k in range(82)]
    assert run(ReactivePolicy(), times, burst) == expand(PANIC_TABLE)


def test_panic_is_entered_from_one_container_by_one_busy_invocation() -> None:
    # one invocation always in flight against a target of 0.7: ceil(1 / 0.7) = 2 = 200% of 1 -> panic, 2 held;
    # panic never extends (2 / 2 < 200%) and ends at 2 + 60 < t, when the stable count is also 2
    counts = run(ReactivePolicy(), [2.0 * k for k in range(40)], lambda t: None if t == 0 else 1.0)
    assert counts == [1] + [2] * 39


def drop(t: float) -> float | None:
    return None if t == 0 else (2.1 if t <= 4 else 0.0)


# stable window 6 s, panic off, grace 4 s; with and without a 6 s scale-down delay
DELAY_TABLE = [
    # t, no delay, 6 s delay. Stable value over (t - 6, t] -> count wanted (at least half the previous count);
    # with the delay, the count is the largest wanted at the ticks of the last 6 s (t - 6, t]
    (0, 1, 1),  # no data
    (2, 3, 3),  # 2.1 / 0.7 = 3
    (4, 3, 3),
    (6, 2, 3),  # (2.1 + 2.1 + 0) / 3 = 1.4 -> 2; delayed: max(3 @2, 3 @4, 2 @6)
    (8, 1, 3),  # 0.7 -> 1; delayed: max(3 @4, 2 @6, 1 @8)
    (10, 1, 2),  # 0 -> no delay: 0 wanted, the last container held (grace from 10); delayed: 0 but at least
    #            3 / 2 -> 1 wanted, max(2 @6, 1 @8, 1 @10)
    (12, 1, 1),  # delayed: at least 2 / 2 = 1 wanted, max(1, 1, 1)
    (14, 0, 1),  # no delay: 14 - 10 = 4 s grace over; delayed: 0 wanted, max(1 @10, 1 @12, 0 @14)
    (16, 0, 1),  # delayed: max(1 @12, 0, 0)
    (18, 0, 1),  # delayed: max(0, 0, 0) -> the last container held (grace from 18)
    (20, 0, 1),
    (22, 0, 0),  # 22 - 18 = 4 s: zero
]


@pytest.mark.parametrize(("column", "delay_s"), [(1, 0.0), (2, 6.0)])
def test_scale_down_delay(column: int, delay_s: float) -> None:
    policy = ReactivePolicy(
        stable_window_s=6.0, panic_threshold_pct=NO_PANIC, scale_down_delay_s=delay_s, scale_to_zero_grace_s=4.0
    )
    times = [float(row[0]) for row in DELAY_TABLE]
    assert run(policy, times, drop) == [row[column] for row in DELAY_TABLE]


def test_max_scale_up_rate() -> None:
    # 7 in flight wants 10 containers; at most twice the ready count (at least 1 more) per tick: 1 -> 2 -> 4 -> 8 -> 10
    policy = ReactivePolicy(max_scale_up_rate=2.0, panic_threshold_pct=NO_PANIC)
    counts = run(policy, [2.0 * k for k in range(6)], lambda t: None if t == 0 else 7.0)
    assert counts == [1, 2, 4, 8, 10, 10]


def test_works_at_one_minute_ticks() -> None:
    # at 60 s ticks the stable window holds one sample and the panic window (6 s) the latest one
    conc = {60.0: 1.4}
    counts = run(ReactivePolicy(), [60.0 * k for k in range(6)], lambda t: None if t == 0 else conc.get(t, 0.0))
    # 60: 1.4 -> 2 = 200% of 1 -> panic; 120: panic holds 2 (60 + 60 is not < 120); 180: calm, stable 0 but at
    # least 2 / 2 = 1; 240: 0 wanted -> held (grace from 240); 300: 60 s > 30 s grace -> 0
    assert counts == [1, 2, 2, 1, 1, 0]


def test_unobserved_function_keeps_its_count_and_others_scale() -> None:
    policy, state = ReactivePolicy(), None
    for t in (0.0, 2.0, 4.0):
        observed = {"busy": FunctionObservation(inflight_s=0.7 * 2)}  # "quiet" is never observed
        ctx = PolicyContext(t, ("busy", "quiet"), np.zeros((2, 0)), interval_s=2.0, state=state, observed=observed)
        decision, state = policy(ctx)
    assert decision.targets == {"busy": PoolTarget(1, 2.0), "quiet": PoolTarget(1, 2.0)}
    assert isinstance(state, KPAState) and state.end_s.tolist() == [0.0, 2.0, 4.0]


def test_state_resets_when_time_goes_back_and_windows_are_seconds() -> None:
    policy = ReactivePolicy()
    first = run(policy, [0.0, 2.0, 4.0], lambda t: None if t == 0 else 2.8)
    assert first == [1, 4, 4]  # 2.8 / 0.7 = 4 = 400% of 1 -> panic, 4
    assert policy_interval_s(policy) == 2.0 and policy.panic_window_s == 6.0
    assert ReactivePolicy(stable_window_s=100.0).panic_window_s == 10.0
    ctx = PolicyContext(10.0, ("f",), np.zeros((1, 0)), interval_s=2.0)
    _, state = policy(ctx)
    decision, _ = policy(PolicyContext(4.0, ("f",), np.zeros((1, 0)), interval_s=2.0, state=state))
    assert decision.targets["f"] == PoolTarget(1, 2.0)  # a new run: initial scale again


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("target_utilization", 0.0),
        ("target_utilization", 1.5),
        ("stable_window_s", 5.0),
        ("panic_window_pct", 0.5),
        ("max_scale_up_rate", 1.0),
        ("max_scale_down_rate", 0.5),
        ("scale_down_delay_s", -1.0),
        ("scale_to_zero_grace_s", 0.0),
        ("tick_s", 0.0),
    ],
)
def test_config_is_validated(field: str, value: float) -> None:
    with pytest.raises(InputError) as info:
        ReactivePolicy(**{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
