"""Candidate sets of the BO sizers: the trust region's box, its structured moves, and TuRBO's update rule."""

from __future__ import annotations

import math

import numpy as np

from aquatope.resources import ResourceConfig
from aquatope.sizing.candidates import TrustRegion, polish, trim_memory, trust_candidates

D, PER = 16, 2  # eight functions, (cpu, memory) each
CENTER = np.linspace(0.2, 0.8, D)
HALF = np.tile([0.10, 0.05], D // PER)


def _moved_blocks(points: np.ndarray) -> np.ndarray:
    """Per candidate, how many functions it moves (any of their dimensions)."""
    moved = np.abs(points - CENTER) > 1e-12
    return moved.reshape(len(points), D // PER, PER).any(axis=2).sum(axis=1)


def test_trust_candidates_stay_in_the_box_and_half_move_one_function() -> None:
    points = trust_candidates(CENTER, HALF, 600, PER, np.random.default_rng(0))
    assert points.shape == (600, D)
    assert np.all(np.abs(points - CENTER) <= HALF + 1e-12)
    blocks = _moved_blocks(points)
    assert np.all(blocks[:300] == 1)
    assert np.all(blocks[300:] == D // PER)


def test_trust_region_doubles_after_successes_halves_after_failures_and_restarts() -> None:
    region = TrustRegion(dims=4)
    start = region.half_width
    for _ in range(3):
        region.update(True)
    assert math.isclose(region.half_width, 2 * start)
    for _ in range(4):  # fail_tol = max(4, dims)
        region.update(False)
    assert math.isclose(region.half_width, start)
    for _ in range(4 * 2):
        region.update(False)
    assert math.isclose(region.half_width, start / 4)
    for _ in range(4):  # start / 8 is a step of under 5%: below the minimum
        region.update(False)
    assert region.half_width == TrustRegion.INIT  # below the minimum it restarts


def test_polish_moves_around_the_best_scored_points() -> None:
    rng = np.random.default_rng(4)
    points = rng.random((50, 3))
    scores = -np.abs(points - 0.5).sum(axis=1)
    moves = polish(points, scores, 40, rng)
    assert moves.shape == (40, 3) and np.all((moves >= 0) & (moves <= 1))
    top = points[np.argsort(scores)[::-1][:8]]
    nearest = np.min(np.linalg.norm(moves[:, None, :] - top[None], axis=2), axis=1)
    assert np.median(nearest) < 0.2  # sd 0.05 per dimension


def test_trim_memory_cuts_to_the_smallest_step_that_holds_the_peak_and_never_adds() -> None:
    config = {
        "a": ResourceConfig(cpu=1.0, memory_mb=2048),
        "b": ResourceConfig(cpu=0.5, memory_mb=256),
        "c": ResourceConfig(cpu=2.0, memory_mb=1024),
        "d": ResourceConfig(cpu=1.0, memory_mb=512),
    }
    values = [128, 256, 384, 512, 1024, 2048]
    peaks = {"a": 300.0, "b": 700.0, "c": 4096.0}  # b's peak above its memory; c's above every step; d unmeasured
    out = trim_memory(config, peaks, values)
    assert out["a"] == ResourceConfig(cpu=1.0, memory_mb=384)
    assert out["b"] == config["b"] and out["c"] == config["c"] and out["d"] == config["d"]
    assert config["a"].memory_mb == 2048  # the input is not changed
    pinned = trim_memory(config, peaks, values, pin=True)
    assert pinned["a"] == out["a"] and pinned["b"] == ResourceConfig(cpu=0.5, memory_mb=1024)  # raised to hold 700
    assert pinned["c"] == config["c"] and pinned["d"] == config["d"]
