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
