"""One contract over every ask/tell sizer and both starts: suggestions stay in the space, asking twice returns the
same suggestion and loses nothing, every evaluation has a known source, the cycle terminates within the budget,
best() is a measured configuration the answer rule accepts, and an infeasible problem is reported infeasible."""

from __future__ import annotations

import pytest

from aquatope.resources import ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing import Measurer, SizingProblem
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import SOURCES, config_key
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.registry import MEASURED_METHODS, make_sizer
from aquatope.workflow import QoS, Workflow, load_workflow

CASES = [(m, s) for m in MEASURED_METHODS for s in ("design", "random") if not (m == "grid" and s == "random")]


def problem(qos_ms: float | None = None, budget: int = 8) -> SizingProblem:
    wf = load_workflow("trip-booking")
    if qos_ms is not None:
        wf = Workflow(wf.name, QoS(qos_ms, 95), wf.functions, wf.stages, wf.kind)
    return SizingProblem(wf, ResourceSpace.decoupled(), budget=budget, seed=3)


@pytest.mark.parametrize(("method", "start"), CASES)
def test_ask_tell_cycle_within_the_space(method: str, start: str) -> None:
    p = problem()
    sizer = make_sizer(method, p, seed=3, start=start)
    budget = max(p.budget, getattr(sizer, "required_evaluations", 0))
    measurer = Measurer(Simulator(seed=3), p, k=5)
    asked = []
    while len(sizer.history) < budget and (out := sizer.suggest()):
        assert sizer.suggest() == out  # idempotent: asking again loses nothing
        asked.append(out[0])
        sizer.observe(out[0], measurer.measure(out[0]))
    assert 1 <= len(sizer.history) <= budget
    assert [config_key(c) for c in asked] == [config_key(m.config) for m in sizer.history.items]
    assert all(s in SOURCES and s != "external" for s in sizer.history.sources)
    for m in sizer.history.items:
        assert set(m.config) == set(p.functions)
        assert all(p.space.contains(c) for c in m.config.values())
    best = sizer.best()
    if best is not None and method != "grid":  # grid answers whatever it combined (QoS-agnostic)
        assert any(m is best for m in sizer.history.items)
        assert judge_all(p, sizer.history)[config_key(best.config)].feasible


@pytest.mark.parametrize("method", MEASURED_METHODS)
def test_infeasible_everywhere_is_reported_infeasible(method: str) -> None:
    p = problem(qos_ms=1.0, budget=5)
    sizer = make_sizer(method, p, seed=1)
    budget = max(p.budget, getattr(sizer, "required_evaluations", 0))
    result = run_sizer(sizer, Measurer(Simulator(seed=1), p, k=3), budget)
    assert result.best is None or not result.best.feasible
    assert result.to_dict()["best"] is None or result.to_dict()["best"]["feasible"] is False
    assert len(result.sources) == result.evaluations


def test_design_start_begins_with_the_defaults_and_random_start_does_not() -> None:
    p = problem()
    defaults = {f: p.space.nearest(c) for f, c in p.workflow.default_configs().items()}
    for method in ("aquatope-bo", "aquatope-design", "cherrypick", "random"):
        assert make_sizer(method, p, 0).suggest() == [defaults]
        assert make_sizer(method, p, 0, start="random").suggest() != [defaults]
