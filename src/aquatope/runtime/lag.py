"""How far a replay lags the trace clock, and stopping it when the machine cannot keep up.

A replay keeps up when the platform finishes what arrives about as fast as it arrives. Two figures say whether it
does, both in wall seconds:

* **lag**: the age of the oldest request still in flight (0 when none is). When the cluster keeps up it stays near
  the workflow's latency (a cold start included); when it cannot, requests pile up (waiting for containers, for room
  on the nodes, for CPU) and the lag grows without bound. Its samples are taken every ``period_s`` on the platform's
  loop;
* **arrival delay**: how late the platform's loop fired each arrival after its scheduled time (the driver process
  itself is starved of CPU when this grows).

With ``limit_s`` set, the first sample whose lag exceeds it trips the monitor: the platform's ``advance()`` then
raises :class:`ReplayLagError`, so that a run stops with the reason instead of reporting hours of queueing as
latency. Without a limit, the figures are only recorded (:meth:`LagMonitor.report`).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


class ReplayLagError(RuntimeError):
    """The replay fell further behind the trace clock than its limit allows."""


@dataclass(frozen=True)
class LagSample:
    """One sample: wall time, lag (wall s), requests in flight, container starts waiting for room."""

    wall_s: float
    lag_s: float
    in_flight: int
    starts_waiting: int


@dataclass(frozen=True)
class LagReport:
    """Lag figures of a replay (wall seconds, arrival delays in ms); ``worst_at_s`` on the platform clock."""

    max_lag_s: float
    p95_lag_s: float
    worst_at_s: float
    arrival_delay_ms: dict[str, float]
    limit_s: float | None
    tripped: str | None
    samples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LagMonitor:
    """Samples a platform's lag on its loop (module docstring)."""

    def __init__(
        self,
        wall: Callable[[], float],
        time_scale: float,
        oldest_arrival_w: Callable[[], float],
        in_flight: Callable[[], int],
        starts_waiting: Callable[[], int],
        limit_s: float | None = None,
        period_s: float = 0.5,
    ) -> None:
        if limit_s is not None and not limit_s > 0:
            raise ValueError(f"the lag limit must be > 0 s, got {limit_s}")
        self.wall = wall
        self.time_scale = time_scale
        self.oldest_arrival_w = oldest_arrival_w
        self.in_flight = in_flight
        self.starts_waiting = starts_waiting
        self.limit_s = limit_s
        self.period_s = period_s
        self.samples: list[LagSample] = []
        self.delays_s: list[float] = []
        self.tripped: str | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Begin sampling (call on the loop)."""
        self._handle = asyncio.get_running_loop().call_later(self.period_s, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def arrival(self, scheduled_w: float) -> None:
        """An arrival scheduled for wall time ``scheduled_w`` fires now."""
        self.delays_s.append(max(0.0, self.wall() - scheduled_w))

    def sample(self) -> LagSample:
        now = self.wall()
        oldest = self.oldest_arrival_w()
        lag = 0.0 if math.isinf(oldest) else max(0.0, now - oldest)
        s = LagSample(now, lag, self.in_flight(), self.starts_waiting())
        self.samples.append(s)
        if self.tripped is None and self.limit_s is not None and lag > self.limit_s:
            self.tripped = (
                f"the replay fell {lag:.0f} s behind the trace clock (limit {self.limit_s:g} s) at trace second "
                f"{now * self.time_scale:,.0f}: {s.in_flight} requests in flight, {s.starts_waiting} container "
                "starts waiting for room"
            )
        return s

    def _tick(self) -> None:
        self.sample()
        self._handle = asyncio.get_running_loop().call_later(self.period_s, self._tick)

    def report(self) -> LagReport:
        lags = np.array([s.lag_s for s in self.samples]) if self.samples else np.zeros(1)
        worst = int(np.argmax(lags))
        worst_at = self.samples[worst].wall_s * self.time_scale if self.samples else 0.0
        delays_ms = np.array(self.delays_s) * 1000.0 if self.delays_s else np.zeros(1)
        return LagReport(
            max_lag_s=float(lags.max()),
            p95_lag_s=float(np.percentile(lags, 95)),
            worst_at_s=float(worst_at),
            arrival_delay_ms={
                "p50": float(np.percentile(delays_ms, 50)),
                "p95": float(np.percentile(delays_ms, 95)),
                "max": float(delays_ms.max()),
            },
            limit_s=self.limit_s,
            tripped=self.tripped,
            samples=len(self.samples),
        )
