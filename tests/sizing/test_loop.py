"""The measuring loop: run_sizer and its resumable form give the same run; the result says where the answer came
from and what it was after every evaluation."""

from __future__ import annotations

import numpy as np
from sim_cases import chain
from sizing_cases import three_problem

from aquatope.sim import Simulator
from aquatope.sizing import Measurer
from aquatope.sizing.loop import run_sizer, run_sizer_steps
from aquatope.sizing.registry import make_sizer


def test_steps_interleave_with_live_work_and_give_the_same_run() -> None:
    p = three_problem(budget=8)
    direct = run_sizer(make_sizer("aquatope-design", p), Measurer(Simulator(seed=1), p, k=5, seed=1), p.budget)
    sim = Simulator(seed=1)
    sim.deploy(chain("live", [("x", 50.0)]))  # another tenant's workflow on the same platform
    gen = run_sizer_steps(make_sizer("aquatope-design", p), Measurer(sim, p, k=5, seed=1), p.budget)
    ticks = 0
    try:
        while True:
            t = next(gen)
            sim.submit("live", np.array([sim.now_s]))  # live traffic between the steps
            sim.advance(t)
            ticks += 1
    except StopIteration as done:
        resumed = done.value
    assert ticks > resumed.evaluations and len(sim.request_records()) > resumed.evaluations * 5
    assert [m.config for m in resumed.history] == [m.config for m in direct.history]
    assert resumed.sources == direct.sources
    assert resumed.best is not None and direct.best is not None and resumed.best.config == direct.best.config


def test_result_records_the_answer_after_each_evaluation_and_its_origin() -> None:
    p = three_problem(budget=9)
    result = run_sizer(make_sizer("aquatope-design", p), Measurer(Simulator(seed=0), p, k=5), p.budget)
    assert len(result.answer_index) == result.evaluations == len(result.sources)
    assert result.answer_index[-1] == result.best_index
    origin = result.origin_index
    assert origin is not None and origin <= result.best_index  # type: ignore[operator]
    assert result.best_source == result.sources[origin] and origin in result.best_measured_at
    data = result.to_dict()
    assert data["best"]["evaluation"] == origin + 1 and data["best"]["source"] == "design"
    assert all("source" in h for h in data["history"])
    curve = result.best_cost_curve()
    assert curve[-1] == result.best.cost_per_request_usd  # type: ignore[union-attr]
