"""Invocation traces: per-minute counts of many functions (numpy), loaders, generators and summaries.

* :class:`InvocationTrace` — counts of shape ``(n_functions, n_minutes)`` plus metadata and statistics.
* :func:`load_trace` — a path (Azure 2019 official or invitro layout, one or more days; Azure 2021
  per-invocation rows) or a ``synthetic:KIND:key=value,...`` spec.
* :func:`expand_arrivals` — one function's counts to sorted arrival times in seconds.
* :func:`classify` — periodic / sporadic / bursty / steady per function.
* :func:`summarize` — what ``aquatope trace info`` shows.
"""

from __future__ import annotations

from aquatope.traces.arrivals import ArrivalMode, expand_arrivals
from aquatope.traces.azure import load_azure2019
from aquatope.traces.azure2021 import load_azure2021
from aquatope.traces.classify import ClassRule, TrafficClass, class_counts, classify, classify_counts
from aquatope.traces.load import load_trace
from aquatope.traces.model import DurationStats, InvocationTrace, MemoryStats
from aquatope.traces.summary import FunctionSummary, TraceSummary, sparkline, summarize
from aquatope.traces.synthetic import (
    bursty_trace,
    diurnal_trace,
    parse_synthetic_spec,
    periodic_trace,
    poisson_trace,
)

__all__ = [
    "ArrivalMode",
    "ClassRule",
    "DurationStats",
    "FunctionSummary",
    "InvocationTrace",
    "MemoryStats",
    "TraceSummary",
    "TrafficClass",
    "bursty_trace",
    "class_counts",
    "classify",
    "classify_counts",
    "diurnal_trace",
    "expand_arrivals",
    "load_azure2019",
    "load_azure2021",
    "load_trace",
    "parse_synthetic_spec",
    "periodic_trace",
    "poisson_trace",
    "sparkline",
    "summarize",
]
