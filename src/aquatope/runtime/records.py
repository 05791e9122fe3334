"""Platform records from the runtime's own bookkeeping: wall seconds become platform (trace) seconds.

Event times (arrivals, ends, container starts, readiness, ends) are multiplied by the time scale; latencies and
busy time are real durations and stay as measured (see :mod:`aquatope.runtime.platform`, *Time*).
"""

from __future__ import annotations

import math

from aquatope.platform import ContainerRecord, RequestRecord
from aquatope.runtime.executor import RequestOutcome
from aquatope.runtime.pool import Container


def request_record(out: RequestOutcome, time_scale: float) -> RequestRecord:
    """A finished request on the platform clock (trace seconds); its latencies stay real milliseconds."""
    return RequestRecord(
        out.rid,
        out.workflow,
        out.arrival_w * time_scale,
        out.end_w * time_scale,
        (out.end_w - out.arrival_w) * 1000.0,
        out.stage_latency_ms,
        out.cold_starts,
        out.failed,
        out.error,
    )


def container_record(c: Container, now_w: float, time_scale: float) -> ContainerRecord:
    """A container's life on the platform clock (a live one ends now); ``busy_s`` stays real seconds."""
    end = now_w if math.isnan(c.end_w) else c.end_w
    busy = c.busy_s + (now_w - c.busy_since if not math.isnan(c.busy_since) else 0.0)
    ready = c.ready_w * time_scale if c.ready_w <= end else math.inf
    return ContainerRecord(
        c.cid, c.function, c.config, c.start_w * time_scale, ready, end * time_scale, busy, c.invocations, c.peak_mb
    )
