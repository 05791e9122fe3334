"""``clairvoyant-interval`` (formerly ``oracle``): each interval's true peak, and how the peak is computed."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm import ClairvoyantIntervalPolicy, PolicyContext, peak_concurrency, peak_concurrency_windows


def test_keeps_the_true_peak_without_keepalive() -> None:
    ctx = PolicyContext(120.0, ("f0", "f1"), np.array([[1, 2], [0, 0]], dtype=float), future_peak=np.array([2, 0]))
    decision, _ = ClairvoyantIntervalPolicy()(ctx)
    assert dict(decision.targets) == {"f0": PoolTarget(2, 0.0), "f1": PoolTarget(0, 0.0)}
    with pytest.raises(InputError):
        ClairvoyantIntervalPolicy()(PolicyContext(0.0, ("f0",), np.ones((1, 2))))


def test_peak_concurrency_windows() -> None:
    arrivals = np.array([0.5, 1.0, 1.2, 5.0, 5.1, 5.2, 9.9])
    edges = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    # [2, 4) and [6, 8): nothing arrives there, but invocations started before are still running at 2 and 6
    assert peak_concurrency_windows(arrivals, edges, 1.0).tolist() == [3, 1, 3, 2, 1]
    assert peak_concurrency(arrivals, 1.1, 1.3, 1.0) == 3
    assert peak_concurrency(np.zeros(0), 0.0, 60.0, 1.0) == 0
