from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sim_cases import chain

from aquatope.controller import (
    Controller,
    ControllerConfig,
    LiveBatches,
    RetuneRule,
    RetuneState,
    SizingOutcome,
    WindowSignal,
    retune_due,
)
from aquatope.platform import PoolTarget, RequestRecord
from aquatope.prewarm import PolicyContext, PoolDecision
from aquatope.resources import ResourceConfig
from aquatope.sim import Simulator


class LastCountPolicy:
    """Keeps as many containers warm as invocations were seen in the interval that just ended."""

    name = "last-count"
    needs_forecast = False
    needs_future = False

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        last = context.history[:, -1] if context.history.shape[1] else np.zeros(context.n_functions)
        return PoolDecision({f: PoolTarget(int(n), 0.0) for f, n in zip(context.functions, last, strict=True)}), None


class CountingResizer:
    def __init__(self, config: dict[str, ResourceConfig]) -> None:
        self.config = config
        self.attempts: list[int] = []

    def __call__(self, attempt: int) -> SizingOutcome:
        self.attempts.append(attempt)
        return SizingOutcome(self.config, evaluations=2, cost_usd=0.5)


def test_tick_table_observe_policy_set_pool() -> None:
    wf = chain("tiny", [("a", 100.0), ("b", 100.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    half = {"a": ResourceConfig(0.5, 512), "b": ResourceConfig(1.0, 1024)}
    resizer = CountingResizer(half)
    ctl = Controller(sim, wf, LastCountPolicy(), resizer=resizer, config=ControllerConfig(lead_s=2.0, retune=None))
    ctl.start()
    assert resizer.attempts == [0] and ctl.configs == half and ctl.tuning_cost_usd == 0.5
    sim.submit("tiny", np.array([10.0, 20.0, 130.0, 140.0, 150.0]))
    ticks = ctl.run(4)
    table = [(t.tick, t.now_s, t.requests, t.min_warm) for t in ticks]
    # tick k at 60 k - 2 s; requests of [58k-..); min_warm = invocations of both functions last interval
    assert table == [(0, 0.0, 0, 0), (1, 58.0, 2, 4), (2, 118.0, 0, 0), (3, 178.0, 3, 6)]
    ctl.finish()
    assert ctl.invocations == 10
    assert {c.config for c in sim.container_records() if c.function == "a"} == {half["a"]}
    assert len(sim.request_records()) == 5


def test_retune_rule_tick_table() -> None:
    rule = RetuneRule(window_intervals=5, cooldown_intervals=10, drift_ratio=3.0, min_requests=10, max_retunes=2)
    state = RetuneState()
    rows = [  # tick, requests, warm violations, rate -> re-tune?
        (5, 50, 0, 10.0, None),  # first window: sets the baseline
        (10, 50, 1, 12.0, None),
        (15, 50, 20, 10.0, "qos"),  # 40% warm violations > 2 (1 - 0.95)
        (20, 50, 20, 10.0, None),  # cooldown
        (25, 200, 0, 40.0, "drift"),  # 4x the rate
        (40, 200, 0, 200.0, None),  # max_retunes reached
    ]
    for tick, n, bad, rate, expect in rows:
        reason, state = retune_due(rule, WindowSignal(tick, n, bad, rate), state, quantile=0.95)
        assert (reason.split(":")[0] if reason else None) == expect, tick


def _uniform(per_minute: list[int]) -> np.ndarray:
    return np.concatenate([m * 60 + (np.arange(n) + 0.5) * 60 / n for m, n in enumerate(per_minute) if n])


def test_a_rate_step_triggers_exactly_one_retune() -> None:
    wf = chain("tiny", [("a", 50.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    resizer = CountingResizer(wf.default_configs())
    rule = RetuneRule(window_intervals=5, check_every=5, cooldown_intervals=5, drift_ratio=3.0, min_rate_per_interval=5)
    ctl = Controller(sim, wf, LastCountPolicy(), resizer=resizer, config=ControllerConfig(retune=rule))
    ctl.start()
    sim.submit("tiny", _uniform([10] * 20 + [60] * 40))
    ticks = ctl.run(60)
    reasons = [(t.tick, t.retune) for t in ticks if t.retune]
    assert len(reasons) == 1 and reasons[0][1].startswith("drift") and reasons[0][0] == 25
    assert resizer.attempts == [0, 1] and ctl.tuning_evaluations == 4


def test_history_shape_is_checked() -> None:
    wf = chain("tiny", [("a", 50.0)])
    with pytest.raises(Exception, match="history"):
        Controller(Simulator(), wf, LastCountPolicy(), history=np.zeros((2, 3)))


class SubTickSpy:
    """A policy that wants a 20 s interval and records what each call observed (invocations of function a)."""

    name = "spy"
    needs_forecast = False
    needs_future = False
    interval_s = 20.0

    def __init__(self) -> None:
        self.seen: list[tuple[float, int]] = []

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        obs = context.observed.get("a")
        self.seen.append((context.now_s, obs.invocations if obs else -1))
        return PoolDecision({f: PoolTarget(0, 600.0) for f in context.functions}), None


def test_sub_ticked_policy_sees_only_the_interval_since_its_last_call() -> None:
    wf = chain("tiny", [("a", 100.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    spy = SubTickSpy()
    ctl = Controller(sim, wf, spy, config=ControllerConfig(lead_s=0.0, retune=None))
    ctl.start()
    sim.submit("tiny", np.array([5.0, 25.0, 26.0, 45.0, 65.0]))
    ctl.run(2)
    # calls at 0 (nothing yet), 20, 40, then the minute tick at 60 sees (40, 60] only, not the whole minute
    assert spy.seen[:5] == [(0.0, -1), (20.0, 1), (40.0, 2), (60.0, 1), (80.0, 1)]
    assert ctl.history[0].tolist() == [4.0]  # the history still counts the whole minute


class BrokenForecaster:
    """Raises on every prediction (a model failure the loop must survive and count)."""

    def fit(self, history: np.ndarray) -> BrokenForecaster:
        return self

    def predict(self, history: np.ndarray, horizon: int) -> Any:
        raise ValueError("weights are NaN")


class NoPerfModel:
    """A perf model that refuses to be read: the controller must work from observed durations only."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AssertionError(f"the controller read the perf model ({name})")


def test_a_failing_forecaster_is_recorded_and_its_fallback_ticks_counted() -> None:
    from aquatope.prewarm import SafePolicy, make_policy

    wf = chain("tiny", [("a", 100.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    ctl = Controller(
        sim, wf, SafePolicy(make_policy("aquatope")), forecaster=BrokenForecaster(), history=np.ones((1, 30))
    )  # type: ignore[arg-type]
    ctl.start()
    sim.submit("tiny", np.array([5.0, 70.0]))
    ticks = ctl.run(3)
    assert len(ctl.forecast_failures) == 3 and "ValueError: weights are NaN" in ctl.forecast_failures[0]
    assert ctl.fallback_ticks == 3 and all(t.fallback and not t.forecast_ok for t in ticks)


def test_policies_see_observed_durations_never_the_perf_models() -> None:
    wf = chain("tiny", [("a", 250.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    sim.deploy(wf)  # the platform runs the real model; the controller's copy of the workflow has none
    blind = wf.__class__(
        wf.name, wf.qos, {"a": wf.functions["a"].__class__("a", NoPerfModel(), wf.functions["a"].resources)}, wf.stages
    )  # type: ignore[arg-type]
    ctl = Controller(sim, blind, LastCountPolicy(), config=ControllerConfig(retune=None))
    ctl.t0_s = 0.0
    assert ctl.stats == {}  # nothing observed yet: the policy uses its documented default
    sim.submit("tiny", np.array([5.0, 10.0, 15.0]))
    ctl.run(2)
    assert ctl.stats["a"].mean_duration_s == pytest.approx(0.25)  # what the platform reported


def _record(i: int, arrival: float, end: float, cold: int = 0, failed: bool = False, wf: str = "tiny") -> RequestRecord:
    return RequestRecord(i, wf, arrival, end, 1000.0 * (end - arrival), {}, cold, failed)


def test_live_batches_take_warm_requests_of_the_deployed_configuration_only() -> None:
    batches = LiveBatches("tiny", 2)
    batches.reset(100.0)  # the configuration was applied at 100 s
    records = [
        _record(0, 90.0, 101.0),  # arrived before the configuration: not its evidence
        _record(1, 100.0, 101.0),
        _record(2, 102.0, 103.0, cold=1),  # waited on a cold start: the pool's doing
        _record(3, 103.0, 104.0, failed=True),
        _record(4, 104.0, 105.0, wf="other"),
        _record(5, 105.0, 106.5),
        _record(6, 106.0, 108.0),
        _record(7, 107.0, 130.0),  # not finished by the first call
    ]
    first = batches.take(records, 120.0)
    assert [b.tolist() for b in first] == [[1000.0, 1500.0]] and batches.pending == [2000.0]
    assert [b.tolist() for b in batches.take(records, 140.0)] == [[2000.0, 23000.0]]
    assert batches.take(records, 200.0) == []  # nothing counted twice
    batches.pending = [5.0]
    batches.reset(210.0)
    assert batches.pending == [] and batches.since_s == 210.0


class ObservingResizer(CountingResizer):
    """Deploys ``config``; switches to ``bigger`` at the second live batch it is handed."""

    live_batch = 3

    def __init__(self, config: dict[str, ResourceConfig], bigger: dict[str, ResourceConfig]) -> None:
        super().__init__(config)
        self.bigger = bigger
        self.batches: list[list[float]] = []

    def observe(self, config: dict[str, ResourceConfig], latency_ms: np.ndarray) -> SizingOutcome | None:
        self.batches.append(latency_ms.tolist())
        if len(self.batches) == 2:
            return SizingOutcome(self.bigger, source="live", note="re-judged")
        return None


@pytest.mark.parametrize("enabled", [True, False])
def test_live_evidence_hands_batches_to_the_resizer_and_applies_its_new_answer(enabled: bool) -> None:
    wf = chain("tiny", [("a", 100.0)], qos_ms=5000.0)
    sim = Simulator(seed=0)
    small, big = {"a": ResourceConfig(0.5, 512)}, {"a": ResourceConfig(2.0, 2048)}
    resizer = ObservingResizer(small, big)
    config = ControllerConfig(retune=None, live_evidence=enabled)
    ctl = Controller(sim, wf, LastCountPolicy(), resizer=resizer, config=config)
    ctl.start()
    sim.submit("tiny", np.arange(5.0, 600.0, 20.0))  # one request every 20 s for 10 minutes
    ctl.run(10)
    ctl.finish()
    if not enabled:
        assert resizer.batches == [] and ctl.configs == small and len(ctl.sizings) == 1
        return
    assert ctl.configs == big and {len(b) for b in resizer.batches} == {3}
    assert 2 < len(resizer.batches) <= 30 // 3  # the new configuration's requests go on as its own evidence
    assert [s.source for s in ctl.sizings] == [None, "live"] and resizer.attempts == [0]  # nothing re-tuned
    assert {c.config for c in sim.container_records() if c.function == "a"} == {small["a"], big["a"]}
