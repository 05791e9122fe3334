from __future__ import annotations

from aquatope.resources import ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing import Measurer, SizingProblem
from aquatope.sizing.baselines import POWER_TUNING_MEMORY_MB, PowerTuningGrid, RandomSizer
from aquatope.sizing.loop import run_sizer
from aquatope.workflow import load_workflow


def test_random_spends_its_budget_inside_the_space() -> None:
    problem = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=8)
    result = run_sizer(RandomSizer(problem, seed=1), Measurer(Simulator(), problem, k=5), budget=100)
    assert result.evaluations == 8
    assert all(problem.space.contains(c) for m in result.history for c in m.config.values())
    if result.best is not None:
        assert result.best.feasible
        assert result.best.cost_per_request_usd == min(m.cost_per_request_usd for m in result.history if m.feasible)
    again = run_sizer(RandomSizer(problem, seed=1), Measurer(Simulator(), problem, k=5), budget=100)
    assert [m.config for m in again.history] == [m.config for m in result.history]


def test_grid_tunes_each_function_alone_then_combines() -> None:
    problem = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=5)
    grid = PowerTuningGrid(problem)
    assert grid.required_evaluations == 4 * len(POWER_TUNING_MEMORY_MB) + 1
    result = run_sizer(grid, Measurer(Simulator(), problem, k=5), grid.required_evaluations)
    assert result.evaluations == grid.required_evaluations
    defaults = problem.workflow.default_configs()
    for m in result.history[:-1]:  # one function differs from the defaults at a time
        assert sum(m.config[f] != defaults[f] for f in problem.functions) <= 1
    assert result.best is result.history[-1]
    assert result.best.config == grid.combined()
    assert all(c.memory_mb in POWER_TUNING_MEMORY_MB for c in grid.combined().values())
