"""Expected containers per pool policy and the expected-total-cost objective."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy.stats import poisson
from sizing_cases import three_problem

from aquatope.errors import InputError
from aquatope.prewarm.forecast_pool import warm_containers
from aquatope.resources import ResourceConfig
from aquatope.sizing.base import Measurement
from aquatope.sizing.load import LoadProfile, expected_containers, expected_peak, objective_usd, peak_cdf_power

KNOBS_BY_POOL = ("keepalive:600", "keepalive:auto", "hybrid-histogram", "reactive", "provisioned", "aquatope")


def test_just_in_time_holds_only_busy_containers() -> None:
    assert expected_containers("lower-bound", 2.0, 0.5) == pytest.approx(1.0)
    assert expected_containers("clairvoyant-jit", 0.1, 3.0) == pytest.approx(0.3)


def test_keepalive_at_a_low_rate_is_the_chance_of_a_recent_invocation() -> None:
    rate, d, keep = 1e-4, 0.2, 600.0
    exact = 1.0 - math.exp(-rate * (keep + d))  # one container alive iff an invocation ended within keep-alive
    assert expected_containers(f"keepalive:{keep:g}", rate, d) == pytest.approx(exact, rel=0.02)


def test_peak_of_independent_looks_grows_with_the_window_and_never_below_busy() -> None:
    assert expected_peak(2.0, 1.0) == pytest.approx(2.0, rel=1e-6)  # one look: the Poisson mean
    assert expected_peak(2.0, 100.0) > expected_peak(2.0, 10.0) > 2.0
    for pool in ("keepalive:600", "aquatope:q=0.9", "provisioned:q=0.5", "oracle", "hybrid-histogram", "reactive"):
        held = [expected_containers(pool, r, 0.5) for r in (0.01, 0.1, 1.0, 10.0)]
        assert all(h >= 0.5 * r - 1e-9 for h, r in zip(held, (0.01, 0.1, 1.0, 10.0), strict=True))
        assert held == sorted(held), pool


def test_unknown_pool_and_bad_load_are_refused() -> None:
    with pytest.raises(InputError, match="unknown policy 'magic'") as err:
        LoadProfile(1.0, "magic")
    assert err.value.field == "pool" and "clairvoyant-jit" in err.value.message
    with pytest.raises(InputError, match="mean_rps"):
        LoadProfile(0.0)


def _measure(problem_cpu: float, latency_ms: float) -> tuple[Measurement, object]:
    p = three_problem()
    config = {f: ResourceConfig(problem_cpu, 512) for f in p.functions}
    busy = {f: latency_ms / 3000.0 for f in p.functions}
    lat = np.full(10, latency_ms)
    m = Measurement(config, lat, {s.name: lat / 3 for s in p.workflow.stages}, p.cost_per_request_usd(config, busy),
                    p.quantile, p.qos_ms, busy)  # fmt: skip
    return m, p


def test_at_a_low_rate_the_smaller_configuration_wins_the_expected_total_cost() -> None:
    small, p = _measure(0.5, 900.0)  # half the vCPU, 2.25x slower: dearer per request of busy time ...
    big, _ = _measure(1.0, 400.0)
    assert small.cost_per_request_usd > big.cost_per_request_usd
    low = p.__class__(p.workflow, p.space, p.pricing, p.budget, p.seed, LoadProfile(0.01, "keepalive:600"))
    # ... and at 0.01 requests/s idle keep-alive time dominates: the big one holds as many containers, each dearer
    assert objective_usd(low, small) < 0.6 * objective_usd(low, big)
    assert objective_usd(low, small) > 10 * small.cost_per_request_usd
    assert objective_usd(p, small) == small.cost_per_request_usd  # no load: the measured cost


def test_the_learned_keep_alive_holds_at_least_the_short_one() -> None:
    """``aquatope:keep=auto`` keeps containers above the floor for the hybrid histogram's keep-alive at the rate:
    at one invocation every ~17 minutes the floor is empty and the short keep-alive holds almost nothing, the
    learned one (longer than the gaps) about one container; at high rates the floor decides both."""
    rare, busy = 0.001, 1.0
    assert expected_containers("aquatope", rare, 2.0) < 0.05
    assert expected_containers("aquatope:keep=auto", rare, 2.0) > 0.9
    assert expected_containers("aquatope:q=0.9:keep=auto", busy, 2.0) == expected_containers("aquatope", busy, 2.0)
    either = [expected_containers(s, rare, 2.0) for s in ("aquatope:q=0.5:keep=auto", "aquatope:keep=auto:q=0.5")]
    assert either[0] == either[1] > 0.9  # the options in either order, as the pool's own spec takes them


def test_the_load_model_takes_every_keep_rule_the_pool_spec_takes() -> None:
    """``keep=interval`` (the default, spelled out) is a valid pool spec, so the load model prices it as the bare
    pool instead of refusing it; an unknown rule is refused in one line naming the pool."""
    for rate in (0.001, 1.0):
        assert expected_containers("aquatope:keep=interval", rate, 2.0) == expected_containers("aquatope", rate, 2.0)
        assert expected_containers("aquatope:keep=interval:q=0.5", rate, 2.0) == expected_containers(
            "aquatope:q=0.5", rate, 2.0
        )
    with pytest.raises(InputError, match="keep must be one of"):
        expected_containers("aquatope:keep=never", 1.0, 2.0)


def test_every_pool_a_system_can_run_is_priced_with_its_own_parameters() -> None:
    """The load model reads a spec with the pool's own grammar: every named system's pool and every value of its
    ``--pareto`` knob is priced (``keepalive:auto`` was refused, so the tuned-keep-alive baselines' sizers ran
    with no load model), and a knob moves the price where the policy would move the containers."""
    from aquatope.experiments.systems import NAMED
    from aquatope.prewarm.knobs import knob_for, policy_with_knob

    for system in NAMED.values():
        LoadProfile(1.0, system.pool)
        if system.pool in KNOBS_BY_POOL:
            for value in knob_for(system.pool).values:
                LoadProfile(1.0, policy_with_knob(system.pool, value))
    rare, busy, d = 0.002, 5.0, 1.0
    # the learned keep-alive: the hybrid histogram's rule at the rate, at the policy's own percentile
    assert expected_containers("keepalive:auto", rare, d) == expected_containers("hybrid-histogram", rare, d)
    assert expected_containers("keepalive:auto:p=0.5", rare, d) < expected_containers("keepalive:auto", rare, d)
    assert expected_containers("hybrid-histogram:p=0.5", rare, d) < expected_containers("hybrid-histogram", rare, d)
    # Knative's target utilisation: a lower target holds more containers at a busy rate
    assert expected_containers("reactive:target=0.2", busy, d) > 1.5 * expected_containers("reactive", busy, d)
    # provisioned concurrency's default quantile, and its on-demand containers' 600-s keep-alive
    assert expected_containers("provisioned", busy, d) == expected_containers("provisioned:q=0.99", busy, d)
    assert expected_containers("provisioned:q=0.5", rare, d) == expected_containers("keepalive:600", rare, d)


def test_the_oracle_holds_the_peak_of_its_interval_and_the_next() -> None:
    """``clairvoyant-interval`` is handed the true peak of the tick's interval and the next (a container started at
    a tick is ready only a cold start later), so at a low rate it holds a container whenever an invocation comes
    within two intervals: P = 1 - exp(-rate * (2 * interval + d)); one interval undercounted it by half."""
    rate, d = 1e-4, 0.5
    assert expected_containers("oracle", rate, d) == pytest.approx(1.0 - math.exp(-rate * (120.0 + d)), rel=0.01)
    assert expected_containers("clairvoyant-interval", rate, d, 30.0) == pytest.approx(
        1.0 - math.exp(-rate * (60.0 + d)), rel=0.01
    )


@pytest.mark.parametrize("rate_per_min", [0.5, 5.0])
def test_the_model_counts_the_containers_a_replayed_pool_holds_under_poisson_arrivals(rate_per_min: float) -> None:
    """Where its assumption holds (one function, Poisson arrivals, a constant 1-s execution), the model's count is
    within 20% of the mean containers the simulator's replay of the pool keeps alive (bench/load_model_check.py
    prints the full table); the oracle's one-interval term read 0.61 of it at 0.5 a minute."""
    from aquatope.experiments.prewarm_eval import EvalConfig, evaluate_prewarm, split_trace
    from aquatope.traces import load_trace
    from aquatope.traces.model import DurationStats

    trace = load_trace(f"synthetic:poisson:rate={rate_per_min:g},minutes=1440,seed=0")
    ms = np.full(1, 1000.0)
    trace = dataclasses.replace(
        trace, durations=DurationStats(ms, ms, ms, np.ones(1), (0.0, 100.0), ms[:, None] * [1, 1])
    )
    pools = ("keepalive:600", "keepalive:auto", "clairvoyant-interval")
    replayed = evaluate_prewarm(trace, EvalConfig(policies=pools, train_minutes=960)).policies
    rate = float(split_trace(trace, 960)[1].counts.mean()) / 60.0
    for pool in pools:
        ratio = expected_containers(pool, rate, 1.0) / replayed[pool]["mean_warm_containers"]
        assert 0.8 <= ratio <= 1.2, (pool, ratio)


def test_aquatopes_pool_is_priced_by_the_pools_own_rule_under_a_calibrated_forecast() -> None:
    """The model's floor for ``aquatope`` is what the policy's own rule decides when its forecast's q-quantile is
    Poisson's and the observed concurrency is its expected peak; replayed at 50 a minute and 1 s, the pool held 5.03
    containers, and the earlier term (the count at its mean) priced 4."""
    for rate_per_min, d in ((50.0, 1.0), (50.0, 5.0), (300.0, 5.0), (5.0, 1.0), (0.5, 0.2)):
        rate = rate_per_min / 60.0
        count_q = poisson.ppf(0.9, rate * 60.0)
        n0 = expected_peak(*peak_cdf_power(rate, d, 60.0))
        rule = float(warm_containers(np.array([count_q]), np.array([d]), np.array([n0]), 60.0, 0.9, 0.5)[0])
        assert expected_containers("aquatope:q=0.9", rate, d) >= rule
    assert expected_containers("aquatope:q=0.9", 50.0 / 60.0, 1.0) == pytest.approx(5.0)
    assert expected_containers("aquatope:q=0.9", 50.0 / 60.0, 5.0) == pytest.approx(11.0)
