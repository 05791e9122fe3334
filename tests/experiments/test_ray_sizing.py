from __future__ import annotations

import dataclasses
from typing import Any

from sizing_cases import three_problem

from aquatope.experiments import ray_sizing
from aquatope.experiments.ray_sizing import RayOptions, RayResizer
from aquatope.experiments.systems import Budgets
from aquatope.resources import ResourceSpace
from aquatope.sizing.base import SizingProblem
from aquatope.sizing.load import LoadProfile
from aquatope.sizing.loop import SizingResult


class _Staging:
    """What RayResizer asks of a staging platform, without Ray."""

    def __init__(self) -> None:
        self.shut = False

    def container_records(self) -> list[Any]:
        return []

    def shutdown(self) -> None:
        self.shut = True


def test_each_ray_attempt_sizes_the_same_problem_in_the_clusters_space_with_its_own_seed(monkeypatch: Any) -> None:
    base = dataclasses.replace(
        three_problem(budget=7, seed=3), load=LoadProfile(0.5, "keepalive:600"), rule="one-level"
    )
    staging, seen = _Staging(), []
    space = ResourceSpace.decoupled(cpu_range=(0.1, 2.0, 0.1), memory_range_mb=(128, 2048, 64))
    monkeypatch.setattr(RayOptions, "make", lambda self, time_scale, pricing: staging)
    monkeypatch.setattr(ray_sizing, "ray_space", lambda platform, base, wf: space)

    def fake_tune(problem: SizingProblem, method: str, platform: Any, k: int, progress: Any) -> SizingResult:
        seen.append((problem, method, platform, k))
        return SizingResult(method, (), None)

    monkeypatch.setattr(ray_sizing, "tune_on_ray", fake_tune)
    outcome = RayResizer(base, "aquatope-bo", Budgets(samples_per_config=4), seed=10, ray=RayOptions())(attempt=2)
    ((problem, method, platform, k),) = seen
    assert (method, platform, k) == ("aquatope-bo", staging, 4) and staging.shut
    # everything the problem says survives (the load and the rule too); only the space and the seed are the attempt's
    assert problem == dataclasses.replace(base, space=space, seed=12)
    assert outcome.config is None
