"""Starting designs every measured sizer may use, and the ablation that uses nothing else (``aquatope-design``).

``start="design"`` (what a user would try first): the workflow's YAML defaults; once they are measured, every
function's cpu and memory scaled together (three diagonal probes: shrinking if the defaults met the QoS target,
growing if not); then the defaults with one function's cpu and memory halved at a time, a cheap per-function
sensitivity probe around a configuration that is usually feasible.

``start="random"`` (a cold start): ``n`` scrambled Sobol points of the unit cube, ``n = d/2 + 2`` clipped to
[4, 10] for ``d`` search dimensions (the paper's initial design size).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy.stats import qmc

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import ConfigKey, SizingProblem, WorkflowConfig, config_key

Start = Literal["design", "random"]
STARTS: tuple[str, ...] = ("design", "random")

SHRINK_SCALES = (0.7, 0.5, 0.35)
GROW_SCALES = (1.5, 2.0, 3.0)
"""Diagonal probes: every function's cpu and memory scaled together, a line search along the diagonal (cost adds
up over functions, and defaults are usually over- or under-provisioned everywhere at once). The scales are a
geometric ladder of about 1/sqrt(2) steps, what a user halving by hand would try."""


def sobol_points(n: int, dims: int, seed: int) -> np.ndarray:
    """``n`` scrambled Sobol points of the unit cube, shape (n, dims), reproducible from ``seed``."""
    with warnings.catch_warnings():  # "balance properties ... n=2^m": irrelevant for a handful of start points
        warnings.simplefilter("ignore", UserWarning)
        return np.asarray(qmc.Sobol(dims, scramble=True, seed=seed).random(n))


def default_n_init(dims: int) -> int:
    """Sobol points of a cold start: d/2 + 2, between 4 and 10."""
    return min(10, max(4, dims // 2 + 2))


def defaults(problem: SizingProblem) -> WorkflowConfig:
    """The YAML defaults rounded into the space."""
    space = problem.space
    return {f: space.nearest(c) for f, c in problem.workflow.default_configs().items()}


def diagonal_probes(problem: SizingProblem, base: WorkflowConfig, feasible: bool) -> list[WorkflowConfig]:
    """``base`` with every function scaled by each of ``SHRINK_SCALES`` (feasible) or ``GROW_SCALES``."""
    space = problem.space
    scales = SHRINK_SCALES if feasible else GROW_SCALES
    return [
        {f: space.nearest(ResourceConfig(c.cpu * k, max(1, round(c.memory_mb * k)))) for f, c in base.items()}
        for k in scales
    ]


def halving_probes(problem: SizingProblem, base: WorkflowConfig) -> list[WorkflowConfig]:
    """``base`` with one function's cpu and memory halved at a time."""
    space = problem.space
    return [
        {**base, f: space.nearest(ResourceConfig(base[f].cpu / 2, max(1, base[f].memory_mb // 2)))}
        for f in problem.functions
    ]


def random_design(problem: SizingProblem, seed: int, n: int | None = None) -> list[WorkflowConfig]:
    """``n`` (default :func:`default_n_init`) scrambled Sobol points as configurations."""
    count = default_n_init(problem.dims) if n is None else n
    return [problem.from_unit(x) for x in sobol_points(count, problem.dims, seed)]


def unique(configs: list[WorkflowConfig]) -> list[WorkflowConfig]:
    seen: dict[ConfigKey, WorkflowConfig] = {}
    for c in configs:
        seen.setdefault(config_key(c), c)
    return list(seen.values())


class Design:
    """The starting design as a queue: :meth:`next` pops the next unmeasured point; :meth:`after_first` inserts
    the diagonal probes once the defaults are measured (``start="design"``)."""

    def __init__(self, problem: SizingProblem, start: str, seed: int) -> None:
        if start not in STARTS:
            raise ValueError(f"unknown start {start!r}; choose one of {STARTS}")
        self.problem = problem
        self.start = start
        if start == "design":
            base = defaults(problem)
            self.queue = unique([base, *halving_probes(problem, base)])
        else:
            self.queue = unique(random_design(problem, seed))
        self.size = len(self.queue)
        self._probed = start != "design"

    @property
    def source(self) -> str:
        return "design" if self.start == "design" else "random"

    def after_first(self, config: WorkflowConfig, feasible: bool) -> None:
        """Put the diagonal probes first in the queue (once, after the defaults were measured and popped)."""
        if self._probed:
            return
        self._probed = True
        probes = diagonal_probes(self.problem, config, feasible)
        self.queue[0:0] = probes
        self.queue = unique(self.queue)
        self.size = len(self.queue)

    def next(self, measured: set[ConfigKey]) -> WorkflowConfig | None:
        """The next design point not measured yet (popped), or None when the design is spent."""
        while self.queue:
            config = self.queue[0]
            if config_key(config) not in measured:
                return config
            self.queue.pop(0)
        return None

    def pop(self, config: WorkflowConfig) -> None:
        """Remove ``config`` from the queue once it has been measured."""
        key = config_key(config)
        self.queue = [c for c in self.queue if config_key(c) != key]

    @property
    def spent(self) -> bool:
        return not self.queue
