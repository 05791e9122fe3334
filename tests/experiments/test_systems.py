"""Systems: named ones, POOL+SIZER, references, measurement places and measured outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from sim_cases import chain

from aquatope.errors import InputError
from aquatope.experiments.systems import (
    DEFAULT_SYSTEMS,
    JIT_POOL,
    NAMED,
    Budgets,
    MeasuredResizer,
    MeasurementPlace,
    OracleResizer,
    make_pool_policy,
    measured_outcome,
    parse_systems,
    system_spec,
)
from aquatope.experiments.tuning import make_problem
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.sim import Simulator
from aquatope.sizing.base import Measurement
from aquatope.sizing.loop import SizingResult
from aquatope.workflow import load_workflow


def test_named_systems_pair_a_pool_with_a_sizer() -> None:
    table = {n: (s.pool, s.sizer) for n, s in NAMED.items()}
    assert table["openwhisk"] == ("keepalive:600", "defaults")
    assert table["aquatope"] == ("aquatope", "aquatope-bo")
    assert table["lower-bound"] == (JIT_POOL, "exhaustive")
    assert NAMED["aquatope"].forecaster == "bayes-lstm" and NAMED["openwhisk"].forecaster is None
    assert NAMED["lower-bound"].reference and NAMED["clairvoyant-interval"].reference
    assert not NAMED["aquatope"].reference and NAMED["aquatope"].measured
    assert parse_systems("all") == DEFAULT_SYSTEMS
    assert make_pool_policy(NAMED["clairvoyant-interval"]).needs_future


def test_pool_plus_sizer_combinations() -> None:
    spec = system_spec("reactive:target=0.5+aquatope-bo")
    assert (spec.pool, spec.sizer, spec.forecaster) == ("reactive:target=0.5", "aquatope-bo", None)
    assert system_spec("aquatope:q=0.7+defaults").forecaster == "bayes-lstm"
    assert system_spec("aquatope:keep=auto+aquatope-bo").forecaster == "bayes-lstm"  # the candidate pool
    assert make_pool_policy(system_spec("aquatope:keep=auto+aquatope-bo")).name.endswith(":keep=auto")
    live = system_spec("aquatope+aquatope-bo+live")
    assert (live.pool, live.sizer, live.live) == ("aquatope", "aquatope-bo", True)
    assert not system_spec("aquatope+aquatope-bo").live and not system_spec("aquatope").live
    assert parse_systems("openwhisk, keepalive:60+cherrypick") == ("openwhisk", "keepalive:60+cherrypick")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nope", "unknown system"),
        ("keepalive:60+nope", "unknown sizer"),
        ("keepalive:60+defaults+live", "needs a measured sizer"),
        ("keepalive:60+nope+live", "unknown sizer"),
        ("warmish+defaults", "bad pool policy"),
        ("openwhisk,openwhisk", "duplicate"),
        (",", "no system"),
    ],
)
def test_bad_systems_are_refused(text: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        parse_systems(text)
    assert info.value.field in ("--systems", "--policies")


def test_budgets_are_validated() -> None:
    with pytest.raises(InputError):
        Budgets(tuning_budget=0)
    with pytest.raises(InputError):
        Budgets(start="somewhere")


def test_the_reference_sizes_for_a_tightened_target() -> None:
    problem = make_problem(load_workflow("ml-pipeline"), "decoupled", 10, 0)
    loose = OracleResizer(problem, Budgets(oracle_mc_samples=400, oracle_candidate_samples=50))(0)
    tight = OracleResizer(problem, Budgets(oracle_mc_samples=400, oracle_candidate_samples=50), 0.6)(0)
    assert loose.config is not None and tight.config is not None
    assert sum(c.cpu for c in tight.config.values()) > sum(c.cpu for c in loose.config.values())
    assert "0.6 x the target" in tight.note


def _measurement(config: dict[str, ResourceConfig]) -> Measurement:
    stages = {"a": np.array([100.0, 120.0, np.nan]), "b": np.array([50.0, 70.0, 60.0])}
    return Measurement(config, np.array([200.0, 210.0, 220.0]), stages, 1e-6, 0.95, 1000.0)


def test_measured_outcome_maps_shadow_names_back_and_reports_measured_durations() -> None:
    wf = chain("c", [("a", 100.0), ("b", 50.0)])
    shadow = {f"shadow-{f}": c for f, c in wf.default_configs().items()}
    best = _measurement(shadow)
    out = measured_outcome("x", SizingResult("m", (best,), best), 0.25, wf, {"shadow-a": "a", "shadow-b": "b"})
    assert out.config == wf.default_configs() and out.cost_usd == 0.25 and out.evaluations == 1
    assert out.durations_s == pytest.approx({"a": 0.11, "b": 0.06})
    empty = measured_outcome("x", SizingResult("m", (best,), None), 0.25, wf)
    assert empty.config is None and "nothing feasible" in empty.note


def test_production_place_measures_a_shadow_copy_and_charges_its_containers_once() -> None:
    wf = chain("c", [("a", 100.0)])
    problem = make_problem(wf, "decoupled", 5, 0)
    live = Simulator()
    live.deploy(wf)
    place = MeasurementPlace(problem, live=live)
    platform, shadow_problem, deploy = place.prepare(1)
    assert platform is live and deploy and shadow_problem.workflow.name == "shadow-c"
    live.deploy(shadow_problem.workflow)
    live.set_pool("shadow-a", PoolTarget(min_warm=1, keep_alive_s=600.0))
    live.set_pool("a", PoolTarget(min_warm=1, keep_alive_s=600.0))  # the live workflow's container is not charged
    live.advance(100.0)
    first = place.cost(live)
    per_second = problem.pricing.usd_per_second(wf.functions["a"].resources)
    assert first == pytest.approx(100.0 * per_second)
    live.advance(200.0)
    assert place.cost(live) == pytest.approx(0.0)  # released after the first attempt: nothing more to charge
    assert place.prepare(2)[2] is False  # deployed once
    assert place.rename() == {"shadow-a": "a"}


def test_a_measured_resizer_judges_live_requests_under_the_names_it_measured() -> None:
    """In production the sizer measured a shadow copy: live latencies of the deployed (real-named) configuration
    join its history under the shadow names, as ``live`` evaluations; a configuration it never measured is not
    judged."""
    wf = chain("c", [("a", 100.0), ("b", 50.0)], qos_ms=1000.0)
    problem = make_problem(wf, "decoupled", 4, 0)
    live = Simulator(seed=0)
    live.deploy(wf)
    resizer = MeasuredResizer(problem, "aquatope-design", Budgets(4, 5), MeasurementPlace(problem, live=live), 0)
    assert resizer.observe(wf.default_configs(), np.full(5, 100.0)) is None  # nothing measured yet
    outcome = resizer(0)
    assert outcome.config is not None and resizer.live_batch == 5 and resizer.last is not None
    history = resizer.last[1]
    before = len(history)
    assert resizer.observe({"a": ResourceConfig(4.0, 4096), "b": ResourceConfig(4.0, 4096)}, np.ones(5)) is None
    assert len(history) == before
    fast = resizer.observe(dict(outcome.config), np.full(5, 160.0))  # as fast as measured: the answer stands
    assert fast is None and history.sources[-1] == "live" and set(history.items[-1].config) == {"shadow-a", "shadow-b"}
