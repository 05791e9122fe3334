"""Per-function invocation counters between two ``observe()`` calls: what a real platform's metrics show.

Times are wall seconds since the platform started. ``inflight_s`` is reported on the platform clock (wall x time
scale), so that divided by a control interval (platform seconds) it is the mean number of invocations in progress.
``busy_s`` (execution seconds of the invocations that completed) is reported on the platform clock too: at a time
scale S an execution of d wall seconds spans d x S trace seconds, so a policy's Little's law (count x duration /
interval) gives the concurrency the containers really see. At time scale 1 both are plain seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from aquatope.platform import FunctionObservation


class InvocationCounters:
    """Arrivals, cold starts, peak and integral of concurrency, completions and their busy seconds."""

    def __init__(self, wall: Callable[[], float], time_scale: float) -> None:
        self.wall = wall
        self.time_scale = time_scale
        self.in_flight = 0
        self.invocations = 0
        self.cold_starts = 0
        self.peak = 0
        self.completed = 0
        self.busy_w = 0.0
        self.inflight_w = 0.0
        self._since = wall()

    def _integrate(self) -> None:
        now = self.wall()
        self.inflight_w += self.in_flight * max(0.0, now - self._since)
        self._since = now

    def begin(self) -> None:
        """An invocation arrived (counted once, whatever retries follow)."""
        self._integrate()
        self.invocations += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def end(self, cold: bool, busy_w: float | None) -> None:
        """An invocation ended; ``busy_w``: the wall seconds a successful one ran (None: it failed)."""
        self._integrate()
        self.in_flight -= 1
        self.cold_starts += int(cold)
        if busy_w is not None:
            self.completed += 1
            self.busy_w += busy_w

    def take(self) -> FunctionObservation:
        """The figures since the previous call, and reset them (the peak restarts from what is in flight now)."""
        self._integrate()
        obs = FunctionObservation(
            self.invocations,
            max(self.peak, self.in_flight),
            self.cold_starts,
            self.inflight_w * self.time_scale,
            self.completed,
            self.busy_w * self.time_scale,
        )
        self.invocations = self.cold_starts = self.completed = 0
        self.inflight_w = self.busy_w = 0.0
        self.peak = self.in_flight
        return obs
