from __future__ import annotations

import itertools

from aquatope.resources import ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing import Measurer, SizingProblem
from aquatope.sizing.answer import answer
from aquatope.sizing.baselines import POWER_TUNING_MEMORY_MB, PowerTuningGrid, RandomSizer
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.modelbased import ModelBasedSizer
from aquatope.sizing.powertune import PowerTuneQoS
from aquatope.workflow import load_workflow


def test_random_spends_its_budget_inside_the_space_from_a_cold_start() -> None:
    problem = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=8)
    result = run_sizer(RandomSizer(problem, seed=1, start="random"), Measurer(Simulator(), problem, k=5), budget=100)
    assert result.evaluations <= 8 and set(result.sources) <= {"random", "confirm"}
    assert all(problem.space.contains(c) for m in result.history for c in m.config.values())
    again = run_sizer(RandomSizer(problem, seed=1, start="random"), Measurer(Simulator(), problem, k=5), budget=100)
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


def test_powertune_qos_profiles_then_upsizes_the_critical_path_until_the_rule_accepts() -> None:
    problem = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=20, seed=0)
    sizer = PowerTuneQoS(problem)
    result = run_sizer(sizer, Measurer(Simulator(seed=0), problem, k=10), problem.budget)
    profiles = [m for m, s in zip(result.history, result.sources, strict=True) if s == "profile"]
    assert len(profiles) == len(sizer.sizes) == len(POWER_TUNING_MEMORY_MB)
    assert all(len({c for c in m.config.values()}) == 1 for m in profiles)  # every function at one size
    searched = [m for m, s in zip(result.history, result.sources, strict=True) if s == "search"]
    assert searched[0].config == sizer.balanced()
    for a, b in itertools.pairwise(searched):  # each step grows exactly one function by one size
        grown = [f for f in problem.functions if a.config[f] != b.config[f]]
        assert len(grown) == 1 and b.config[grown[0]].memory_mb > a.config[grown[0]].memory_mb
    assert result.best is not None and result.best is answer(problem, sizer.history)


def test_model_based_profiles_four_sizes_then_solves_within_the_profiled_memory() -> None:
    problem = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=12, seed=0)
    sizer = ModelBasedSizer(problem)
    result = run_sizer(sizer, Measurer(Simulator(seed=0), problem, k=10), problem.budget)
    assert result.sources[:4] == ("profile",) * 4
    solved = [m for m, s in zip(result.history, result.sources, strict=True) if s == "model"]
    assert solved, result.sources
    profiled_mb = {c.memory_mb for m in result.history[:4] for c in m.config.values()}
    assert all(c.memory_mb in profiled_mb for m in solved for c in m.config.values())
    assert result.best is not None and result.best.feasible
