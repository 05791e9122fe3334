"""summarize, hourly counts and the sparkline used by `aquatope trace info`."""

from __future__ import annotations

import numpy as np

from aquatope.traces import InvocationTrace, sparkline, summarize
from aquatope.traces.summary import hourly_counts


def test_sparkline_levels() -> None:
    assert sparkline([0, 1, 2, 4, 8]) == " ▂▃▅█"
    assert sparkline([0, 0]) == "  "
    assert sparkline([]) == ""
    assert sparkline([1, 1000]) == "▁█"  # any non-zero value shows


def test_hourly_counts_with_partial_last_hour() -> None:
    assert hourly_counts(np.arange(150)).tolist() == [sum(range(60)), sum(range(60, 120)), sum(range(120, 150))]


def test_summarize_small_trace() -> None:
    counts = np.zeros((3, 120), dtype=np.int64)
    counts[0, :] = 2
    counts[1, 5] = 7
    trace = InvocationTrace(("steady", "rare", "idle"), counts, source="mem")
    summary = summarize(trace, top=2)
    d = summary.to_dict()
    assert (d["functions"], d["minutes"], d["invocations"], d["active_functions"]) == (3, 120, 247, 2)
    assert sum(d["classes"].values()) == 3
    assert [f["function_id"] for f in d["top"]] == ["steady", "rare"]
    assert d["top"][0]["hourly"] == [120, 120] and d["top"][0]["rate_per_minute"] == 2.0
    assert d["rate_per_minute"]["max"] == 2.0 and d["rate_per_minute"]["p50"] == 7 / 120
