"""Aquatope BO: variants by name, no global side effects, the recheck path, the stop rule, and a statistical test
that the model earns its decisions (it ends cheaper than its own starting design and than random proposals made
after the same design)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sizing_cases import three_problem

from aquatope.errors import InputError
from aquatope.sim import Simulator
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import Measurement, Sizer, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.bo import AquatopeBO, Variant
from aquatope.sizing.exhaustive import expected_cost_usd
from aquatope.sizing.loop import run_sizer
from aquatope.sizing.measure import Measurer
from aquatope.sizing.registry import make_sizer

FAST = {"candidates": 256, "draws": 64}


def test_variants_by_name() -> None:
    p = three_problem()
    assert str(Variant.parse("e2e-global-homo")) == "e2e-global-homo"
    assert (
        Variant.parse("dag-trust-het").memory == "pin"
        and str(Variant.parse("dag-trust-het-pin")) == "dag-trust-het"
        and str(Variant.parse("dag-trust-het-trim")) == "dag-trust-het-trim"
        and str(Variant.parse("dag-trust-het-used")) == "dag-trust-het-used"
        and str(Variant.parse("dag-trust-het-blind")) == "dag-trust-het-blind"
    )
    assert Variant.parse("dag-trust-het").trend == "amdahl" and str(Variant.parse("dag-lean-het")) == "dag-lean-het"
    assert str(Variant.parse("dag-trust-het-pin-flat")) == "dag-trust-het-pin-flat"
    assert str(Variant.parse("dag-trust-het-pin-amdahl")) == "dag-trust-het"
    assert str(Variant.parse("dag-trust-het-pin-amdahl-known")) == "dag-trust-het"
    assert str(Variant.parse("dag-trust-het-pin-amdahl-now")) == "dag-trust-het-pin-amdahl-now"
    assert Variant.parse("dag-trust-het").look == "known"
    for bad in ("dag-trust-het-flat", "e2e-trust-het-pin-flat", "dag-trust-het-pin-flat-x", "dag-trust-het-pin-end"):
        with pytest.raises(ValueError, match="unknown variant"):
            Variant.parse(bad)
    sizer = make_sizer("aquatope-bo:e2e-global", p)
    assert isinstance(sizer, AquatopeBO) and str(sizer.variant) == "e2e-global-het"
    with pytest.raises(InputError, match="unknown variant"):
        make_sizer("aquatope-bo:magic", p)


def _drive(sizer: AquatopeBO, measurer: Measurer, n: int, factor: float = 1.0) -> list[Measurement]:
    out = []
    for _ in range(n):
        (config,) = sizer.suggest()
        m = measurer.measure(config)
        if factor != 1.0:
            m = Measurement(m.config, m.latency_ms * factor, {k: v * factor for k, v in m.stage_latency_ms.items()},
                            m.cost_per_request_usd, m.quantile, m.qos_ms, m.busy_s)  # fmt: skip
        sizer.observe(config, m)
        out.append(m)
    return out


def test_pin_and_trim_set_every_candidate_and_the_answer_to_the_measured_peaks() -> None:
    """With memory ``pin`` (the default), candidates (and the answer, passed as an extra) hold each measured
    function's memory at exactly the smallest step over its peak; ``trim`` never gives more than that step and
    keeps smaller draws; ``used`` keeps the candidates as drawn."""
    p = three_problem(budget=12)
    pin = AquatopeBO(p, 0, **FAST)
    measurer = Measurer(Simulator(seed=0), p, k=10)
    _drive(pin, measurer, 3)
    peaks = pin._peaks()
    assert peaks  # the simulator reports each function's peak under its limit
    values = p.space.memory_values_mb
    cap = {f: min(v for v in values if v >= peak) for f, peak in peaks.items()}
    rng = np.random.default_rng(0)
    points = rng.random((64, p.dims))
    largest = pin.coords.from_x(np.ones(p.dims))
    out = pin._candidates(points, set(), [largest])
    assert out and all(c[f].memory_mb == cap[f] for c in out for f in cap)
    assert {f: largest[f].cpu for f in p.functions} in [{f: c[f].cpu for f in p.functions} for c in out]
    trim = AquatopeBO(p, 0, variant="dag-trust-het-trim", **FAST)
    _drive(trim, Measurer(Simulator(seed=0), p, k=10), 3)
    cut = trim._candidates(points, set(), [largest])
    assert all(c[f].memory_mb <= cap[f] for c in cut for f in cap)
    assert any(c[f].memory_mb < cap[f] for c in cut for f in cap)
    plain = AquatopeBO(p, 0, variant="dag-trust-het-used", **FAST)
    drawn = plain._candidates(points, set(), [largest])
    assert any(c[f].memory_mb > cap[f] for c in drawn for f in cap)


def test_no_global_torch_state_changes() -> None:
    p = three_problem(budget=12)
    torch.manual_seed(1234)
    state, threads = torch.random.get_rng_state(), torch.get_num_threads()
    sizer = AquatopeBO(p, 0, **FAST)
    _drive(sizer, Measurer(Simulator(seed=0), p, k=5), 8)  # the design and one model step
    assert "model" in sizer.history.sources
    assert torch.equal(torch.random.get_rng_state(), state) and torch.get_num_threads() == threads


def test_a_slow_outlier_is_rechecked_after_a_clean_evaluation_and_does_not_decide() -> None:
    p = three_problem(budget=16)
    sizer, measurer = AquatopeBO(p, 0, **FAST), Measurer(Simulator(seed=0), p, k=10)
    _drive(sizer, measurer, 7)  # the starting design
    (bad,) = _drive(sizer, measurer, 1, factor=2.5)  # a noisy neighbour spoils the model's first proposal
    key = config_key(bad.config)
    assert sizer.history.sources[-1] == "model" and sizer.suspects == [key]
    _drive(sizer, measurer, 1)  # the next evaluation is clean: the suspect's recheck comes right after it
    (config,) = sizer.suggest()
    assert config_key(config) == key and sizer._pending is not None and sizer._pending[1] == "recheck"
    _drive(sizer, measurer, 1)
    judged = judge_all(p, sizer.history)[key]
    assert judged.dropped == (bad,) and len(judged.kept) == 1  # the disturbed measurement is out of the answer
    assert all(m is not bad for m in sizer._training())


def test_a_second_suspect_triggers_the_recheck_and_an_agreeing_recheck_returns_the_suspects_to_the_model() -> None:
    """Two model proposals in a row come back far slower than predicted (here every later measurement is 2.5x
    slower: the world, not a neighbour, so the surrogate is what is wrong). The first is rechecked at once instead
    of waiting for a clean evaluation that a wrong model never produces; the recheck agrees, so both doubted
    measurements rejoin the training data unchecked and the model learns from them."""
    p = three_problem(budget=16)
    sizer, measurer = AquatopeBO(p, 0, **FAST), Measurer(Simulator(seed=0), p, k=10)
    _drive(sizer, measurer, 7)  # the starting design
    first, second = _drive(sizer, measurer, 2, factor=2.5)
    keys = [config_key(first.config), config_key(second.config)]
    assert sizer.history.sources[-2:] == ["model", "model"] and sizer.suspects == keys
    (config,) = sizer.suggest()
    assert config_key(config) == keys[0] and sizer._pending is not None and sizer._pending[1] == "recheck"
    m = measurer.measure(config)
    sizer.observe(config, Measurement(m.config, m.latency_ms * 2.5, {k: v * 2.5 for k, v in m.stage_latency_ms.items()},
                                      m.cost_per_request_usd, m.quantile, m.qos_ms, m.busy_s))  # fmt: skip
    assert sizer.suspects == []
    training = sizer._training()
    assert any(t is first for t in training) and any(t is second for t in training)


class _Draws:
    """A surrogate stub with fixed posterior draws per configuration (its cpu picks the row of ``table``)."""

    def __init__(self, table: dict[float, tuple[np.ndarray, float]]) -> None:
        self.table = table

    def sample(self, configs, x, draws, rng):  # type: ignore[no-untyped-def]
        from aquatope.sizing.bo_models import Samples

        rows = [self.table[max(c.cpu for c in cfg.values())] for cfg in configs]
        loc = np.stack([np.resize(r[0], draws) for r in rows], axis=1)
        return Samples(loc, np.full((draws, len(configs)), [r[1] for r in rows]))


def test_without_an_answer_a_candidate_nearly_as_sure_to_pass_at_a_third_of_the_cost_is_preferred() -> None:
    """No answer yet. Candidate ``sure`` passes in every posterior draw at 3x the cost of ``likely``, which passes
    in 90% of them; the space's largest configuration costs 10x. The acquisition is the expected saving over the
    largest among draws that pass: 0.9 x log 10 for ``likely`` against log(10 / 3) for ``sure``. Maximizing the
    probability of passing alone (the earlier rule) picks ``sure``. Where nothing cheaper than the largest can pass,
    the likeliest to pass still wins."""
    from aquatope.resources import ResourceConfig
    from aquatope.sizing.answer import NoiseModel

    p = three_problem(budget=12)
    sizer = AquatopeBO(p, 0, **FAST)
    noise = NoiseModel(0.0, 0.1, 100, 0.95, np.zeros(1000), np.zeros(1000))
    ok, slow = np.log(p.qos_ms) - 1.0, np.log(p.qos_ms) + 1.0
    likely = {f: ResourceConfig(1.0, 512) for f in p.functions}
    sure = {f: ResourceConfig(2.0, 512) for f in p.functions}
    top = max(sizer.coords.from_x(np.ones(p.dims))[f].cpu for f in p.functions)
    draws = np.array([ok] * 9 + [slow])
    table = {1.0: (draws, np.log(1.0)), 2.0: (np.array([ok]), np.log(3.0)), top: (np.array([ok]), np.log(10.0))}
    configs = [sure, likely]
    rng = np.random.default_rng(0)
    unseen = (np.zeros(2), np.zeros(2), 10)
    acq = sizer._acquisition(_Draws(table), noise, configs, sizer.coords.many(configs), *unseen, rng)
    assert acq[1] > acq[0] > 0
    np.testing.assert_allclose(acq, [np.log(10.0 / 3.0), 0.9 * np.log(10.0)], rtol=0.05)
    dear = {1.0: (draws, np.log(20.0)), 2.0: (np.array([ok]), np.log(30.0)), top: (np.array([ok]), np.log(10.0))}
    acq = sizer._acquisition(_Draws(dear), noise, configs, sizer.coords.many(configs), *unseen, rng)
    assert acq[0] > acq[1]


def test_the_model_aims_at_what_the_rule_will_judge_not_at_the_true_location() -> None:
    """A configuration whose true location sits exactly at the rule's threshold is judged from the mean of the next
    evaluation's requests, which lands above it half the time: it passes with probability 1/2, not 1 (comparing
    the true location with the threshold, as until 2026-11-27, says 1). Already measured requests pool with the
    new ones: 80 requests at 0.1 under the threshold keep a candidate whose true location is at it likely to pass.
    Zero noise judges the true location."""
    from aquatope.sizing.answer import NoiseModel
    from aquatope.sizing.bo import judged_draws

    noise = NoiseModel(0.0, 0.2, 100, 0.95, np.zeros(1000), np.zeros(1000))
    rng = np.random.default_rng(0)
    loc = np.zeros((20_000, 2))
    judged = judged_draws(loc, noise, np.array([0.0, 80.0]), np.array([0.0, -0.1]), 20, rng)
    p_new, p_seen = (judged <= 0.0).mean(axis=0)
    assert abs(p_new - 0.5) < 0.02
    # pooled: mean 80/100 x -0.1 = -0.08, sd 20/100 x 0.2/sqrt(20) = 0.0089: P(pass) = Phi(9) ~ 1
    assert p_seen > 0.999
    np.testing.assert_allclose(judged[:, 1].mean(), -0.08, atol=1e-3)
    np.testing.assert_allclose(judged[:, 0].std(), 0.2 / np.sqrt(20), rtol=0.03)
    tau = dataclasses.replace(noise, tau=0.1)
    np.testing.assert_allclose(
        judged_draws(loc, tau, np.zeros(2), np.zeros(2), 20, rng).std(), np.sqrt(0.002 + 0.01), rtol=0.03
    )
    exact = dataclasses.replace(noise, sd=0.0)
    assert (judged_draws(loc, exact, np.zeros(2), np.zeros(2), 20, rng) == 0.0).all()


def test_stops_once_the_expected_improvement_is_negligible() -> None:
    p = three_problem(budget=20)
    sizer = AquatopeBO(p, 0, ei_stop=1e9, **FAST)  # every improvement is "negligible"
    result = run_sizer(sizer, Measurer(Simulator(seed=0), p, k=5), p.budget)
    assert result.best is not None and result.evaluations < p.budget
    assert "model" not in result.sources and result.sources[-1] == "confirm"


def _true_cost(p: SizingProblem, config: WorkflowConfig | None) -> float:
    return np.inf if config is None else expected_cost_usd(p, config, 300)


def _run(p: SizingProblem, sizer: Sizer) -> float:
    """The true expected cost of ``sizer``'s answer after a run on the simulator (seeded like the problem)."""
    result = run_sizer(sizer, Measurer(Simulator(seed=p.seed), p, k=10, seed=p.seed), p.budget)
    return _true_cost(p, None if result.best is None else result.best.config)


SIGN_SEEDS, SIGN_WINS = 12, 10
"""A one-sided sign test at the 5% level: if the model did no better than the design or random proposals (each
ending strictly cheaper half the time at most), 10 or more strict wins in 12 come with probability 0.019."""


def test_the_model_ends_cheaper_than_its_design_and_than_random_proposals_after_it() -> None:
    """Twelve fixed seeds; the optimum (about 1 vCPU / 256 MB per function) is not in the design. The model must end
    strictly cheaper than the design alone and than random proposals made after the same design on at least
    SIGN_WINS of them (a tie counts against it), and its median must be under 0.95x theirs. Takes ~25 s on an idle
    machine: the only test that runs the full BO loop, and the one that fails if the model is replaced by random
    proposals (the third sizer is exactly that). Until 2026-11-27 it asked for all of seeds 0-4; since the model
    aims at what the answer rule will judge (:func:`aquatope.sizing.bo.judged_draws`) seed 1 ends on the design's
    answer, a tie (over seeds 0-11: 10 and 10 strict wins, against 11 and 12 before; median 0.899 of the better
    baseline's, 0.888 before). Since the model reads peak memory by default (session 34): 12 and 12, median 0.890;
    since it trims memory to the peaks (session 35): 11 and 11, median 0.871; since it pins memory at the peaks
    (session 36): 12 and 12, median 0.870."""
    bo, design, rand = [], [], []
    for seed in range(SIGN_SEEDS):
        p = three_problem(budget=12, seed=seed)
        bo.append(_run(p, AquatopeBO(p, seed, **FAST)))
        design.append(_run(p, make_sizer("aquatope-design", p, seed)))
        rand.append(_run(p, make_sizer("random", p, seed)))
    assert sum(b < d for b, d in zip(bo, design, strict=True)) >= SIGN_WINS, (bo, design)
    assert sum(b < r for b, r in zip(bo, rand, strict=True)) >= SIGN_WINS, (bo, rand)
    assert np.median(bo) < 0.95 * min(np.median(design), np.median(rand))


class _Timed(Measurer):
    """A Measurer that records each evaluation's platform-time span (ground truth for the test only)."""

    spans: list[tuple[float, float]]

    def steps(self, config):  # type: ignore[no-untyped-def]
        start = self.platform.now_s
        m = yield from super().steps(config)
        self.spans.append((start, self.platform.now_s))
        return m


@pytest.mark.parametrize("seed", [1, 2])
def test_in_the_noisy_scenario_rechecks_run_and_disturbed_measurements_never_decide(seed: int) -> None:
    """The ``noisy`` scenario's staging world on one invoker, its neighbour episodes compressed in time (every 40 s
    on average instead of every hour, lasting 15 s instead of 300) and made strong (1.5x the invoker's CPU, so the
    invoker is over capacity: a bad measurement, not a slightly slow one) so that a 13-evaluation run sees several
    disturbed measurements. At the scenario's own share (0.5, under capacity with a contention slope of 0.3) a
    neighbour slows a measurement by less than its noise, and the recheck rarely fires (0-2 rechecks in 4 seeds
    at these rates): then nothing needs rechecking. The target is 800 ms, not the case's usual 700: with episodes
    over about half of the time the pooled residuals' p95 sits about 0.3 above the centre (2.2 standard deviations)
    and the bootstrapped margin is about 0.14, so at 700 ms nothing in the small space is judged feasible within 14
    evaluations and the last assertion would have no answer to look at. Even at 800 ms some seeds end with no
    answer (measurements inside episodes widen the pooled noise until no configuration is judged feasible): 2 of
    seeds 1-12 with the memory-pin default of session 36 (3 and 10), 4 under session 35's trim (seed 1 among them,
    when this test let seed 1 end without one), 3 under ``used``. Both seeds here must answer. About 3 s per seed on
    an idle machine."""
    from aquatope.experiments.tuning import staging_config

    p = three_problem(budget=14, seed=seed, qos_ms=800.0)
    world = dataclasses.replace(
        staging_config(p, "noisy"),
        invokers=1,
        neighbour_rate_per_h=90.0,
        neighbour_duration_s=15.0,
        neighbour_cpu_share=1.5,
    )
    sim = Simulator(world, seed=seed)
    measurer = _Timed(sim, p, k=10, seed=seed)
    measurer.spans = []
    sizer = AquatopeBO(p, seed, **FAST)
    run_sizer(sizer, measurer, p.budget)
    episodes = sim.neighbours.episodes
    hit = [any(a < end and b > start for _, start, end in episodes) for a, b in measurer.spans]
    assert any(hit) and "recheck" in sizer.history.sources
    index = {id(m): i for i, m in enumerate(sizer.history.items)}
    judged = judge_all(p, sizer.history)
    assert all(hit[index[id(m)]] for j in judged.values() for m in j.dropped)  # only disturbed ones are dropped
    best = sizer.best()
    assert best is not None
    # the answer rests on clean measurements: none of its kept ones spent most of its time inside an episode (the
    # compressed episodes cover about half of the time, so brushing one is common and slows a measurement little)
    share = [
        sum(max(0.0, min(b, end) - max(a, start)) for _, start, end in episodes) / (b - a) for a, b in measurer.spans
    ]
    assert all(share[index[id(m)]] < 0.5 for m in judged[config_key(best.config)].kept)


def test_lean_centres_on_the_cheapest_probe_that_met_the_target_before_any_answer() -> None:
    """Region ``lean`` (a named variant, not the default): with no answer, the trust region's centre is the cheapest
    configuration whose measurements met the target; ``trust`` takes the fastest measured one."""
    p = three_problem(budget=12)
    centres = {}
    for variant in ("dag-trust-het", "dag-lean-het"):
        sizer = AquatopeBO(p, 0, variant=variant, **FAST)
        _drive(sizer, Measurer(Simulator(seed=0), p, k=10), 7)  # the starting design
        sizer.best = lambda: None  # type: ignore[method-assign]  # as if the rule had accepted nothing yet
        judged = judge_all(p, sizer.history)
        centres[variant] = sizer._center(judged)
    met = [j for j in judged.values() if not j.failed and all(m.feasible for m in j.kept)]
    cheapest = min(met, key=lambda j: j.objective_usd)
    fastest = min((j for j in judged.values() if not j.failed), key=lambda j: j.loc)
    assert config_key(cheapest.config) != config_key(fastest.config)
    assert np.allclose(centres["dag-lean-het"], sizer.coords.to_x(cheapest.config))
    assert np.allclose(centres["dag-trust-het"], sizer.coords.to_x(fastest.config))


def test_look_ahead_judges_proposals_with_the_margin_of_a_larger_pool_and_never_changes_the_rule() -> None:
    """Look ``end`` (named variants, not the default): the margin the proposals are judged against is the rule's
    two-level bootstrap over a pool of today's residuals plus the evaluations left; ``known`` a one-level one. Each
    is at most today's margin; the answer (the shared rule's) is the same whatever the look."""
    p = three_problem(budget=12)
    margins, answers = {}, {}
    for look in ("now", "end", "known"):
        sizer = AquatopeBO(p, 0, variant=f"dag-trust-het-pin-amdahl-{look}", **FAST)
        _drive(sizer, Measurer(Simulator(seed=0), p, k=10), 7)
        noise = sizer.noise(judge_all(p, sizer.history))
        assert noise is not None
        margins[look] = float(np.quantile(noise.checks, 0.95))
        answers[look] = sizer.best()
    assert margins["known"] <= margins["end"] <= margins["now"] and margins["known"] < margins["now"]
    assert answers["now"] is not None
    assert all(config_key(a.config) == config_key(answers["now"].config) for a in answers.values() if a is not None)
