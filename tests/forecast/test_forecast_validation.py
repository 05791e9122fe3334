"""Which component serves a function: the network unless an alternative is evidently better (a tick table)."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.forecast.validation import choose_components, summarize

STEPS = 40
rng = np.random.default_rng(0)
NOISE = rng.normal(0.0, 1.0, STEPS)


def _row(actual: float, lstm: float, ma: float, phase: float) -> str:
    y = np.full((1, STEPS), actual) + NOISE
    medians = {
        "lstm": np.full((1, STEPS), lstm),
        "moving-average": np.full((1, STEPS), ma),
        "phase": np.full((1, STEPS), phase),
    }
    return str(choose_components(y, medians)[0])


CASES = [
    (10.0, 10.0, 10.0, np.nan, "lstm"),  # a tie stays with the network
    (0.0, 0.004, 0.0, np.nan, "lstm"),  # a silent function: differences under 0.01 per interval are ties
    (10.0, 10.2, 10.0, np.nan, "lstm"),  # a small gap within noise
    (10.0, 14.0, 10.0, np.nan, "moving-average"),  # evidently better
    (10.0, 14.0, 12.0, 10.0, "phase"),  # the best of the evidently better alternatives
    (10.0, 10.0, 30.0, 20.0, "lstm"),
]


@pytest.mark.parametrize(("actual", "lstm", "ma", "phase", "expected"), CASES)
def test_component_table(actual: float, lstm: float, ma: float, phase: float, expected: str) -> None:
    assert _row(actual, lstm, ma, phase) == expected


def test_summary_of_a_subset_counts_only_its_functions() -> None:
    figures = {"mae": np.array([1.0, 3.0, 5.0]), "coverage_90": np.array([0.8, 0.9, 1.0])}
    report = summarize(
        figures, np.array(["lstm", "phase", "lstm"], dtype=object), np.array([0, 1, 1]), np.zeros(3, bool), usable=True
    )
    assert report.components == {"lstm": 2, "phase": 1} and report.mae == pytest.approx(3.0)
    assert report.by_class["mid"] == {"functions": 2, "mae": 4.0, "coverage_90": 0.95}
    assert report.by_component["lstm"]["mae"] == pytest.approx(3.0)
