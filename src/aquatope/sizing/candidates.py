"""Where the BO sizers look: candidate sets for the acquisition, and TuRBO's trust region.

Points live in log coordinates (:class:`aquatope.sizing.coords.LogCoords`). The acquisition
(:mod:`aquatope.sizing.bo`, :mod:`aquatope.sizing.cherrypick`) is maximised over a finite candidate set instead of
by gradients: the space is a grid anyway (every point is rounded to the platform's steps), and a
candidate set lets the acquisition be any function of posterior draws (the DAG's critical path, the pool's expected
containers).

* :func:`global_candidates`: scrambled Sobol points over the whole cube, then, around the best of them, small
  Gaussian moves (a local polish, as gradient steps would do).
* :func:`trust_candidates`: points in a box around a centre (a trust region, TuRBO, Eriksson et al., NeurIPS
  2019): half of them move every dimension, half move one function's dimensions only (structured moves: the cost
  of a workflow adds up over functions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence, Set

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.base import ConfigKey, WorkflowConfig, config_key
from aquatope.sizing.coords import LogCoords
from aquatope.sizing.design import sobol_points

POLISH_TOP, POLISH_SCALE = 8, 0.05
"""Local polish of global candidates: moves of 5% of the range around the 8 best raw points (BoTorch's
``optimize_acqf`` refines its best raw samples with gradient steps instead)."""


class TrustRegion:
    """A trust region in log ratios around the answer, with TuRBO's update rule: double after 3 successes in a
    row, halve after max(4, d) failures in a row (Eriksson et al. 2019).

    ``half_width`` is the largest factor (as a log) by which a candidate may change any resource from the
    centre: it starts at sqrt(2), the step of the starting design's probes (TuRBO's start, 0.8 of a unit cube,
    spans a factor of 30 on a 0.1-8 vCPU axis), and stays within [1.05, 4] (a 5% step is below what a platform's
    resource steps and measurement noise resolve; 4x is beyond the design's whole ladder); below the minimum it
    restarts at sqrt(2)."""

    INIT, MIN, MAX, SUCCESS_TOL = math.log(math.sqrt(2.0)), math.log(1.05), math.log(4.0), 3

    def __init__(self, dims: int) -> None:
        self.half_width = self.INIT
        self.fail_tol = max(4, dims)
        self.successes = self.failures = 0

    def update(self, success: bool) -> None:
        if success:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        if self.successes >= self.SUCCESS_TOL:
            self.half_width, self.successes = min(self.MAX, 2.0 * self.half_width), 0
        elif self.failures >= self.fail_tol:
            self.half_width, self.failures = self.half_width / 2.0, 0
        if self.half_width < self.MIN:
            self.half_width = self.INIT


def trust_candidates(
    center: np.ndarray, half_width: np.ndarray, n: int, per_function: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` points in the box ``center +- half_width`` (per dimension, log coordinates): half move every
    dimension, half move the ``per_function`` dimensions of one function only. Shape (n, d), clipped to the cube."""
    d = center.size
    step = rng.uniform(-1.0, 1.0, size=(n, d)) * half_width
    mask = np.ones((n, d), dtype=bool)
    blocks = max(1, d // per_function)
    one = rng.integers(0, blocks, size=n // 2)
    mask[: n // 2] = False
    for row, b in enumerate(one):
        mask[row, b * per_function : (b + 1) * per_function] = True
    return np.clip(center + np.where(mask, step, 0.0), 0.0, 1.0)


def global_candidates(dims: int, n: int, seed: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` scrambled Sobol points of the cube (the polish happens after scoring, :func:`polish`)."""
    return sobol_points(n, dims, seed)


def polish(points: np.ndarray, scores: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` Gaussian moves (sd ``POLISH_SCALE``) around the ``POLISH_TOP`` best-scoring points, clipped."""
    top = points[np.argsort(scores)[::-1][:POLISH_TOP]]
    per = math.ceil(n / max(1, len(top)))
    moves = np.repeat(top, per, axis=0) + rng.normal(0.0, POLISH_SCALE, size=(len(top) * per, points.shape[1]))
    return np.clip(moves[:n], 0.0, 1.0)


def snap(coords: LogCoords, points: np.ndarray, exclude: Set[ConfigKey] = frozenset()) -> list[WorkflowConfig]:
    """Points (log coordinates) rounded to configurations, deduplicated, without the keys in ``exclude``."""
    seen = set(exclude)
    out = []
    configs, _ = coords.from_many(np.asarray(points))
    for config in configs:
        key = config_key(config)
        if key not in seen:
            seen.add(key)
            out.append(config)
    return out


def trim_memory(
    config: WorkflowConfig, peaks: Mapping[str, float], values: Sequence[int], pin: bool = False
) -> WorkflowConfig:
    """``config`` with each function in ``peaks`` given at most the smallest memory step in ``values`` that holds
    its peak (never more than it had; a peak above every step leaves the function as it was); with ``pin``, exactly
    that step (raised to it too)."""
    out = dict(config)
    for f, peak in peaks.items():
        fits = [v for v in values if v >= peak]
        if f in out and fits and (pin or min(fits) < out[f].memory_mb):
            out[f] = ResourceConfig(cpu=out[f].cpu, memory_mb=int(min(fits)))
    return out
