"""classify: periodic / sporadic / bursty / steady on hand-made per-minute series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import aquatope
from aquatope.traces import (
    ClassRule,
    TrafficClass,
    bursty_trace,
    class_counts,
    classify,
    classify_counts,
    diurnal_trace,
    load_trace,
    poisson_trace,
)

DAY = 1440


def _series(active: dict[int, int], minutes: int = DAY) -> np.ndarray:
    row = np.zeros(minutes, dtype=np.int64)
    for minute, count in active.items():
        row[minute] = count
    return row


def _one(row: np.ndarray) -> TrafficClass:
    return classify_counts(row[None, :])[0]


def test_timers_are_periodic() -> None:
    assert _one(_series(dict.fromkeys(range(3, DAY, 10), 1))) is TrafficClass.PERIODIC
    assert _one(_series(dict.fromkeys(range(0, DAY, 60), 2))) is TrafficClass.PERIODIC  # hourly: 24/day
    assert _one(np.full(DAY, 5)) is TrafficClass.PERIODIC  # sub-minute timer: same count every minute
    jittered = _series({m + (1 if i % 7 == 0 else 0): 1 for i, m in enumerate(range(0, DAY - 30, 30))})
    assert _one(jittered) is TrafficClass.PERIODIC  # 30 +- 1 minute gaps


def test_regular_but_short_or_rare_is_not_periodic() -> None:
    assert _one(_series(dict.fromkeys(range(0, 100, 10), 1))) is TrafficClass.SPORADIC  # spans < half
    assert _one(_series({0: 1, 720: 1})) is TrafficClass.SPORADIC  # too few active minutes


def test_sporadic_bursty_and_steady() -> None:
    assert _one(_series({5: 1, 300: 2, 1001: 1})) is TrafficClass.SPORADIC
    assert _one(np.zeros(DAY, dtype=np.int64)) is TrafficClass.SPORADIC
    # ten busy minutes at irregular times: rare but 5,000 a day, far beyond Poisson variation
    batch = _series({m: 500 for m in (7, 90, 91, 400, 402, 800, 1100, 1101, 1102, 1300)})
    assert _one(batch) is TrafficClass.BURSTY
    assert _one(bursty_trace(5.0, seed=1).counts[0]) is TrafficClass.BURSTY
    assert _one(poisson_trace(50.0, seed=1).counts[0]) is TrafficClass.STEADY
    assert _one(poisson_trace(0.5, seed=1).counts[0]) is TrafficClass.STEADY  # active in ~40% of minutes
    assert _one(diurnal_trace(50.0, amplitude=1.0, seed=1).counts[0]) is TrafficClass.STEADY


def test_rule_thresholds_are_parameters() -> None:
    row = _series({5: 1, 300: 2, 1001: 1})
    assert classify_counts(row[None, :], ClassRule(sporadic_per_day=1.0))[0] is TrafficClass.BURSTY
    with pytest.raises(ValueError):
        ClassRule(periodic_share=2.0)


def test_class_counts_on_the_bundled_sample() -> None:
    trace = load_trace(Path(aquatope.__file__).parent / "data" / "azure2019-sample-250")
    counts = class_counts(classify(trace))
    assert counts == {"periodic": 34, "sporadic": 142, "bursty": 52, "steady": 22}
    assert max(counts, key=counts.__getitem__) == "sporadic"
