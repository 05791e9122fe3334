"""Sizers by name, for the CLI and experiments."""

from __future__ import annotations

from aquatope.errors import InputError
from aquatope.sizing.base import Sizer, SizingProblem
from aquatope.sizing.baselines import PowerTuningGrid, RandomSizer

MEASURED_METHODS = ("aquatope-bo", "random", "grid", "cherrypick")
METHODS = (*MEASURED_METHODS, "exhaustive")


def make_sizer(method: str, problem: SizingProblem, seed: int = 0) -> Sizer:
    """An ask/tell sizer by name (``exhaustive`` is not one: it is the oracle, see ``sizing.exhaustive``)."""
    if method == "random":
        return RandomSizer(problem, seed)
    if method == "grid":
        return PowerTuningGrid(problem)
    if method in ("aquatope-bo", "cherrypick"):
        from aquatope.sizing.bo import make_bo_sizer

        return make_bo_sizer(method, problem, seed)
    raise InputError(f"unknown sizing method {method!r}; choose one of {', '.join(METHODS)}", field="--method")
