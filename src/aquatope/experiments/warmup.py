"""A replay's warm-up on a real platform: start measuring in steady state, and pre-warm as early as starts take.

A replay of a trace segment starts from nothing: no container exists when the controller first ticks. A deployment
that has been running holds its pool already, so a replay that measures from the first tick measures the pool's
first start-up, not the policy. And on a real platform containers take seconds to start (imports, model loading,
under a small CPU quota: 5-20 s for the examples on 0.1-0.25 vCPU), which at a speed-up of S are 5-20 x S trace
seconds: a warm-up of one control interval, or a fixed lead of a wall second, does not cover them.

So (``aquatope run``, :mod:`aquatope.experiments.ray_run`):

* **Warm-up until ready.** After the first tick the replay waits until no container the controller asked for is
  still starting, at least ``min_intervals`` control intervals and at most :data:`MAX_WARMUP_INTERVALS`; the
  arrivals start at the next interval boundary. A system without pre-warming starts nothing and waits the minimum.
  Every system gets the same rule and pays for its warm-up containers (they are in the cost).
* **Lead from observed starts.** The controller ticks ``lead`` trace seconds before each interval so containers it
  adds are ready when the interval begins; the lead becomes the :data:`LEAD_QUANTILE` of the start-up times the
  platform showed during the warm-up (``ContainerRecord.ready_s - start_s``: what a platform's events show, e.g. a
  pod's time to ready), if that is longer than the fixed lead, at most half an interval.

The simulator runs of ``aquatope evaluate`` do not use this (their starts take about a second and they measure a
whole hour after a settling period); both constants are fixed here, not chosen on any result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aquatope.platform import ContainerRecord

MAX_WARMUP_INTERVALS = 5
"""At most this many control intervals of warm-up (a pool that takes longer is measured as it is)."""
LEAD_QUANTILE = 0.9
"""The lead covers this share of the start-up times observed."""
POLL_S = 1.0
"""How often (platform seconds, at most a tenth of an interval) the warm-up looks whether containers are starting."""


def starting(records: Sequence[ContainerRecord], now_s: float) -> int:
    """Containers still starting at ``now_s``: not ready, and alive (a live container's record ends now; one that
    failed to start ended earlier; a poll's slack is allowed for the clock read between the two)."""
    return sum(1 for c in records if not math.isfinite(c.ready_s) and c.end_s >= now_s - POLL_S)


def start_times_s(records: Sequence[ContainerRecord]) -> list[float]:
    """The start-up time of every container that became ready (platform seconds)."""
    return [c.ready_s - c.start_s for c in records if math.isfinite(c.ready_s)]


def wait_until_ready(platform: Any, t0_s: float, interval_s: float, min_intervals: int) -> int:
    """Advance ``platform`` from the end of the first interval until nothing is starting (or the limit); the warm-up
    in whole intervals (``min_intervals`` at least, :data:`MAX_WARMUP_INTERVALS` at most)."""
    limit = t0_s + MAX_WARMUP_INTERVALS * interval_s
    now = max(platform.now_s, t0_s + min_intervals * interval_s)
    platform.advance(now)
    step = min(POLL_S, interval_s / 10)
    while starting(platform.container_records(), platform.now_s) and now < limit:
        now = min(limit, now + step)
        platform.advance(now)
    done = max(platform.now_s - t0_s, min_intervals * interval_s)
    return max(min_intervals, min(MAX_WARMUP_INTERVALS, math.ceil(done / interval_s - 1e-9)))


def observed_lead_s(records: Sequence[ContainerRecord], fixed_s: float, interval_s: float) -> float:
    """The lead: the :data:`LEAD_QUANTILE` of the observed start-up times if longer than ``fixed_s``, at most half an
    interval."""
    times = start_times_s(records)
    seen = float(np.quantile(times, LEAD_QUANTILE)) if times else 0.0
    return min(interval_s / 2, max(fixed_s, seen))
