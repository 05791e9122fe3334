"""One contract over every ask/tell sizer: suggestions stay in the space, the ask/tell cycle terminates within the
budget, best() is a measured feasible configuration, and an infeasible problem is reported infeasible."""

from __future__ import annotations

import pytest

from aquatope.resources import ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing import Measurer, SizingProblem
from aquatope.sizing.base import config_key
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.registry import MEASURED_METHODS, make_sizer
from aquatope.workflow import QoS, Workflow, load_workflow


def problem(qos_ms: float | None = None, budget: int = 8) -> SizingProblem:
    wf = load_workflow("trip-booking")
    if qos_ms is not None:
        wf = Workflow(wf.name, QoS(qos_ms, 95), wf.functions, wf.stages, wf.kind)
    return SizingProblem(wf, ResourceSpace.decoupled(), budget=budget, seed=3)


@pytest.mark.parametrize("method", MEASURED_METHODS)
def test_ask_tell_cycle_within_the_space(method: str) -> None:
    p = problem()
    sizer = make_sizer(method, p, seed=3)
    budget = max(p.budget, getattr(sizer, "required_evaluations", 0))
    result = run_sizer(sizer, Measurer(Simulator(seed=3), p, k=5), budget)
    assert 1 <= result.evaluations <= budget
    for m in result.history:
        assert set(m.config) == set(p.functions)
        assert all(p.space.contains(c) for c in m.config.values())
    best = result.best
    if best is not None and method != "grid":  # grid answers whatever it combined (QoS-agnostic)
        assert best.feasible
        assert config_key(best.config) in {config_key(m.config) for m in result.history}


@pytest.mark.parametrize("method", MEASURED_METHODS)
def test_infeasible_everywhere_is_reported_infeasible(method: str) -> None:
    p = problem(qos_ms=1.0, budget=5)
    sizer = make_sizer(method, p, seed=1)
    budget = max(p.budget, getattr(sizer, "required_evaluations", 0))
    result = run_sizer(sizer, Measurer(Simulator(seed=1), p, k=3), budget)
    assert result.best is None or not result.best.feasible
    assert result.to_dict()["best"] is None or result.to_dict()["best"]["feasible"] is False
