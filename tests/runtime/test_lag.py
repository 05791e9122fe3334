"""The replay's lag behind the trace clock: sampled exactly on a fake clock, and tripping a real overloaded replay."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ray_support import inline_workflow

from aquatope.runtime.lag import LagMonitor, ReplayLagError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lag_is_the_age_of_the_oldest_request_in_flight() -> None:
    clock = FakeClock()
    oldest = {"t": math.inf}
    monitor = LagMonitor(clock, 10.0, lambda: oldest["t"], lambda: 0 if math.isinf(oldest["t"]) else 3, lambda: 1, 5.0)
    table = [  # (wall now, oldest arrival in flight, expected lag)
        (1.0, math.inf, 0.0),
        (2.0, 1.5, 0.5),
        (6.0, 1.5, 4.5),
        (7.0, 6.8, 0.2),
    ]
    for now, arrival, lag in table:
        clock.now, oldest["t"] = now, arrival
        assert monitor.sample().lag_s == pytest.approx(lag)
    assert monitor.tripped is None
    clock.now, oldest["t"] = 12.0, 6.5
    monitor.sample()
    assert monitor.tripped is not None
    assert "fell 6 s behind the trace clock (limit 5 s) at trace second 120" in monitor.tripped
    assert "3 requests in flight, 1 container starts waiting for room" in monitor.tripped
    clock.now = 11.0
    monitor.arrival(10.5)
    monitor.arrival(11.0)
    report = monitor.report()
    assert report.max_lag_s == pytest.approx(5.5) and report.worst_at_s == pytest.approx(120.0)
    assert report.arrival_delay_ms["max"] == pytest.approx(500.0) and report.samples == 5


def test_without_a_limit_the_lag_is_only_recorded() -> None:
    clock = FakeClock()
    monitor = LagMonitor(clock, 1.0, lambda: 0.0, lambda: 1, lambda: 0, None)
    clock.now = 1e6
    monitor.sample()
    assert monitor.tripped is None and monitor.report().max_lag_s == 1e6


@pytest.mark.usefixtures("ray_local")
def test_an_overloaded_replay_stops_with_the_lag() -> None:
    """Six 1-second requests at once on two CPUs for containers of one CPU: the last waits about 3 s plus a cold
    start, past a limit of 2 s."""
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    from aquatope.runtime.platform import RayPlatform

    p = RayPlatform(max_lag_s=2.0)
    try:
        wf = inline_workflow("rt-lag", {"heavy": {"handler": "rt_handlers:step", "cpu": 1.0, "memory_mb": 128}})
        p.deploy(wf)
        p.submit(wf.name, np.full(6, p.now_s), inputs=[{"sleep_ms": 1000}] * 6)
        with pytest.raises(ReplayLagError, match=r"behind the trace clock \(limit 2 s\)"):
            p.advance(math.inf)
        assert p.lag_report().max_lag_s > 2.0
    finally:
        p.shutdown()
