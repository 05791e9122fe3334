"""Azure 2021 per-invocation rows binned to minutes by arrival time (end - duration)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.traces import load_trace

ROWS = """app,func,end_timestamp,duration
a1,f1,0.5,0.2
a1,f1,61.0,0.5
a1,f2,130.0,10.0
a2,f3,59.9,0.1
a1,f1,65.0,6.0
a2,f3,0.05,0.1
"""


def test_binning_by_arrival_and_duration_stats(tmp_path: Path) -> None:
    path = tmp_path / "AzureFunctionsInvocationTrace2021.txt"
    path.write_text(ROWS)
    trace = load_trace(path)
    assert trace.function_ids == ("f1", "f2", "f3")
    assert trace.app_ids == ("a1", "a1", "a2")
    # f1 arrives at 0.3 s, 60.5 s and 59 s (ends at 65 s but started in minute 0)
    # f3's second row arrives at -0.05 s: before the trace start, counted in minute 0
    assert trace.counts.tolist() == [[2, 1, 0], [0, 0, 1], [2, 0, 0]]
    d = trace.durations
    assert d is not None
    assert d.count.tolist() == [3.0, 1.0, 2.0]
    assert d.average_ms[0] == pytest.approx((200 + 500 + 6000) / 3)
    assert (d.minimum_ms[0], d.maximum_ms[0]) == pytest.approx((200.0, 6000.0))
    assert d.percentile(50.0)[0] == pytest.approx(500.0)
    assert d.percentile(50.0)[2] == pytest.approx(np.median([100.0, 100.0]))


def test_same_func_under_two_apps_gets_app_prefix(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("app,func,end_timestamp,duration\na1,f,1,0\na2,f,2,0\n")
    assert load_trace(path).function_ids == ("a1/f", "a2/f")


@pytest.mark.parametrize(
    ("row", "field"),
    [("a1,f1,abc,0.1", "end_timestamp"), ("a1,f1,5,-1", "duration"), ("a1,f1,5,nan", "duration")],
)
def test_bad_rows_name_line_and_column(tmp_path: Path, row: str, field: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"app,func,end_timestamp,duration\na1,f1,1,0.5\n{row}\n")
    with pytest.raises(InputError) as info:
        load_trace(path)
    assert f"{path}:3" in str(info.value) and field in str(info.value)


@pytest.mark.parametrize(
    ("rows", "message", "line", "field"),
    [
        ("a,f,10,1\na,g,1e15,1\n", "beyond the limit of a year", 3, "end_timestamp"),  # no 121 TiB of counts
        ("a/b,c,1,0\na,b/c,2,0\na,c,3,0\n", "'a/b/c' is ambiguous", 3, "func"),  # ids collide even with app/
    ],
)
def test_refused_by_line_before_allocating(tmp_path: Path, rows: str, message: str, line: int, field: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text("app,func,end_timestamp,duration\n" + rows)
    with pytest.raises(InputError, match=message) as info:
        load_trace(path)
    assert (info.value.line, info.value.field) == (line, field)


def test_many_functions_over_a_long_span_are_refused(tmp_path: Path) -> None:
    rows = "".join(f"a,f{i},{i * 20_000},0\n" for i in range(1000))  # 1000 functions x 333,000 minutes
    path = tmp_path / "t.csv"
    path.write_text("app,func,end_timestamp,duration\n" + rows)
    with pytest.raises(InputError, match="GiB of counts"):
        load_trace(path)
