"""Reaching a real platform (:class:`RayOptions`), and right-sizing on it: measured sizers on a staging platform.

Used by ``aquatope tune --platform ray`` and by ``aquatope run`` (the default ``--tune-on ray``): every evaluation is
real requests on real containers, in a resource space clamped to what the cluster offers, and the container cost of
every measurement is counted.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

from aquatope.controller import SizingOutcome
from aquatope.errors import InputError
from aquatope.experiments.systems import Budgets, measured_outcome, measurement_cost_usd
from aquatope.resources import Pricing, ResourceSpace
from aquatope.sizing.base import SizingProblem
from aquatope.sizing.loop import ProgressFn, SizingResult, run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import make_sizer
from aquatope.workflow import Workflow

PLATFORMS = ("ray", "ray-serve")


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray and which real platform to run: ``address`` None starts a local Ray with ``num_cpus``
    (unless one runs already); ``platform`` is ``ray`` (container actors) or ``ray-serve`` (Serve deployments);
    ``start_slots``: containers starting at once per node (RayPlatform; default its CPUs)."""

    address: str | None = None
    num_cpus: int | None = None
    cpu_mode: str = "auto"
    platform: str = "ray"
    start_slots: int | None = None

    def __post_init__(self) -> None:
        if self.platform not in PLATFORMS:
            raise InputError(f"must be one of {', '.join(PLATFORMS)}, got {self.platform!r}", field="--platform")

    def make(self, time_scale: float, pricing: Pricing, max_lag_s: float | None = None) -> Any:
        """A platform of the chosen kind (RayPlatform or ServePlatform)."""
        if self.platform == "ray-serve":
            from aquatope.runtime.serve import ServePlatform

            return ServePlatform(
                time_scale=time_scale,
                address=self.address,
                num_cpus=self.num_cpus,
                pricing=pricing,
                max_lag_s=max_lag_s,
            )
        from aquatope.runtime.platform import RayPlatform

        return RayPlatform(
            time_scale=time_scale,
            address=self.address,
            num_cpus=self.num_cpus,
            pricing=pricing,
            cpu_mode=self.cpu_mode,
            max_lag_s=max_lag_s,
            start_slots=self.start_slots,
        )

    def cluster_cpu(self) -> float:
        """CPUs of the cluster: the local Ray's (``num_cpus`` or this machine's) or the cluster at ``address``."""
        import ray

        if self.address is None and not ray.is_initialized() and not os.environ.get("RAY_ADDRESS"):
            return float(self.num_cpus or os.cpu_count() or 1)
        from aquatope.runtime.connect import connect

        started = connect(self.address, self.num_cpus)
        try:
            return float(ray.cluster_resources().get("CPU", 0.0))
        finally:
            if started:
                ray.shutdown()


def ray_space(platform: Any, base: str = "decoupled", workflow: Workflow | None = None) -> ResourceSpace:
    """The decoupled (or coupled) space clamped to the largest node of the platform's cluster and, given
    ``workflow``, to an even share of the cluster for each container a measurement keeps warm (one per invocation
    of a request), so that every measured configuration can be deployed warm at once."""
    node_cpu, node_mem_mb = platform.node_capacity()
    if workflow is not None:
        total_cpu, total_mem_mb = platform.cluster_capacity()
        containers = sum(workflow.invocations_per_request().values())
        node_cpu = min(node_cpu, total_cpu / containers)
        node_mem_mb = min(node_mem_mb, total_mem_mb / containers)
    if base == "coupled":
        sizes = [m for m in ResourceSpace.coupled().memory_values_mb if m <= node_mem_mb and m / 1769.0 <= node_cpu]
        return ResourceSpace.coupled(memory_sizes_mb=sizes or [128])
    if base != "decoupled":
        raise InputError(f"unknown resource space {base!r}; choose decoupled or coupled", field="--space")
    cpu_high = max(0.1, min(8.0, math.floor(node_cpu * 10) / 10))
    mem_high = max(128, min(10240, int(node_mem_mb // 64 * 64)))
    return ResourceSpace.decoupled(cpu_range=(0.1, cpu_high, 0.1), memory_range_mb=(128, mem_high, 64))


def tune_on_ray(
    problem: SizingProblem, method: str, platform: Any, samples_per_config: int, progress: ProgressFn | None
) -> SizingResult:
    """Run one measured sizer on ``platform`` (time scale 1): every measurement is real requests."""
    if platform.time_scale != 1.0:
        raise InputError("right-sizing measures real latencies: use a platform with time_scale=1", field="time_scale")
    sizer = make_sizer(method, problem, problem.seed)
    measurer = Measurer(platform, problem, k=samples_per_config, seed=problem.seed)
    budget = max(problem.budget, getattr(sizer, "required_evaluations", 0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return run_sizer(sizer, measurer, budget, progress)


class RayResizer:
    """A measured sizer on a staging platform (speed-up 1) on the same cluster; the cost of its measurements
    returned. Attempt ``a`` uses seed ``seed + a``."""

    def __init__(self, problem: SizingProblem, method: str, budgets: Budgets, seed: int, ray: RayOptions) -> None:
        self.problem = problem
        self.method = method
        self.budgets = budgets
        self.seed = seed
        self.ray = ray

    def __call__(self, attempt: int) -> SizingOutcome:
        staging = self.ray.make(1.0, self.problem.pricing)
        try:
            wf = self.problem.workflow
            space = ray_space(staging, "decoupled", wf)
            problem = dataclasses.replace(self.problem, space=space, seed=self.seed + attempt)
            result = tune_on_ray(problem, self.method, staging, self.budgets.samples_per_config, None)
            cost = measurement_cost_usd(staging.container_records(), problem.pricing)
        finally:
            staging.shutdown()
        return measured_outcome(f"{self.method} on {self.ray.platform}", result, cost, wf)
