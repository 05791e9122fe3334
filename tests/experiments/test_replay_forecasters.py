"""Fitting a replay's forecaster: failures recorded, bad input raised, what served each function."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.experiments.replay_forecasters import (
    FailedForecaster,
    check_fitted_functions,
    fit_or_error,
    resolve_forecaster,
    served_components,
)


class _Raises:
    name = "raises"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def fit(self, history: np.ndarray, start_interval: int = 0) -> _Raises:
        raise self.exc


def test_a_failed_fit_is_returned_as_a_message_and_bad_input_is_raised() -> None:
    counts = np.ones((2, 50))
    assert fit_or_error(_Raises(MemoryError("out of memory")), counts, False) == "MemoryError: out of memory"  # type: ignore[arg-type]
    with pytest.raises(InputError):
        fit_or_error(_Raises(InputError("bad trace")), counts, False)  # type: ignore[arg-type]
    assert fit_or_error(_Raises(MemoryError()), counts, True) is None  # type: ignore[arg-type]


def test_components_name_the_failure_the_model_or_its_components() -> None:
    ma = resolve_forecaster("moving-average", seed=3)
    assert served_components(ma, 2, None) == ["moving-average", "moving-average"]
    assert served_components(ma, 2, "MemoryError: x") == ["failure", "failure"]
    with pytest.raises(RuntimeError, match="fit failed"):
        FailedForecaster().fit(np.ones((1, 5))).predict(np.ones((1, 5)))


class _Fitted:
    name = "fitted"
    n_functions = 3


def test_a_prefitted_model_must_match_the_trace() -> None:
    check_fitted_functions(_Fitted(), 3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="fitted on 3 functions, the trace has 4"):
        check_fitted_functions(_Fitted(), 4)  # type: ignore[arg-type]
    check_fitted_functions(resolve_forecaster("moving-average", seed=0), 4)  # no fitted size to compare: accepted
