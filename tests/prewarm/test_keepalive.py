"""``keepalive:auto``: one keep-alive tuned on the history of the first tick, then held."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.platform import PoolTarget
from aquatope.prewarm import AutoKeepAlive, AutoKeepAliveState, PolicyContext, SafePolicy, policy_interval_s
from aquatope.prewarm.keepalive import keep_alive_intervals, pooled_idle_times


def every(period: int, minutes: int, count: float = 1.0) -> list[float]:
    return [count if m % period == 0 else 0.0 for m in range(minutes)]


# f0 every 5 minutes for 100 minutes: 19 idle times of 4 intervals; f1 twice a minute: 99 gaps of 0 between its
# minutes + 100 pairs within a minute = 199 idle times in bin 0. Pooled: 218 ITs, 199 of them in bin 0.
TRAIN = np.array([every(5, 100), every(1, 100, 2.0)])


def test_pooled_idle_times() -> None:
    hist, oob = pooled_idle_times(TRAIN, 240)
    assert (hist[0], hist[4], int(hist.sum()), oob) == (199, 19, 218, 0)


@pytest.mark.parametrize(
    ("p", "keep_s"),
    [
        (0.99, 330.0),  # 0.99 * 218 = 215.8 > 199: the percentile is in bin 4 -> upper edge 5 intervals + 10%
        (0.9, 66.0),  # 0.9 * 218 = 196.2 <= 199: bin 0 -> one interval + 10%
    ],
)
def test_keep_alive_is_the_percentile_of_training_idle_times(p: float, keep_s: float) -> None:
    policy = AutoKeepAlive(p=p)
    decision, state = policy(PolicyContext(6000.0, ("a", "b"), TRAIN))
    assert dict(decision.targets) == {"a": PoolTarget(0, keep_s), "b": PoolTarget(0, keep_s)}
    assert state == AutoKeepAliveState(keep_s, 218) and decision.fallback is None
    # held: later history (here, silence that would add long idle times) does not change it
    later = np.concatenate([TRAIN, np.zeros((2, 300)), np.ones((2, 1))], axis=1)
    decision, state2 = policy(PolicyContext(30000.0, ("a", "b"), later, state=state))
    assert decision.targets["a"] == PoolTarget(0, keep_s) and state2 is state


def test_idle_times_out_of_range_give_the_range() -> None:
    history = np.array([every(300, 3001)])  # 10 idle times of 299 intervals, beyond the 240 of the range
    assert keep_alive_intervals(*pooled_idle_times(history, 240), 0.99) == 240
    decision, _ = AutoKeepAlive()(PolicyContext(0.0, ("f",), history))
    assert decision.targets["f"] == PoolTarget(0, 240 * 60.0)  # the margin does not go beyond the range


def test_too_little_history_keeps_openwhisk_and_reports_the_fallback() -> None:
    policy = SafePolicy(AutoKeepAlive())
    decision, state = policy(PolicyContext(0.0, ("f",), np.array([[1.0, 0.0, 0.0, 1.0]])))  # one idle time
    assert decision.targets["f"] == PoolTarget(0, 600.0)
    assert decision.fallback is not None and "1 idle times" in decision.fallback
    decision, state = policy(PolicyContext(60.0, ("f",), np.ones((1, 30)), state=state))
    assert decision.targets["f"] == PoolTarget(0, 600.0) and decision.fallback is not None  # still held
    assert state.fallback_ticks == 2
    assert policy_interval_s(policy) == 60.0 and policy.name == "keepalive:auto"
