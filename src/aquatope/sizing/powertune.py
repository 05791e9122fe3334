"""``powertune-qos``: what a careful practitioner does with AWS Lambda Power Tuning on a workflow with a latency target.

1. *Profile* (source ``profile``): the workflow measured with every function at each of Power Tuning's default
   memory sizes (``powerValues`` 128..3008 MB, CPU following memory at 1769 MB per vCPU as on Lambda); each
   measurement gives every function's duration and cost per invocation at that size (its stage latencies and busy
   time), so one evaluation per size profiles all functions at once. ``start="random"`` profiles as many random
   sizes of the space instead.
2. *Balanced choice* per function (Power Tuning's ``balanced`` strategy with its default ``balancedWeight`` 0.5):
   the size minimising ``0.5 * cost / max cost + 0.5 * duration / max duration`` over the sizes where it ran.
3. The combination is measured (source ``search``); while the shared answer rule does not accept the last
   measured configuration, *greedy upsizing* of the critical path: among the functions on the measured critical
   path, the one whose next larger profiled size buys the most profiled duration per added profiled cost moves up
   one size, and the result is measured (source ``search``). It stops when the rule accepts a configuration (then
   the shared confirmation) or nothing on the critical path can grow.

The answer is the shared rule's (:mod:`aquatope.sizing.answer`): the cheapest configuration it accepts among
everything measured, the profiles included.
"""

from __future__ import annotations

import math

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.baselines import POWER_TUNING_MEMORY_MB, lambda_config
from aquatope.sizing.sizer import BaseSizer, Proposal

BALANCED_WEIGHT = 0.5
"""Power Tuning's default ``balancedWeight`` (0 = fastest, 1 = cheapest)."""


def profile_sizes(problem: SizingProblem, start: str, seed: int) -> list[ResourceConfig]:
    """The sizes profiled: Power Tuning's defaults (rounded into the space), or as many random ones."""
    space = problem.space
    if start == "random":
        rng = np.random.default_rng([seed, 29])
        picks = rng.choice(space.memory_values_mb, size=len(POWER_TUNING_MEMORY_MB), replace=False)
        sizes = [space.nearest(lambda_config(int(m))) for m in sorted(picks)]
    else:
        sizes = [space.nearest(lambda_config(m)) for m in POWER_TUNING_MEMORY_MB]
    return list(dict.fromkeys(sizes))


class PowerTuneQoS(BaseSizer):
    """Power Tuning's balanced strategy per function, then greedy upsizing of the critical path (module doc)."""

    name = "powertune-qos"

    def __init__(self, problem: SizingProblem, seed: int | None = None, start: str = "design") -> None:
        super().__init__(problem, seed, start)
        self.sizes = profile_sizes(problem, start, self.seed)
        self.profile: dict[str, dict[ResourceConfig, tuple[float, float]]] = {f: {} for f in problem.functions}
        self.current: WorkflowConfig | None = None

    def propose(self) -> Proposal | None:
        done = len([s for s in self.history.sources if s == "profile"])
        if done < len(self.sizes):
            size = self.sizes[done]
            return {f: size for f in self.problem.functions}, "profile"
        if self.current is None:
            self.current = self.balanced()
            return dict(self.current), "search"
        judged = judge_all(self.problem, self.history).get(config_key(self.current))
        if judged is not None and judged.feasible:
            return None
        bigger = self.upsized(self.current)
        if bigger is None:
            return None
        self.current = bigger
        return dict(bigger), "search"

    def observed(self, config: WorkflowConfig, measurement: Measurement, source: str) -> None:
        if source != "profile":
            return
        wf = self.problem.workflow
        calls = wf.invocations_per_request()
        for f in self.problem.functions:
            stages = [s.name for s in wf.stages if s.function == f]
            lat = np.concatenate([np.asarray(measurement.stage_latency_ms[s], dtype=float) for s in stages])
            busy = measurement.busy_s.get(f, 0.0)
            if lat.size and np.isfinite(lat).all() and busy > 0:
                cost = self.problem.pricing.container_cost_usd(config[f], busy / calls[f])
                self.profile[f][config[f]] = (float(lat.mean()), cost)

    def balanced(self) -> WorkflowConfig:
        """Every function at its balanced size (defaults for a function that ran at no profiled size)."""
        out: WorkflowConfig = {}
        defaults = self.problem.workflow.default_configs()
        for f in self.problem.functions:
            runs = self.profile[f]
            if not runs:
                out[f] = self.problem.space.nearest(defaults[f])
                continue
            max_t = max(t for t, _ in runs.values())
            max_c = max(c for _, c in runs.values())
            value = {s: BALANCED_WEIGHT * c / max_c + (1 - BALANCED_WEIGHT) * t / max_t for s, (t, c) in runs.items()}
            out[f] = min(value, key=lambda s: value[s])
        return out

    def upsized(self, config: WorkflowConfig) -> WorkflowConfig | None:
        """``config`` with one function on the critical path one profiled size up (the best duration saved per
        cost added), or None when no function on it can grow."""
        wf = self.problem.workflow
        last = next(m for m in reversed(self.history.items) if config_key(m.config) == config_key(config))
        stage_ms = {s.name: float(np.nanmean(last.stage_latency_ms[s.name])) for s in wf.stages}
        stage_ms = {k: (v if math.isfinite(v) else math.inf) for k, v in stage_ms.items()}
        path, _ = wf.critical_path({k: min(v, 1e12) for k, v in stage_ms.items()})
        best: tuple[float, str, ResourceConfig] | None = None
        for f in dict.fromkeys(wf.stage(s).function for s in path):
            step = self._next_size(f, config[f])
            if step is None:
                continue
            t0, c0 = self.profile[f].get(config[f], (math.inf, 0.0))
            t1, c1 = self.profile[f][step]
            gain = (t0 - t1) / max(c1 - c0, 1e-15) if math.isfinite(t0) else math.inf
            if best is None or gain > best[0]:
                best = (gain, f, step)
        return None if best is None else {**config, best[1]: best[2]}

    def _next_size(self, f: str, size: ResourceConfig) -> ResourceConfig | None:
        larger = sorted((s for s in self.profile[f] if s.memory_mb > size.memory_mb), key=lambda s: s.memory_mb)
        return larger[0] if larger else None
