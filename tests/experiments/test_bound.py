"""The lower bound's verification ladder: the cheapest rung that keeps the level in the run's own replay."""

from __future__ import annotations

from typing import Any

from aquatope.experiments.bound import LADDER, LEVEL, meets, verified_bound


def _fake(violations: dict[float, float]) -> tuple[list[float], Any]:
    """A replay whose window violations fall as the sizing target tightens; cost rises as it does."""
    calls: list[float] = []

    def run_at(factor: float) -> dict[str, Any]:
        calls.append(factor)
        wvr = violations.get(factor, 0.0 if factor < 0.75 else 0.5)
        m = {"window_violation_rate": wvr, "qos_violation_rate": wvr / 4, "failed_requests": 0,
             "cost_usd": {"total": 2.0 - factor}}  # fmt: skip
        return {"metrics": m}

    return calls, run_at


def test_the_first_rung_within_the_level_is_kept_and_the_last_step_halved() -> None:
    calls, run_at = _fake({0.75: 0.0})
    out = verified_bound(run_at)
    assert calls == [1.0, 0.9, 0.8, 0.7, 0.75]
    assert out["lower_bound"]["target_factor"] == 0.75 and out["lower_bound"]["met"]
    assert out["lower_bound"]["level"] == LEVEL
    assert [r["target_factor"] for r in out["lower_bound"]["ladder"]] == calls


def test_a_halved_step_that_misses_keeps_the_rung() -> None:
    _, run_at = _fake({0.75: 0.2})
    out = verified_bound(run_at)
    assert out["lower_bound"]["target_factor"] == 0.7 and out["metrics"]["window_violation_rate"] == 0.0


def test_the_target_itself_when_it_already_meets_the_level() -> None:
    calls, run_at = _fake({1.0: 0.0})
    out = verified_bound(run_at)
    assert calls == [1.0] and out["lower_bound"]["target_factor"] == 1.0


def test_nothing_within_the_level_keeps_the_fewest_violations_and_says_so() -> None:
    calls, run_at = _fake({f: 0.1 + f / 10 for f in LADDER})  # the tightest rung violates least
    out = verified_bound(run_at)
    assert calls == list(LADDER)
    assert out["lower_bound"]["met"] is False and out["lower_bound"]["target_factor"] == LADDER[-1]


def test_a_failed_request_is_not_within_the_level() -> None:
    m = {"window_violation_rate": 0.0, "failed_requests": 1}
    assert not meets({"metrics": m}) and meets({"metrics": {**m, "failed_requests": 0}})


def test_a_target_the_models_cannot_meet_ends_the_ladder() -> None:
    calls, run_at = _fake({1.0: 0.2})

    def unsized_below_one(factor: float) -> dict[str, Any]:
        out = run_at(factor)
        out["sizings"] = [{"source": "exhaustive", "found": factor >= 1.0}]
        return out

    out = verified_bound(unsized_below_one)
    assert calls == [1.0, 0.9, 0.95] and out["lower_bound"]["target_factor"] == 1.0
    assert not out["lower_bound"]["met"]
    assert out["lower_bound"]["ladder"][1:] == [{"target_factor": f, "sized": False} for f in (0.9, 0.95)]


def test_an_unsized_rung_is_halved_back_towards_the_last_sized_one() -> None:
    calls, run_at = _fake({1.0: 0.2, 0.95: 0.0})

    def unsized_below(factor: float) -> dict[str, Any]:
        out = run_at(factor)
        out["sizings"] = [{"source": "exhaustive", "found": factor >= 0.95}]
        return out

    out = verified_bound(unsized_below)
    assert calls == [1.0, 0.9, 0.95]
    assert out["lower_bound"]["target_factor"] == 0.95 and out["lower_bound"]["met"]
