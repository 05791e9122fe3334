"""Aquatope BO and CherryPick: ask/tell, space, answer rule, infeasibility, outliers, stop rule, determinism."""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pytest

from aquatope.resources import ResourceSpace
from aquatope.sim import Simulator
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.bo import VARIANTS, AquatopeBO, latest_best, make_bo_sizer
from aquatope.sizing.cherrypick import CherryPick
from aquatope.sizing.measure import Measurer
from aquatope.workflow import QoS, load_workflow

SMALL = ResourceSpace.decoupled(cpu_range=(0.5, 4.0, 0.5), memory_range_mb=(128, 1024, 128))
COUPLED = ResourceSpace.coupled(memory_sizes_mb=range(512, 4097, 256))  # 4 dims for trip-booking: fast


def problem(qos_ms: float = 250.0, budget: int = 10, space: ResourceSpace = COUPLED) -> SizingProblem:
    wf = load_workflow("trip-booking")
    return SizingProblem(dataclasses.replace(wf, qos=QoS(qos_ms)), space, budget=budget)


def fake(p: SizingProblem, config: WorkflowConfig, factor: float = 1.0, k: int = 20) -> Measurement:
    """Synthetic measurement: each stage takes 100 ms / cpu (5% noise, seeded by the config), cost = busy time."""
    rng = np.random.default_rng(zlib.crc32(repr(config_key(config)).encode()))
    wf = p.workflow
    stages = {s.name: factor * 100.0 / config[s.function].cpu * rng.lognormal(0, 0.05, k) for s in wf.stages}
    busy = {s.function: float(np.mean(stages[s.name])) / 1000.0 / factor for s in wf.stages}
    cost = p.cost_per_request_usd(config, busy)
    return Measurement(dict(config), wf.end_to_end_ms(stages), stages, cost, p.quantile, p.qos_ms)


def drive(sizer: AquatopeBO | CherryPick, p: SizingProblem, n: int) -> list[WorkflowConfig]:
    asked = []
    for _ in range(n):
        out = sizer.suggest()
        if not out:
            break
        assert len(out) == 1
        asked.append(out[0])
        sizer.observe(out[0], fake(p, out[0]))
    return asked


@pytest.mark.parametrize("variant", VARIANTS)
def test_ask_tell_stays_in_space_and_answers_a_measured_feasible_config(variant: str) -> None:
    p = problem(qos_ms=400.0, budget=7, space=SMALL)
    sizer = AquatopeBO(p, variant=variant, n_init=4, seed=1, ei_stop=0.0)
    asked = drive(sizer, p, 20)
    assert len(asked) == 7 and sizer.suggest() == []  # budget spent
    for config in asked:
        assert set(config) == set(p.functions)
        assert all(p.space.contains(c) for c in config.values())
    # never re-proposes a measured config, except to measure a suspected outlier or the final answer again
    assert len({config_key(c) for c in asked}) == len(asked) - sizer.rechecks - sizer.confirmations
    best = sizer.best()
    assert best is not None and best.feasible
    assert any(m is best for m in sizer.history.items)
    assert best.cost_per_request_usd == min(m.cost_per_request_usd for m in sizer.history.items if m.feasible)


def test_infeasible_everywhere_is_reported_not_invented() -> None:
    p = problem(qos_ms=1.0, budget=6)
    for sizer in (AquatopeBO(p, n_init=4, seed=0), CherryPick(p, seed=0, n_init=4)):
        drive(sizer, p, 10)
        assert sizer.best() is None


def _after_design(seed: int = 0) -> tuple[SizingProblem, AquatopeBO]:
    p = problem(qos_ms=400.0, budget=30)
    sizer = AquatopeBO(p, variant="paper", n_init=6, seed=seed, ei_stop=0.0)  # no stop rule
    drive(sizer, p, 8)
    return p, sizer


def test_outlier_is_measured_again_then_dropped_when_still_inconsistent() -> None:
    p, sizer = _after_design()
    config = sizer.suggest()[0]
    sizer.observe(config, fake(p, config, factor=10.0))
    assert sizer.suggest() == [config]  # measured again once
    sizer.observe(config, fake(p, config, factor=0.05))  # inconsistent with the GP and with the suspect
    assert config_key(config) in sizer.dropped and config_key(config) not in sizer.train
    assert sizer.suggest() != [config]


def test_outlier_replaced_by_a_consistent_repetition() -> None:
    p, sizer = _after_design()
    config = sizer.suggest()[0]
    sizer.observe(config, fake(p, config, factor=10.0))
    assert sizer.suggest() == [config]
    good = fake(p, config)
    sizer.observe(config, good)
    assert sizer.train[config_key(config)] is good and not sizer.dropped


def test_best_uses_the_latest_measurement_of_a_repeated_config() -> None:
    p, sizer = _after_design()
    best = sizer.best()
    assert best is not None
    sizer.history.add(fake(p, best.config, factor=10.0))  # the same config, now measured infeasible
    again = latest_best(sizer.history)
    assert again is None or config_key(again.config) != config_key(best.config)


def test_stops_when_expected_improvement_is_negligible() -> None:
    p = problem(qos_ms=500.0, budget=30)
    sizer = AquatopeBO(p, n_init=3, seed=0, ei_stop=1e9)  # every improvement is "negligible"
    asked = drive(sizer, p, 30)
    assert sizer.best() is not None  # the rule waits for a feasible answer
    assert sizer.stopped and sizer.suggest() == []
    # it stops at the first BO step after the first feasible measurement, long before the budget
    first_feasible = next(i for i, m in enumerate(sizer.history.items) if m.feasible)
    assert len(asked) <= max(3, first_feasible + 1) + sizer.rechecks < p.budget


def test_same_seed_same_suggestions() -> None:
    p = problem(budget=7)
    a = drive(AquatopeBO(p, variant="paper", n_init=5, seed=3), p, 7)
    b = drive(AquatopeBO(p, variant="paper", n_init=5, seed=3), p, 7)
    c = drive(CherryPick(p, seed=3, n_init=5), p, 7)
    d = drive(CherryPick(p, seed=3, n_init=5), p, 7)
    assert a == b and c == d


def test_make_bo_sizer_by_name() -> None:
    p = problem()
    assert make_bo_sizer("aquatope-bo", p, 0).name == "aquatope-bo"
    assert isinstance(make_bo_sizer("aquatope-bo:paper", p, 0), AquatopeBO)
    assert make_bo_sizer("cherrypick", p, 0).name == "cherrypick"
    with pytest.raises(ValueError, match="unknown"):
        make_bo_sizer("nope", p, 0)


def test_finds_feasible_trip_booking_on_the_simulator_within_15() -> None:
    p = SizingProblem(load_workflow("trip-booking"), ResourceSpace.decoupled(), budget=15)
    sizer, measurer = AquatopeBO(p, seed=0), Measurer(Simulator(seed=0), p, k=20)
    for _ in range(15):
        config = sizer.suggest()[0]
        sizer.observe(config, measurer.measure(config))
        if sizer.best() is not None:
            break
    best = sizer.best()
    assert best is not None and best.feasible and len(sizer.history) <= 15


def test_sebs_media_in_the_coupled_space() -> None:
    p = SizingProblem(load_workflow("sebs-media"), ResourceSpace.coupled(), budget=7)
    sizer, measurer = AquatopeBO(p, seed=0), Measurer(Simulator(seed=0), p, k=20)
    while config := sizer.suggest():
        assert all(p.space.contains(c) and c.cpu == p.space.cpu_for_memory(c.memory_mb) for c in config[0].values())
        sizer.observe(config[0], measurer.measure(config[0]))
    best = sizer.best()
    assert len(sizer.history) == 7
    assert best is not None and best.feasible


def test_the_answer_is_confirmed_by_a_second_measurement_before_finishing() -> None:
    p = problem(qos_ms=400.0, budget=6, space=SMALL)
    sizer = AquatopeBO(p, variant="warm", n_init=5, seed=0, ei_stop=0.0)
    lucky: WorkflowConfig | None = None
    for _ in range(6):
        (config,) = sizer.suggest()
        m = fake(p, config)
        if len(sizer.history) == 5:  # the last evaluation re-measures the answer so far ...
            assert sizer.confirmations == 1 and lucky is not None and config_key(config) == config_key(lucky)
            m = fake(p, config, factor=3.0)  # ... and this time it misses the QoS badly
        sizer.observe(config, m)
        lucky = sizer.best().config if sizer.best() is not None else None
    assert sizer.suggest() == []
    best = sizer.best()
    # pooled with the failed confirmation the lucky answer is no longer feasible: another measured one replaces it
    assert best is None or config_key(best.config) != config_key(config)
