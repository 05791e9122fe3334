"""Live requests as evidence: the deployed configuration's warm requests re-judged with its tuning measurements."""

from __future__ import annotations

import numpy as np
import pytest
from sizing_cases import three_problem

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import History, Measurement, config_key
from aquatope.sizing.live import live_measurement, rejudge

P = three_problem()


def config(cpu: float) -> dict[str, ResourceConfig]:
    return {f: ResourceConfig(cpu, 512) for f in P.functions}


def latencies(median_ms: float, seed: int, k: int = 20) -> np.ndarray:
    return median_ms * np.exp(np.random.default_rng(seed).normal(0.0, 0.1, k))


def measurement(cpu: float, median_ms: float, seed: int) -> Measurement:
    lat = latencies(median_ms, seed)
    busy = {f: median_ms / 3000.0 for f in P.functions}
    stages = {s.name: lat / 3 for s in P.workflow.stages}
    return Measurement(config(cpu), lat, stages, P.cost_per_request_usd(config(cpu), busy), P.quantile, P.qos_ms, busy)


def tuned() -> History:
    """A cheap configuration (1 vCPU, median 480 ms: judged feasible against 700 ms, not by much) and a dear one
    (2 vCPU, 400 ms), each measured twice."""
    h = History()
    for m in (measurement(1.0, 480.0, 1), measurement(2.0, 400.0, 2), measurement(1.0, 480.0, 3)):
        h.add(m, "design")
    h.add(measurement(2.0, 400.0, 4), "model")
    return h


def test_a_live_batch_is_an_evaluation_priced_as_the_configurations_tuning() -> None:
    h = tuned()
    live = live_measurement(h, config(1.0), latencies(480.0, 9))
    assert live.busy_s == h.items[2].busy_s and live.cost_per_request_usd == h.items[2].cost_per_request_usd
    assert live.k == 20 and config_key(live.config) == config_key(config(1.0))
    with pytest.raises(ValueError, match="never measured"):
        live_measurement(h, config(3.0), latencies(480.0, 9))


def test_live_requests_as_fast_as_tuning_keep_the_answer() -> None:
    h = tuned()
    for seed in range(10, 14):
        best = rejudge(P, h, config(1.0), latencies(480.0, seed))
        assert best is not None and config_key(best.config) == config_key(config(1.0))
    assert h.sources[-4:] == ["live"] * 4


def test_live_requests_slower_than_tuning_move_the_answer_once_they_are_the_majority() -> None:
    """30% slower live: one or two slow batches against two tuning ones are taken for a neighbour's disturbance
    (dropped by the answer rule's dispute), the third makes the slow ones the majority. Then the cheap configuration
    no longer meets the target with its margin, and the answer is the dear one, measured during tuning."""
    h = tuned()
    answers = [rejudge(P, h, config(1.0), latencies(624.0, seed)) for seed in range(20, 23)]
    cpus = [None if a is None else a.config[P.functions[0]].cpu for a in answers]
    assert cpus == [1.0, 1.0, 2.0]
