"""Forecasters for a replay (``aquatope.experiments.prewarm_eval``): resolving one by name, fitting it with its
failures recorded instead of raised, and what served each function.

A forecaster whose fit fails is replaced by :class:`FailedForecaster`, whose every predict fails, so the replay
counts those ticks as fallback ticks and its components as ``failure``; bad input (an
:class:`~aquatope.errors.InputError`) is still raised.
"""

from __future__ import annotations

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast import Forecast, Forecaster, make_forecaster


def resolve_forecaster(name: str, seed: int) -> Forecaster:
    """The forecaster registered as ``name``; seeded when its constructor takes a seed."""
    try:
        return make_forecaster(name, seed=seed)
    except InputError:
        return make_forecaster(name)


def fit_or_error(model: Forecaster, train: np.ndarray, prefitted: bool) -> str | None:
    """Fit unless prefitted; a model failure (not bad input) is returned as a message instead of raised."""
    if prefitted:
        return None
    try:
        model.fit(train)
    except InputError:
        raise
    except Exception as exc:  # recorded as the "failure" component; the policies then run without forecasts
        return f"{type(exc).__name__}: {exc}"
    return None


def served_components(model: Forecaster, n_functions: int, error: str | None) -> list[str]:
    """What served each function: the model's ``components_`` where it has them, else its name; ``failure`` for
    every function when its fit failed (``error``)."""
    if error is not None:
        return ["failure"] * n_functions
    comps = getattr(model, "components_", None)
    return list(comps) if comps else [str(getattr(model, "name", "forecaster"))] * n_functions


class FailedForecaster:
    """Stands in for a forecaster whose fit failed: every predict fails too (counted as failed ticks)."""

    name = "failed"

    def fit(self, history: np.ndarray, start_interval: int = 0) -> FailedForecaster:
        return self

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        raise RuntimeError("the forecaster's fit failed")


def check_fitted_functions(model: Forecaster, n_functions: int) -> None:
    """A prefitted model (``--model``) must have been fitted on as many functions as the trace has."""
    fitted = getattr(model, "n_functions", None)
    if isinstance(fitted, int) and fitted != n_functions:
        raise InputError(f"the model was fitted on {fitted} functions, the trace has {n_functions}", field="--model")
