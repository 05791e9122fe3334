"""Log-scaled coordinates of the search space, the inputs of every GP sizer.

:meth:`SizingProblem.to_unit` is linear in the index of a value (0.1..8 vCPU in steps of 0.1 puts 0.1..1 vCPU in
the first ninth of the axis), while latency follows ``1 / cpu`` and memory effects are ratios to a working set.
Here each value ``v`` of an axis with values ``v_min..v_max`` maps to ``log(v / v_min) / log(v_max / v_min)`` in
[0, 1] (a single-valued axis maps to 0): equal ratios are equal distances, so a GP's lengthscale means the same
at 0.2 vCPU as at 4, and candidates spread evenly over orders of magnitude.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import SizingProblem, WorkflowConfig


def _axis(values: Sequence[float]) -> tuple[np.ndarray, float, float]:
    arr = np.asarray(values, dtype=float)
    lo, hi = math.log(arr[0]), math.log(arr[-1])
    return arr, lo, max(hi - lo, 1e-12)


class LogCoords:
    """Maps configurations of ``problem`` to log coordinates in [0, 1]^dims and back (rounding to the steps)."""

    def __init__(self, problem: SizingProblem) -> None:
        self.problem = problem
        space = problem.space
        self.coupled = space.kind == "coupled"
        self.cpu = None if self.coupled else _axis(space.cpu_values)
        self.mem = _axis(space.memory_values_mb)
        self.dims = problem.dims
        self.per_function = space.dims

    @staticmethod
    def _to(v: float, axis: tuple[np.ndarray, float, float]) -> float:
        _, lo, span = axis
        return (math.log(v) - lo) / span

    @staticmethod
    def _from(u: float, axis: tuple[np.ndarray, float, float]) -> float:
        values, lo, span = axis
        v = math.exp(lo + float(np.clip(u, 0.0, 1.0)) * span)
        return float(values[int(np.argmin(np.abs(np.log(values) - math.log(v))))])

    def to_x(self, config: Mapping[str, ResourceConfig]) -> np.ndarray:
        out: list[float] = []
        for f in self.problem.functions:
            c = self.problem.space.nearest(config[f])
            if self.cpu is not None:
                out.append(self._to(c.cpu, self.cpu))
            out.append(self._to(c.memory_mb, self.mem))
        return np.array(out)

    def mem_coordinate(self, memory_mb: float) -> float:
        """The memory axis's coordinate of ``memory_mb`` (any positive value, not only the space's steps)."""
        return self._to(memory_mb, self.mem)

    def spans(self) -> np.ndarray:
        """Per dimension, the log range of its axis (a log ratio ``r`` is ``r / span`` in coordinates)."""
        per = [self.mem[2]] if self.cpu is None else [self.cpu[2], self.mem[2]]
        return np.array(per * len(self.problem.functions))

    def many(self, configs: Sequence[Mapping[str, ResourceConfig]]) -> np.ndarray:
        """Coordinates of configurations in the space (rows), vectorised over the configurations."""
        if not configs:
            return np.empty((0, self.dims))
        d, cols = self.per_function, []
        for f in self.problem.functions:
            if self.cpu is not None:
                cols.append((np.log([c[f].cpu for c in configs]) - self.cpu[1]) / self.cpu[2])
            cols.append((np.log([c[f].memory_mb for c in configs]) - self.mem[1]) / self.mem[2])
        assert len(cols) == d * len(self.problem.functions)
        return np.stack(cols, axis=1)

    @staticmethod
    def _nearest(u: np.ndarray, axis: tuple[np.ndarray, float, float]) -> np.ndarray:
        """Indices of the values nearest (in log) to coordinates ``u`` (elementwise)."""
        values, lo, span = axis
        logs = np.log(values)
        target = lo + np.clip(u, 0.0, 1.0) * span
        i = np.clip(np.searchsorted(logs, target), 1, len(values) - 1)
        return np.where(np.abs(logs[i - 1] - target) <= np.abs(logs[i] - target), i - 1, i)

    def from_many(self, points: np.ndarray) -> tuple[list[WorkflowConfig], np.ndarray]:
        """:meth:`from_x` for rows of ``points`` (vectorised rounding), and the rounded points' coordinates."""
        space, d = self.problem.space, self.per_function
        snapped = np.empty_like(points, dtype=float)
        cols: dict[str, list[ResourceConfig]] = {}
        for i, f in enumerate(self.problem.functions):
            mi = self._nearest(points[:, i * d + d - 1], self.mem)
            mem = self.mem[0][mi].astype(int)
            snapped[:, i * d + d - 1] = (np.log(self.mem[0][mi]) - self.mem[1]) / self.mem[2]
            if self.cpu is None:
                cols[f] = [ResourceConfig(space.cpu_for_memory(int(m)), int(m)) for m in mem]
                continue
            ci = self._nearest(points[:, i * d], self.cpu)
            cpu = self.cpu[0][ci]
            snapped[:, i * d] = (np.log(cpu) - self.cpu[1]) / self.cpu[2]
            cols[f] = [ResourceConfig(float(c), int(m)) for c, m in zip(cpu, mem, strict=True)]
        return [{f: cols[f][j] for f in self.problem.functions} for j in range(len(points))], snapped

    def from_x(self, x: np.ndarray) -> WorkflowConfig:
        space, d = self.problem.space, self.per_function
        out: WorkflowConfig = {}
        for i, f in enumerate(self.problem.functions):
            mem = int(self._from(x[i * d + d - 1], self.mem))
            if self.cpu is None:
                out[f] = ResourceConfig(space.cpu_for_memory(mem), mem)
            else:
                out[f] = ResourceConfig(self._from(x[i * d], self.cpu), mem)
        return out
