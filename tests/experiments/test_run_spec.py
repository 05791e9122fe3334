"""What a run of ``aquatope run`` is: its segment of the trace, its checks on bad input, the systems it may run."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.experiments.run_spec import DEFAULT_MAX_LAG_S, RunSpec, max_lag_for, run_system_spec, split_trace
from aquatope.traces import load_trace
from aquatope.workflow import load_workflow


def test_split_trace_replays_the_segment_and_trains_on_what_came_before() -> None:
    trace = load_trace("synthetic:poisson:rate=20,minutes=40,functions=2", seed=0)
    train, replay = split_trace(trace, 1, 5, 30, 1.0, 0)
    np.testing.assert_array_equal(train, trace.counts[1, :30])
    np.testing.assert_array_equal(replay, trace.counts[1, 30:35])
    train, replay = split_trace(trace, 0, 5, None, 1.0, 0)  # default: the last minutes
    assert train.size == 35 and replay.size == 5


@pytest.mark.parametrize(
    ("minutes", "start", "scale", "field"),
    [(0, None, 1.0, "--minutes"), (41, None, 1.0, "--minutes"), (5, 36, 1.0, "--start-minute"), (5, 0, 0.0, "--scale")],
)
def test_split_trace_names_the_bad_option(minutes: int, start: int | None, scale: float, field: str) -> None:
    trace = load_trace("synthetic:poisson:rate=20,minutes=40,functions=2", seed=0)
    with pytest.raises(InputError) as err:
        split_trace(trace, 0, minutes, start, scale, 0)
    assert err.value.field == field


def test_run_spec_refuses_references_unknown_systems_and_bad_options() -> None:
    assert run_system_spec("openwhisk").name == "openwhisk"
    with pytest.raises(InputError, match="unknown system"):
        RunSpec("no-such-system")
    with pytest.raises(InputError, match="reference"):
        RunSpec("lower-bound")
    with pytest.raises(InputError, match=r"\+live .* is an evaluate option") as live:
        RunSpec("aquatope+aquatope-bo+live")
    assert live.value.field == "--system"
    with pytest.raises(InputError) as err:
        RunSpec("openwhisk", speedup=0.0)
    assert err.value.field == "--speedup"


def test_the_lag_limit_is_at_least_ten_times_the_qos_target() -> None:
    assert max_lag_for(load_workflow("trip-booking")) == DEFAULT_MAX_LAG_S
    assert max_lag_for(load_workflow("video-processing")) >= 10 * load_workflow("video-processing").qos.latency_ms / 1e3
