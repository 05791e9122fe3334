from __future__ import annotations

import pytest
from sim_cases import chain

from aquatope.errors import InputError
from aquatope.experiments.systems import (
    SYSTEM_NAMES,
    SYSTEMS,
    Budgets,
    DefaultResizer,
    MeasuredResizer,
    make_pool_policy,
    make_resizer,
    parse_systems,
)
from aquatope.experiments.tuning import make_problem
from aquatope.sim import SimConfig


def test_named_systems_combine_prewarm_and_sizing() -> None:
    assert SYSTEM_NAMES == ("openwhisk", "hist-powertune", "cherrypick", "aquatope", "oracle")
    table = {s.name: (s.prewarm, s.sizing, s.forecaster) for s in SYSTEMS.values()}
    assert table["openwhisk"] == ("keepalive:600", "default", None)
    assert table["hist-powertune"] == ("hybrid-histogram", "grid", None)
    assert table["cherrypick"] == ("keepalive:600", "cherrypick", None)
    assert table["aquatope"] == ("aquatope:q=0.9", "aquatope-bo", "bayes-lstm")
    assert table["oracle"] == ("oracle", "exhaustive", None)
    assert make_pool_policy(SYSTEMS["oracle"]).needs_future


def test_parse_systems() -> None:
    assert parse_systems("all") == SYSTEM_NAMES
    assert parse_systems("oracle, openwhisk") == ("oracle", "openwhisk")
    with pytest.raises(InputError, match="unknown system"):
        parse_systems("openwhisk,lambda")
    with pytest.raises(InputError, match="duplicate"):
        parse_systems("oracle,oracle")


def test_resizers_report_evaluations_and_cost() -> None:
    wf = chain("tiny", [("a", 100.0), ("b", 50.0)], qos_ms=1000.0)
    problem = make_problem(wf, "decoupled", 3, 0)
    budgets = Budgets(tuning_budget=3, samples_per_config=3)
    default = make_resizer(SYSTEMS["openwhisk"], problem, budgets, SimConfig(), 0)
    assert isinstance(default, DefaultResizer)
    out = default(0)
    assert out.config == wf.default_configs() and out.evaluations == 0 and out.cost_usd == 0.0
    measured = MeasuredResizer(problem, "random", budgets, SimConfig(), seed=0)
    first = measured(0)
    # a sizer may stop before its budget once its answer is confirmed (sizing.sizer: confirmation)
    assert 1 <= first.evaluations <= 3 and first.cost_usd > 0
    assert first.config is None or set(first.config) == {"a", "b"}


def test_ablations_pair_one_aquatope_half_with_the_oracle_half_and_are_not_in_all() -> None:
    pre, size = SYSTEMS["aquatope-prewarm"], SYSTEMS["aquatope-sizing"]
    assert (pre.prewarm, pre.sizing, pre.forecaster) == ("aquatope:q=0.9", "exhaustive", "bayes-lstm")
    assert (size.prewarm, size.sizing, size.forecaster) == ("oracle", "aquatope-bo", None)
    assert parse_systems("aquatope,aquatope-prewarm,aquatope-sizing") == (
        "aquatope",
        "aquatope-prewarm",
        "aquatope-sizing",
    )
    assert "aquatope-prewarm" not in parse_systems("all")
