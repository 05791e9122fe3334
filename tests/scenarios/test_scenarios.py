"""Scenarios: the named ones load and say what they turn on; files extend them; bad files are refused by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from aquatope.errors import InputError
from aquatope.scenarios import load_scenario, scenario_names


def test_the_named_scenarios_exist_and_calm_is_the_old_world() -> None:
    assert scenario_names()[:4] == ("calm", "shared", "noisy", "drift")
    calm = load_scenario("calm")
    cfg = calm.sim_config()
    assert not cfg.contention and not cfg.drift and cfg.transfer_ms == 0 and cfg.cold_start_storm == 0
    assert (cfg.invokers, cfg.invoker_cpu) == (96, 64.0)
    assert not calm.tenants.enabled and not calm.production
    assert load_scenario(None) == calm


def test_shared_turns_on_every_source_and_measures_in_production() -> None:
    s = load_scenario("shared")
    assert s.tenants.enabled and s.tenants.functions is None and s.production
    assert s.cluster.invokers is None  # auto: sized from history
    cfg = s.sim_config(invokers=10)
    assert cfg.contention and cfg.interference_memory > 0 and cfg.cold_start_storm > 0  # CPU-bound slope: 0 here
    assert cfg.transfer_ms > 0 and cfg.transfer_mb_per_s > 0 and cfg.cpu_overcommit > 1
    assert not cfg.drift and cfg.neighbour_rate_per_h == 0 and cfg.heavy_tail_prob == 0


def test_noisy_and_drift_extend_shared() -> None:
    shared, noisy, drift = (load_scenario(n) for n in ("shared", "noisy", "drift"))
    assert noisy.cluster == shared.cluster and noisy.interference_cpu == shared.interference_cpu
    assert noisy.neighbour_rate_per_h > 0 and noisy.heavy_tail_prob > 0
    assert drift.neighbour_rate_per_h == 0 and len(drift.steps) == 1
    step = drift.steps[0]
    assert (step.at, step.function) == (0.5, "heaviest") and step.factor > 1


def test_drift_steps_are_placed_in_the_replay_window_and_the_diurnal_peak_on_the_trace_clock() -> None:
    drift = load_scenario("drift")
    cfg = drift.sim_config(invokers=4, replay_start_s=600.0, replay_s=3600.0, step_functions=("f",), trace_start_h=10)
    (slowdown,) = cfg.slowdowns
    assert (slowdown.at_s, slowdown.function, slowdown.factor) == (600.0 + 1800.0, "f", 1.5)
    assert cfg.diurnal_peak_s == pytest.approx((14 - 10) * 3600.0)  # 14:00 is 4 h after sim time 0 (10:00)


def test_a_file_can_extend_a_named_scenario(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nextends: shared\ninterference: {cpu: 0.9}\ntenants: {functions: 20}\n")
    s = load_scenario(str(path))
    assert (s.name, s.interference_cpu, s.tenants.functions) == ("mine", 0.9, 20)
    assert s.interference_memory == load_scenario("shared").interference_memory  # merged, not replaced
    assert s.to_dict()["interference"] == {"cpu": 0.9, "memory": s.interference_memory}
    assert s.cluster.placement == "first-fit"


def test_placement_is_a_cluster_field_that_reaches_the_simulator(tmp_path: Path) -> None:
    path = tmp_path / "spread.yaml"
    path.write_text("name: spread\nextends: shared\ncluster: {placement: spread}\n")
    s = load_scenario(str(path))
    assert s.cluster.placement == "spread" and s.to_dict()["cluster"]["placement"] == "spread"
    assert s.cluster.cpu_overcommit == load_scenario("shared").cluster.cpu_overcommit  # merged, not replaced
    assert s.sim_config(invokers=4).placement == "spread"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("interferense: {cpu: 1}\n", "interferense"),
        ("interference: {cpuu: 1}\n", "interference.cpuu"),
        ("interference: {cpu: -1}\n", "interference.cpu"),
        ("interference: {cpu: .inf}\n", "interference.cpu"),
        ("cluster: {invokers: 0}\n", "cluster.invokers"),
        ("cluster: {invokers: 1e9}\n", "cluster.invokers"),
        ("cluster: {invoker_cpu: 100000}\n", "cluster.invoker_cpu"),
        ("cluster: {placement: random}\n", "cluster.placement"),
        ("transfer: {latency_ms: 1e12}\n", "transfer.latency_ms"),
        ("tenants: {functions: -3}\n", "tenants.functions"),
        ("measurement: {where: moon}\n", "measurement.where"),
        ("drift: {steps: [{at: 2, function: f, factor: 1.5}]}\n", "drift.steps.at"),
        ("drift: {steps: [{at: 0.5}]}\n", "drift.steps"),
        ("noise: {heavy_tail: {prob: 0.9}}\n", "noise.heavy_tail.prob"),
        ("extends: nowhere\n", "--scenario"),
    ],
)
def test_bad_scenario_files_name_the_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_scenario(str(path))
    assert info.value.field == field
    if field != "--scenario":
        assert info.value.source == str(path)


def test_unknown_name_lists_the_named_scenarios() -> None:
    with pytest.raises(InputError, match="calm, shared, noisy, drift"):
        load_scenario("stormy")


def test_malformed_or_huge_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: [\n")
    with pytest.raises(InputError, match="malformed YAML"):
        load_scenario(str(bad))
    huge = tmp_path / "huge.yaml"
    huge.write_text("# x\n" * 100_000)
    with pytest.raises(InputError, match="under 256 KiB"):
        load_scenario(str(huge))
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"extends: {loop.name}\n")
    with pytest.raises(InputError, match="nested more than"):
        load_scenario(str(loop))


def test_to_dict_carries_the_scenario_in_full() -> None:
    d = load_scenario("noisy").to_dict()
    assert set(d) == {
        "name",
        "description",
        "source",
        "cluster",
        "tenants",
        "interference",
        "cold_start_storm",
        "transfer",
        "drift",
        "noise",
        "measurement",
        "arrival_mode",
        "pricing",
    }
    assert d["cluster"]["invokers"] == "auto" and d["tenants"]["functions"] == "all"
    assert d["noise"]["neighbours"]["rate_per_h"] == 1.0
