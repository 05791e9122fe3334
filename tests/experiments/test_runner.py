"""One run end to end on a tiny case: the lower bound is below every system, by a cost computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aquatope.experiments.protocol import Protocol, training_classes
from aquatope.experiments.runner import RunSpec, StudyInputs, load_profile, run_one
from aquatope.experiments.systems import NAMED, Budgets
from aquatope.resources import Pricing, ResourceConfig
from aquatope.traces import InvocationTrace

YAML = """
name: tiny
qos: {latency_ms: 1000, percentile: 95}
functions:
  f:
    resources: {cpu: 1.0, memory_mb: 512}
    perf: {model: parametric, serial_ms: 100, parallel_ms: 0, max_parallelism: 1, io_ms: 0,
           working_set_mb: 128, min_memory_mb: 128, cv: 0.0, cold_start_ms: 1000, cold_start_cv: 0.0}
stages:
  f: {}
"""


def _inputs(tmp_path: Path) -> tuple[StudyInputs, str]:
    path = tmp_path / "tiny.yaml"
    path.write_text(YAML)
    counts = np.zeros((2, 40), dtype=np.int64)
    counts[0, ::3] = 4  # a few requests every third minute: idle gaps a keep-alive pays for
    counts[1] = 1
    trace = InvocationTrace(("f0", "f1"), counts, source="tiny")
    p = Protocol(train_minutes=20, window_minutes=10, warmup_minutes=0, settle_minutes=0, functions_per_workflow=1)
    budgets = Budgets(oracle_mc_samples=200, oracle_candidate_samples=20)
    return StudyInputs(trace, p, budgets, classes=tuple(training_classes(trace, p))), str(path)


def test_the_lower_bound_costs_only_the_busy_time_and_is_below_every_system(tmp_path: Path) -> None:
    inputs, wf = _inputs(tmp_path)
    runs = {
        s: run_one(RunSpec("calm", s, wf, 0, "peak"), inputs)
        for s in ("lower-bound", "openwhisk", "knative", "keepalive:30+defaults", "clairvoyant-interval")
    }
    lb = runs["lower-bound"]
    m = lb["metrics"]
    config = ResourceConfig.from_dict(lb["configs"]["f"])
    # by hand: every request runs 100 ms / min(cpu, 1) on a container that lives exactly that long
    busy_s = 0.1 / min(config.cpu, 1.0)
    prices = Pricing.cloud_run()
    assert m["cost_usd"]["execution"] == pytest.approx(m["requests"] * busy_s * prices.usd_per_second(config))
    assert m["cost_usd"]["idle"] == pytest.approx(0.0, abs=1e-12)
    assert m["cost_usd"]["total"] == pytest.approx(m["cost_usd"]["execution"] + prices.requests_cost_usd(m["requests"]))
    assert m["cold_start_rate"] == 0.0 and m["qos_violation_rate"] == 0.0
    assert lb["lower_bound"]["met"] and lb["lower_bound"]["target_factor"] == 1.0  # far from the target here
    for name, r in runs.items():
        assert r["metrics"]["requests"] == m["requests"], name  # the same arrivals for every system
        if name != "lower-bound":
            assert r["metrics"]["cost_usd"]["total"] > m["cost_usd"]["total"], name


def test_a_run_records_what_decided(tmp_path: Path) -> None:
    inputs, wf = _inputs(tmp_path)
    r = run_one(RunSpec("calm", "openwhisk", wf, 0, "peak"), inputs)
    assert r["sizings"] == [
        {"note": "defaults", "source": "defaults", "evaluations": 0, "cost_usd": 0.0, "found": True}
    ]
    assert r["fallback_ticks"] == 0 and r["forecast_failures"] == [] and r["late_start_s"] == 0.0
    assert r["forecaster_components"] is None and r["forecaster_interval_vetoed"] is None  # no forecaster here
    assert r["workload"]["window"] == "peak" and len(r["series"]["warm"]) == 10
    assert r["world"]["tenants"]["functions"] == 0
    assert r["sizing_load"]["pool"] == "keepalive:600" and r["sizing_load"]["mean_rps"] > 0  # the objective priced


def test_keep_receives_the_runs_own_records_behind_its_figures(tmp_path: Path) -> None:
    """``keep`` (used by bench/pool_churn.py) gets the requests and containers the figures were computed from, and
    only this workflow's: the same request count, the same cold starts, and each request's latency."""
    inputs, wf = _inputs(tmp_path)
    keep: dict[str, object] = {}
    r = run_one(RunSpec("calm", "keepalive:30+defaults", wf, 0, "peak"), inputs, keep=keep)
    requests, containers = keep["requests"], keep["containers"]
    assert isinstance(requests, list) and isinstance(containers, list) and isinstance(keep["t0_s"], float)
    assert len(requests) == r["metrics"]["requests"] > 0
    assert sum(q.cold_starts > 0 for q in requests) == r["metrics"]["cold_starts"] > 0
    assert {q.workflow for q in requests} == {"tiny"} and {c.function for c in containers} == {"f"}
    assert len(containers) == r["metrics"]["containers_started"]
    assert all(q.latency_ms >= 100.0 for q in requests)  # 100 ms of work each, more when cold
    bound: dict[str, object] = {}
    lb = run_one(RunSpec("calm", "lower-bound", wf, 0, "peak"), inputs, keep=bound)  # the verified ladder's path
    assert isinstance(bound["requests"], list) and len(bound["requests"]) == lb["metrics"]["requests"]


def test_a_run_from_a_tasks_shared_state_equals_a_fresh_run(tmp_path: Path) -> None:
    inputs, wf = _inputs(tmp_path)
    cache: dict[str, object] = {}
    shared = [
        run_one(RunSpec("shared", "keepalive:30+random", wf, 0, "peak", k), inputs, sizing_cache=cache)
        for k in (60.0, 30.0)
    ]
    fresh = run_one(RunSpec("shared", "keepalive:30+random", wf, 0, "peak", 30.0), inputs)
    assert any(k.startswith("tuned|") for k in cache) and any(k.startswith("settled|") for k in cache)
    assert shared[1]["metrics"] == fresh["metrics"] and shared[1]["configs"] == fresh["configs"]
    assert shared[0]["sizings"] == shared[1]["sizings"]  # sized once per task


def test_the_lower_bound_meets_the_window_level_in_a_shared_world(tmp_path: Path) -> None:
    """At the target itself the bound violates in the shared world (the tenants slow it); the ladder tightens the
    target until the replay keeps the level, so the bound meets QoS by construction."""
    inputs, _ = _inputs(tmp_path)
    path = tmp_path / "tight.yaml"
    parallel = "serial_ms: 5, parallel_ms: 100, max_parallelism: 8"  # more CPU helps: a tighter target is faster
    text = YAML.replace("serial_ms: 100, parallel_ms: 0, max_parallelism: 1", parallel)
    path.write_text(text.replace("latency_ms: 1000", "latency_ms: 60").replace("cv: 0.0,", "cv: 0.2,"))
    lb = run_one(RunSpec("shared", "lower-bound", str(path), 0, "peak"), inputs)
    ladder = lb["lower_bound"]["ladder"]
    assert lb["lower_bound"]["met"] and lb["metrics"]["window_violation_rate"] <= lb["lower_bound"]["level"]
    assert ladder[0]["target_factor"] == 1.0 and ladder[0]["window_violation_rate"] > lb["lower_bound"]["level"]
    assert lb["lower_bound"]["target_factor"] < 1.0


def test_every_named_system_sizes_for_the_expected_total_cost_of_its_own_pool() -> None:
    """Every system's sizer gets a load model of its own pool (the tuned-keep-alive baselines' ``keepalive:auto``
    and lambda-pc's ``provisioned`` used to fall back to none: those sizers then minimised execution cost alone);
    a workload that saw no request gets none."""

    class _Workload:
        training = np.array([30.0, 90.0])  # requests per minute over the training days

    for system in NAMED.values():
        load = load_profile(_Workload(), system.pool)  # type: ignore[arg-type]
        assert load is not None and load.pool == system.pool and load.mean_rps == pytest.approx(1.0), system.name

    class _Idle:
        training = np.zeros(3)

    assert load_profile(_Idle(), "keepalive:auto") is None  # type: ignore[arg-type]


def test_a_run_with_a_forecaster_records_its_components_and_what_the_interval_decided(tmp_path: Path) -> None:
    """The forecaster's components and its count of functions whose component the 90% interval chose
    (``validation.choose_components``) are in the run record (here 20 training minutes are too few for the network:
    the moving average serves, and nothing was decided by the interval)."""
    from aquatope.experiments.protocol import make_workload
    from aquatope.forecast import BayesLSTMForecaster
    from aquatope.workflow import load_workflow

    inputs, wf = _inputs(tmp_path)
    w = make_workload(inputs.trace, inputs.protocol, load_workflow(wf), 0, "peak", list(inputs.classes))
    model = BayesLSTMForecaster(window=8, n_windows=50, epochs=1, min_steps=0).fit(
        w.function_history()[:, : inputs.protocol.train_minutes]
    )
    r = run_one(RunSpec("calm", "aquatope+defaults", wf, 0, "peak"), inputs, model)
    assert r["forecaster_components"] == {"moving-average": len(model.components_)}
    assert r["forecaster_interval_vetoed"] == 0
