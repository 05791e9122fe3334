"""The evaluation protocol: held-out windows, training-only classes and scales, mapping independent of the rest."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.experiments.protocol import Protocol, make_workload, training_classes, window_starts, workflow_rows
from aquatope.traces import InvocationTrace, load_trace
from aquatope.workflow import load_workflow

SAMPLE = "src/aquatope/data/azure2019-sample-250"


def test_windows_lie_in_the_held_out_part_at_its_busiest_and_quietest_hours() -> None:
    counts = np.ones((2, 300), dtype=np.int64)
    counts[:, 240:270] = 50  # the busiest hour of the held-out part starts at minute 240
    counts[:, 180:240] = 0  # the quietest at 180
    trace = InvocationTrace(("a", "b"), counts)
    p = Protocol(train_minutes=120, window_minutes=60, windows=("peak", "quiet"), warmup_minutes=10, settle_minutes=10)
    assert window_starts(trace, p) == {"peak": 240, "quiet": 180}
    with pytest.raises(InputError, match="need 420"):
        window_starts(trace, Protocol(train_minutes=360, window_minutes=60))


def test_the_mapping_of_a_workflow_does_not_depend_on_the_others() -> None:
    trace = load_trace(SAMPLE)
    p = Protocol()
    classes = training_classes(trace, p)
    totals = trace.counts[:, : p.train_minutes].sum(axis=1)
    alone = workflow_rows(classes, totals, "trip-booking", 3, seed=0)
    assert workflow_rows(classes, totals, "trip-booking", 3, seed=0) == alone
    assert workflow_rows(classes, totals, "trip-booking", 3, seed=1) != alone  # drawn per seed
    assert [classes[r] for r in alone] == ["sporadic", "periodic", "bursty"]  # one per class in turn
    w = make_workload(trace, p, load_workflow("trip-booking"), 0, "peak", classes)
    assert w.rows == tuple(alone)


def test_scale_and_classes_come_from_the_training_part_only() -> None:
    trace = load_trace(SAMPLE)
    p = Protocol(max_rps=0.5)
    classes = training_classes(trace, p)
    w = make_workload(trace, p, load_workflow("ml-pipeline"), 0, "peak", classes)
    # the training part's mean rate is capped (stochastic rounding keeps it within a few percent)
    assert w.training.mean() / 60.0 <= 0.5 * 1.05
    # changing the held-out part changes neither the classes nor the scale
    held = trace.counts.copy()
    held[:, p.train_minutes :] *= 10
    other = InvocationTrace(trace.function_ids, held, durations=trace.durations, memory=trace.memory)
    assert training_classes(other, p) == classes
    w2 = make_workload(other, p, load_workflow("ml-pipeline"), 0, "peak", classes)
    assert (w2.rows, w2.scale) == (w.rows, w.scale)
    # the history a controller sees ends where the window starts
    assert w.history.size == w.start_minute and w.replay.size == p.window_minutes


def test_protocol_values_are_checked() -> None:
    with pytest.raises(InputError):
        Protocol(windows=("noon",))
    with pytest.raises(InputError):
        Protocol(max_rps=0.0)
    with pytest.raises(InputError):
        Protocol(train_minutes=30, warmup_minutes=30, settle_minutes=10).check(load_trace(SAMPLE))
