from __future__ import annotations

import pytest

from aquatope.resources import Pricing, ResourceSpace
from aquatope.sizing import SizingProblem
from aquatope.sizing.exhaustive import _structured, exhaustive_search, expected_cost_usd
from aquatope.workflow import QoS, Workflow, load_workflow


def small_problem(qos_ms: float | None = None) -> SizingProblem:
    wf = load_workflow("trip-booking")
    if qos_ms is not None:
        wf = Workflow(wf.name, QoS(qos_ms, 95), wf.functions, wf.stages, wf.kind)
    space = ResourceSpace.coupled([256, 512, 1024, 1769, 3008])
    return SizingProblem(wf, space, Pricing.aws_lambda())


def test_enumeration_finds_the_cheapest_verified_configuration() -> None:
    problem = small_problem()
    result = exhaustive_search(problem, mc_samples=5000)
    assert result.method == "enumeration" and result.feasible
    assert result.latency_pctl_ms <= problem.qos_ms
    # no cheaper combination is feasible: making any function one size smaller breaks the QoS or costs more
    sizes = problem.space.configs()
    assert result.config is not None
    for f, c in result.config.items():
        i = sizes.index(c)
        if i == 0:
            continue
        cheaper = {**result.config, f: sizes[i - 1]}
        if expected_cost_usd(problem, cheaper) < result.cost_per_request_usd:
            e2e = problem.workflow.sample_end_to_end_ms(cheaper, 5000, __import__("numpy").random.default_rng(1))
            assert __import__("numpy").quantile(e2e, 0.95) > problem.qos_ms * 0.99


def test_structured_search_agrees_with_enumeration_on_a_small_space() -> None:
    problem = small_problem()
    exact = exhaustive_search(problem, mc_samples=5000)
    config, pctl, _ = _structured(problem, 1000, 5000)
    assert config is not None and pctl <= problem.qos_ms
    assert expected_cost_usd(problem, config) <= exact.cost_per_request_usd * 1.05


def test_infeasible_everywhere_is_reported() -> None:
    result = exhaustive_search(small_problem(qos_ms=5.0), mc_samples=2000)
    assert not result.feasible and result.config is None
    assert result.to_dict()["feasible"] is False


def test_large_space_uses_structure_and_is_fast_enough() -> None:
    problem = SizingProblem(load_workflow("ml-pipeline"), ResourceSpace.decoupled())
    result = exhaustive_search(problem, mc_samples=5000, samples=300)
    assert result.method == "pareto+branch-and-bound" and result.feasible
    assert result.latency_pctl_ms <= problem.qos_ms
    default_cost = expected_cost_usd(problem, problem.workflow.default_configs())
    assert result.cost_per_request_usd < default_cost
    assert result.cost_per_request_usd == pytest.approx(expected_cost_usd(problem, result.config or {}, 300))


def test_world_effects_add_transfers_contention_and_tails() -> None:
    from sim_cases import chain

    from aquatope.resources import ResourceConfig
    from aquatope.sizing.exhaustive import WorldEffects, sample_end_to_end_ms

    wf = chain("three", [("a", 100.0), ("b", 50.0), ("c", 20.0)], qos_ms=1000.0, fanout=4)
    p = SizingProblem(wf, ResourceSpace.decoupled())
    config = {f: ResourceConfig(1.0, 1024) for f in "abc"}
    rng = __import__("numpy").random.default_rng(0)
    calm = sample_end_to_end_ms(p, config, 5, rng)
    assert calm.tolist() == pytest.approx([170.0] * 5)  # exact perf models: the sum of the stages
    moved = sample_end_to_end_ms(p, config, 5, rng, WorldEffects(transfer_ms=40.0))
    assert moved.tolist() == pytest.approx([250.0] * 5)  # two edges of 40 ms
    # b's 4 copies compute together at 1 vCPU each on an 8-vCPU invoker: u = 0.5, slowdown 1 + 0.3 * 0.5;
    # a and c alone: u = 1/8 (an invocation's own demand counts, as in the simulator)
    busy = sample_end_to_end_ms(p, config, 5, rng, WorldEffects(slope_cpu=0.3, invoker_cpu=8.0))
    assert busy.tolist() == pytest.approx([(100.0 + 20.0) * (1 + 0.3 / 8) + 50.0 * 1.15] * 5)
    tails = sample_end_to_end_ms(p, config, 4000, rng, WorldEffects(tail_prob=0.05, tail_alpha=1.5))
    assert (tails > 170.0 + 1e-9).mean() == pytest.approx(1 - 0.95**6, abs=0.03)  # 6 invocations per request
