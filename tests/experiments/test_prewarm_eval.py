"""The pre-warming harness end to end on a tiny trace, and ``aquatope prewarm evaluate --json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from aquatope.cli import app
from aquatope.errors import InputError
from aquatope.experiments.prewarm_eval import EvalConfig, default_train_minutes, evaluate_prewarm, split_trace
from aquatope.forecast.base import Forecast
from aquatope.traces import InvocationTrace


class LastValue:
    """Tiny forecaster: next count = last count, std = 1 + sqrt(last)."""

    name = "tiny-last"

    def fit(self, history: np.ndarray, start_interval: int = 0) -> LastValue:
        return self

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        last = np.repeat(history[:, -1:], horizon, axis=1)
        return Forecast(last, 1.0 + np.sqrt(last))


class Broken(LastValue):
    name = "broken"

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        raise RuntimeError("model diverged")


def tiny_trace(minutes: int = 150) -> InvocationTrace:
    rng = np.random.default_rng(1)
    m = np.arange(minutes)
    counts = np.stack(
        [
            rng.poisson(20, minutes),  # steady
            np.where((m // 15) % 2 == 0, rng.poisson(30, minutes), 0),  # on/off bursts
            np.where(m % 7 == 0, 1, 0),  # timer every 7 minutes
        ]
    )
    return InvocationTrace(("steady", "bursty", "timer"), counts, source="tiny")


POLICIES = ("keepalive:0", "keepalive:600", "hybrid-histogram", "aquatope:q=0.9", "clairvoyant-interval")


@pytest.fixture(scope="module")
def result() -> dict:
    config = EvalConfig(policies=POLICIES, train_minutes=30, sweep_q=(0.5, 0.9))
    return evaluate_prewarm(tiny_trace(), config, forecaster=LastValue()).to_dict()


def test_every_policy_replays_the_same_invocations(result: dict) -> None:
    assert list(result["policies"]) == list(POLICIES)
    invocations = {m["invocations"] for m in result["policies"].values()}
    assert invocations == {int(tiny_trace().counts[:, 30:].sum())}
    for m in result["policies"].values():
        assert {"cold_start_rate", "idle_gb_s", "cost_usd", "p99_latency_ms", "invocations"} <= set(m)
        assert m["fallback_ticks"] == 0


def test_oracle_bounds_and_keepalive_orders(result: dict) -> None:
    p = result["policies"]
    assert p["clairvoyant-interval"]["cold_start_rate"] <= 0.005
    assert p["keepalive:600"]["cold_starts"] < p["keepalive:0"]["cold_starts"]
    assert p["aquatope:q=0.9"]["cold_starts"] < p["keepalive:0"]["cold_starts"]
    assert p["keepalive:0"]["idle_gb_s"] < p["keepalive:600"]["idle_gb_s"]


def test_forecaster_accuracy_and_sweep(result: dict) -> None:
    acc = result["forecasters"]["tiny-last"]
    assert acc["mae"] > 0 and 0 <= acc["coverage_90"] <= 1 and acc["failed_ticks"] == 0
    assert [s["q"] for s in result["sweep"]] == [0.5, 0.9]
    assert result["sweep"][1]["cold_starts"] == result["policies"]["aquatope:q=0.9"]["cold_starts"]
    assert result["setup"]["train_minutes"] == 30 and result["setup"]["test_minutes"] == 120


def test_broken_forecaster_falls_back_and_is_recorded() -> None:
    config = EvalConfig(policies=("aquatope:q=0.9", "keepalive:600"), train_minutes=100)
    out = evaluate_prewarm(tiny_trace(), config, forecaster=Broken())
    assert out.policies["aquatope:q=0.9"]["fallback_ticks"] == 50
    # the fallback is keepalive:600, so the replay matches it exactly
    assert out.policies["aquatope:q=0.9"]["cold_starts"] == out.policies["keepalive:600"]["cold_starts"]
    assert out.forecasters["broken"]["failed_ticks"] == 50


def test_split_refuses_bad_train_minutes() -> None:
    assert default_train_minutes(1440) == 960 and default_train_minutes(3 * 1440 + 5) == 2 * 1440
    train, test = split_trace(tiny_trace(), None)
    assert (train.n_minutes, test.n_minutes) == (100, 50)
    for bad in (0, 150, 400):
        with pytest.raises(InputError):
            split_trace(tiny_trace(), bad)


def test_cli_json_keys(tmp_path: Path) -> None:
    out = tmp_path / "prewarm.json"
    trace = "synthetic:poisson:rate=3,minutes=90,functions=2"
    args = [
        "prewarm",
        "evaluate",
        "--trace",
        trace,
        "--train-minutes",
        "60",
        "--forecaster",
        "ewma",
        "--json",
        str(out),
    ]
    res = CliRunner().invoke(app, [*args, "--policies", "keepalive:600,aquatope:q=0.9,oracle"])
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert set(data["policies"]) == {"keepalive:600", "aquatope:q=0.9", "clairvoyant-interval"}  # oracle is its alias
    for m in data["policies"].values():
        assert {"cold_start_rate", "idle_gb_s", "cost_usd", "p99_latency_ms", "invocations"} <= set(m)
    assert set(data["forecasters"]["ewma"]) >= {"mae", "coverage_90"}


def test_cli_plot_and_bad_input(tmp_path: Path) -> None:
    trace = "synthetic:poisson:rate=3,minutes=90,functions=2"
    png = tmp_path / "plot.png"
    base = ["prewarm", "evaluate", "--trace", trace, "--train-minutes", "60", "--forecaster", "ewma"]
    res = CliRunner().invoke(app, [*base, "--policies", "keepalive:600", "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:4] == b"\x89PNG"
    for bad in (["--policies", "lru"], ["--functions", "zero"], ["--train-minutes", "90"], ["--forecaster", "nope"]):
        res = CliRunner().invoke(app, [*base, *bad])
        assert res.exit_code == 2, (bad, res.output)
