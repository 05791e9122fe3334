"""Statistics and verdicts on synthetic run records: paired intervals, Pareto fronts, iso-QoS cost, the claims."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from aquatope.experiments.analysis import analyze
from aquatope.experiments.plots import _advantage
from aquatope.experiments.report import trend_lines
from aquatope.experiments.stats import iso_qos_cost, pareto_front, resamples, tabulate


def _record(
    system: str,
    workflow: str,
    seed: int,
    cost: float,
    wviol: float,
    viol: float = 0.0,
    knob: float | None = None,
    scenario: str = "shared",
) -> dict[str, Any]:
    spec = {"scenario": scenario, "system": system, "workflow": workflow, "seed": seed, "window": "peak", "knob": knob}
    metrics = {
        "window_violation_rate": wviol,
        "window_violation_rate_5m": wviol,
        "qos_violation_rate": viol,
        "p95_over_target": 0.9,
        "p99_over_target": 1.0,
        "cold_start_rate": 0.01,
        "cost_usd": {"total": cost, "execution": cost / 4, "idle": cost / 2, "requests": cost / 8, "tuning": cost / 8},
    }
    key = f"{scenario}|{system}{'' if knob is None else f'@{knob:g}'}|{workflow}|{seed}|peak"
    return {"key": key, "spec": spec, "metrics": metrics, "tuning_evaluations": 0, "fallback_ticks": 0}


def _study(aq_cost: float, scenario: str = "shared") -> list[dict[str, Any]]:
    out = []
    for seed in range(4):
        for wf in ("chatbot", "trip-booking"):
            out.append(_record("lower-bound", wf, seed, 1.0, 0.2, scenario=scenario))
            # openwhisk meets QoS at cost 10 per workflow; its knob trades cost for window violations
            out.append(_record("openwhisk", wf, seed, 10.0 + seed, 0.03, 0.01, scenario=scenario))
            for k, (c, w) in {150.0: (6.0, 0.08), 2400.0: (14.0, 0.008)}.items():
                out.append(_record("openwhisk", wf, seed, c, w, 0.02, knob=k, scenario=scenario))
            out.append(_record("aquatope", wf, seed, aq_cost + 0.1 * seed, 0.005, 0.004, scenario=scenario))
            for k, (c, w) in {0.5: (aq_cost * 0.7, 0.02), 0.988: (aq_cost * 1.3, 0.001)}.items():
                out.append(_record("aquatope", wf, seed, c, w, 0.01, knob=k, scenario=scenario))
    return out


def test_paired_bootstrap_indices_are_deterministic_and_shared() -> None:
    a, b = resamples(5, b=50), resamples(5, b=50)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50, 5) and a.min() >= 0 and a.max() <= 4


def test_pareto_front_and_iso_qos() -> None:
    pts = [
        {"knob": 1, "cost_usd": 5.0, "window_violation_rate": 0.1},
        {"knob": 2, "cost_usd": 6.0, "window_violation_rate": 0.2},  # dominated
        {"knob": 3, "cost_usd": 9.0, "window_violation_rate": 0.0},
    ]
    assert [p["knob"] for p in pareto_front(pts)] == [1, 3]
    assert iso_qos_cost([(5.0, 0.1), (9.0, 0.0)], 0.01) == 9.0
    assert np.isnan(iso_qos_cost([(5.0, 0.1)], 0.01))


def test_claims_pass_when_aquatope_is_much_cheaper_at_iso_qos() -> None:
    res = analyze(_study(aq_cost=3.0))["scenarios"]["shared"]
    iso = res["claims"]["iso_qos"]
    # at <= 1%: aquatope's cheapest such point is its default (3 + mean 0.15) x 2 workflows; openwhisk's is 2400 s
    assert iso["1%"]["aquatope_cost_usd"] == pytest.approx(2 * 3.15)
    assert iso["1%"]["best_other"] == "openwhisk" and iso["1%"]["best_other_cost_usd"] == pytest.approx(28.0)
    assert iso["1%"]["ratio"] == pytest.approx(6.3 / 28.0)
    assert iso["1%"]["verdict"] == "PASS"
    eq = res["claims"]["equal_cost"]
    assert eq["baseline"] == "openwhisk" and eq["verdict"] == "PASS"  # 3% vs aquatope's 0.1% at most that cost
    s = res["systems"]["aquatope"]
    assert s["cost_over_lower_bound"] == pytest.approx(np.exp(np.mean(np.log([3.0, 3.1, 3.2, 3.3] * 2))))
    assert set(s["cost_split_usd"]) == {"execution", "idle", "requests", "tuning"}
    lo, hi = s["cost_usd_ci95"]
    assert lo <= s["cost_usd"] <= hi


def test_claims_fail_when_aquatope_is_not_cheaper() -> None:
    res = analyze(_study(aq_cost=40.0))["scenarios"]["shared"]
    assert res["claims"]["iso_qos"]["1%"]["verdict"] == "FAIL"
    assert res["claims"]["equal_cost"]["verdict"] in ("FAIL", "INCONCLUSIVE")


def test_failures_and_qos_misses_are_listed_not_hidden() -> None:
    records = _study(aq_cost=3.0)
    records.append({"key": "shared|knative|chatbot|0|peak", "spec": {"scenario": "shared"}, "error": "RuntimeError: x"})
    records.append(_record("knative", "chatbot", 0, 2.0, 0.5, viol=0.2))
    out = analyze(records)
    assert out["errors"] == ["shared|knative|chatbot|0|peak: RuntimeError: x"]
    assert any("knative chatbot seed 0" in m for m in out["qos_misses"])


def test_what_served_the_forecasts_is_summed_per_system_and_failures_are_named() -> None:
    """Component counts and the interval's decisions are summed over a system's default-knob runs; a run written
    before runs recorded the interval's decisions is counted as such, not as zero; a failing forecaster is named."""
    from aquatope.experiments.report import forecast_lines

    records = _study(aq_cost=3.0)
    for r in records:
        if r["spec"]["system"] == "aquatope":
            seed = r["spec"]["seed"]
            r["forecaster_components"] = {"lstm": 3, "phase": 1}
            r["forecaster_interval_vetoed"] = 1 if seed == 0 else (None if seed == 1 else 0)
            r["fallback_ticks"] = 2 if seed == 2 else 0
            r["forecast_failures"] = ["tick 3: ValueError"] if seed == 3 and r["spec"]["workflow"] == "chatbot" else []
    d = analyze(records)["forecasts"]
    assert set(d) == {"aquatope"}  # no other system reads forecasts, knob runs are left out
    a = d["aquatope"]
    assert a["runs"] == 8 and a["components"] == {"lstm": 24, "phase": 8}
    assert a["interval_vetoed"] == 2 and a["runs_recording_it"] == 6 and a["fallback_ticks"] == 4
    assert a["failed_runs"] == ["chatbot seed 3"]
    text = "\n".join(forecast_lines(d))
    assert "- aquatope, 8 runs: lstm 24, phase 8; the 90% interval decided 2 (of the 6 runs that record it)" in text
    assert "the forecaster failed in chatbot seed 3" in text
    for r in records:
        r.pop("forecaster_interval_vetoed", None)
    older = "\n".join(forecast_lines(analyze(records)["forecasts"]))
    assert "what the 90% interval decided is not recorded in these runs" in older


def test_the_advantage_trend_across_scenarios() -> None:
    records = _study(aq_cost=6.0, scenario="calm") + _study(aq_cost=3.0, scenario="shared")
    trend = analyze(records)["advantage_trend"]
    assert trend["order"] == ["calm", "shared"]
    assert trend["advantage"]["shared"] > trend["advantage"]["calm"] and trend["verdict"] == "PASS"
    assert tabulate(records).pairs == ((0, "peak"), (1, "peak"), (2, "peak"), (3, "peak"))
    assert trend["measure"] == "iso-QoS 1% cost" and set(trend["measures"]) == {
        "iso-QoS 1% cost",
        "iso-QoS 5% cost",
        "violations at equal cost",
    }
    lo, hi = trend["advantage_ci95"]["shared"]
    assert lo <= trend["advantage"]["shared"] <= hi


def test_the_trend_falls_back_to_violations_at_equal_cost_when_no_one_reaches_the_levels() -> None:
    records = []
    for scenario, aq_w in (("calm", 0.06), ("shared", 0.03), ("noisy", 0.04)):
        study = _study(aq_cost=3.0, scenario=scenario)
        for r in study:
            w = r["metrics"]["window_violation_rate"]
            # no baseline within 5% (20-60%), so no iso-QoS ratio; aquatope's points at aq_w and above
            r["metrics"]["window_violation_rate"] = aq_w * (1 + w) if r["spec"]["system"] == "aquatope" else 0.2 + w
        records += study
    trend = analyze(records)["advantage_trend"]
    assert trend["measures"]["iso-QoS 1% cost"]["verdict"] == "INCONCLUSIVE"
    assert trend["measure"] == "violations at equal cost"
    adv = trend["advantage"]
    assert adv["shared"] > adv["calm"] and adv["noisy"] < adv["shared"]
    assert trend["verdict"] == "FAIL"  # grows calm -> shared, falls shared -> noisy
    text = "\n".join(trend_lines(trend))
    assert "Measure: violations at equal cost" in text and "**FAIL**" in text
    assert "- iso-QoS 1% cost: calm: —, shared: —, noisy: — — INCONCLUSIVE" in text
    pytest.importorskip("matplotlib")
    fig = _advantage({"advantage_trend": trend})
    ax = fig.axes[0]
    assert "equal cost" in ax.get_ylabel() and ax.get_lines()[-1].get_ydata()[0] == 5.0  # the claim's 5x line


def test_iso_qos_without_any_system_within_the_level_is_inconclusive_not_a_loss() -> None:
    defaults = [r for r in _study(aq_cost=3.0) if r["spec"]["knob"] is None]
    for r in defaults:
        r["metrics"]["window_violation_rate"] = 0.2  # nobody keeps 1% or 5% at the default knob
    claim = analyze(defaults)["scenarios"]["shared"]["claims"]["iso_qos"]["1%"]
    assert claim["verdict"] == "INCONCLUSIVE" and "--pareto" in claim["note"]
    for r in defaults:
        if r["spec"]["system"] == "openwhisk":
            r["metrics"]["window_violation_rate"] = 0.0  # now a baseline does, aquatope does not
    claim = analyze(defaults)["scenarios"]["shared"]["claims"]["iso_qos"]["1%"]
    assert claim["verdict"] == "FAIL" and "openwhisk does" in claim["note"]


def test_the_lower_bounds_verification_is_summarised_and_unmet_runs_listed() -> None:
    records = _study(aq_cost=3.0)
    lbs = [r for r in records if r["spec"]["system"] == "lower-bound"]
    for i, r in enumerate(lbs):
        r["lower_bound"] = {"target_factor": 0.8, "met": i > 0, "level": 0.01, "ladder": []}
    out = analyze(records)["lower_bound"]
    assert out["runs"] == len(lbs) and out["target_factors"] == [0.8] * len(lbs)
    assert len(out["unmet"]) == 1 and "seed 0" in out["unmet"][0]


def test_claims_per_workflow_when_one_workflow_cannot_reach_the_level() -> None:
    records = _study(aq_cost=3.0)
    for r in records:
        if r["spec"]["workflow"] == "trip-booking":
            r["metrics"]["window_violation_rate"] = 0.3  # nobody reaches 1% or 5% there
    sc = analyze(records)["scenarios"]["shared"]
    assert sc["claims"]["iso_qos"]["1%"]["verdict"] == "INCONCLUSIVE"
    by_wf = sc["claims_by_workflow"]
    assert by_wf["chatbot"]["iso_qos"]["1%"]["verdict"] == "PASS"
    assert by_wf["trip-booking"]["iso_qos"]["1%"]["verdict"] == "INCONCLUSIVE"


def test_cost_over_the_lower_bound_uses_the_verified_bound_not_a_pareto_rung() -> None:
    records = _study(aq_cost=3.0)
    records += [_record("lower-bound", wf, seed, 100.0, 0.5, knob=1.0) for seed in range(4)
                for wf in ("chatbot", "trip-booking")]  # fmt: skip
    s = analyze(records)["scenarios"]["shared"]["systems"]["openwhisk"]
    assert s["cost_over_lower_bound"] > 5.0  # over the bound's cost of 1, not the rung's 100


def test_the_least_violations_each_system_reached_are_reported_with_their_cost() -> None:
    least = analyze(_study(aq_cost=3.0))["scenarios"]["shared"]["least_violations"]
    assert least["aquatope"]["knob"] == 0.988 and least["aquatope"]["window_violation_rate"] == pytest.approx(0.001)
    assert least["openwhisk"]["knob"] == 2400.0 and least["openwhisk"]["cost_usd"] == pytest.approx(28.0)
