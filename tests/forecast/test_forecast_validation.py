"""Which component serves a function: the network unless an alternative is evidently better (a tick table)."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.forecast.calibration import normal_interval
from aquatope.forecast.validation import choose_components, interval_loss, summarize

STEPS = 40
rng = np.random.default_rng(0)
NOISE = rng.normal(0.0, 1.0, STEPS)


def _row(actual: float, lstm: float, ma: float, phase: float, losses: dict[str, float] | None = None) -> str:
    y = np.full((1, STEPS), actual) + NOISE
    medians = {
        "lstm": np.full((1, STEPS), lstm),
        "moving-average": np.full((1, STEPS), ma),
        "phase": np.full((1, STEPS), phase),
    }
    per_fn = None if losses is None else {k: np.array([v]) for k, v in losses.items()}
    return str(choose_components(y, medians, per_fn)[0])


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


LOSS_CASES = [
    ({"lstm": 5.0, "moving-average": 9.0, "phase": 4.0}, "phase"),  # better median, no worse interval
    ({"lstm": 5.0, "moving-average": 9.0, "phase": 5.0}, "phase"),  # a tie in interval loss is no worse
    ({"lstm": 5.0, "moving-average": 9.0, "phase": 1e9}, "lstm"),  # sharp median, wrong spread: the network
    ({"lstm": 5.0, "moving-average": 4.0, "phase": 1e9}, "moving-average"),  # the next eligible alternative
    ({"lstm": 5.0, "moving-average": 4.0, "phase": np.nan}, "moving-average"),  # phase not offered
]


@pytest.mark.parametrize(("losses", "expected"), LOSS_CASES)
def test_an_alternative_must_also_be_no_worse_at_the_interval(losses: dict[str, float], expected: str) -> None:
    """Phase and moving average both have evidently better medians than the network here (phase the best)."""
    assert _row(10.0, 14.0, 12.0, 10.0) == "phase"
    assert _row(10.0, 14.0, 12.0, 10.0, losses) == expected


def test_interval_loss_is_the_interval_score_times_a_twentieth() -> None:
    """Gneiting & Raftery's interval score of a central 90% interval [l, u] for y: (u - l) + 20 (l - y)+ +
    20 (y - u)+; the loss is the mean of its two ends' pinball losses, that score over 20."""
    y = np.array([[0.0, 3.0, 7.0, 40.0]])
    center, std = np.full((1, 4), np.log1p(6.0)), np.full((1, 4), 0.4)
    lo, hi = (np.expm1(b) for b in normal_interval(center, std, 0.9))
    score = (hi - lo) + 20 * np.maximum(lo - y, 0) + 20 * np.maximum(y - hi, 0)
    np.testing.assert_allclose(interval_loss(y, center, std, np.ones(1), "log"), score.mean(axis=1) / 20)


def test_summary_of_a_subset_counts_only_its_functions() -> None:
    figures = {"mae": np.array([1.0, 3.0, 5.0]), "coverage_90": np.array([0.8, 0.9, 1.0])}
    report = summarize(
        figures, np.array(["lstm", "phase", "lstm"], dtype=object), np.array([0, 1, 1]), np.zeros(3, bool), usable=True
    )
    assert report.components == {"lstm": 2, "phase": 1} and report.mae == pytest.approx(3.0)
    assert report.interval_vetoed == 0  # no such figure given: none
    assert report.by_class["mid"] == {"functions": 2, "mae": 4.0, "coverage_90": 0.95}
    assert report.by_component["lstm"]["mae"] == pytest.approx(3.0)
