"""bayes-lstm: learns a periodic signal, validation report, fallbacks, per-function mode, model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from aquatope.errors import InputError
from aquatope.forecast import BayesLSTMForecaster, LastValueForecaster, backtest, load_model, save_model

SMALL = {"hidden": 16, "width": 32, "window": 24, "n_windows": 1500, "mc_passes": 10, "n_threads": 1}
LEARN = {**SMALL, "n_windows": 3000, "epochs": 10, "lr": 1e-2}


def _periodic(n_intervals: int = 400) -> np.ndarray:
    t = np.arange(n_intervals)
    return np.round(np.stack([20 + 10 * np.sin(2 * np.pi * t / 12), 5 + 4 * np.cos(2 * np.pi * t / 8)]))


def test_learns_a_clean_periodic_signal_better_than_last_value() -> None:
    counts = _periodic()
    model = BayesLSTMForecaster(**LEARN, phase_expert=False)  # the network alone
    lstm = backtest(model, counts, train_end=320)
    last = backtest(LastValueForecaster(), counts, train_end=320)
    assert float(lstm.mae()) < 0.75 * float(last.mae())
    report = model.validation_report
    assert report.usable and report.reason == ""
    assert set(report.coverage) == {0.5, 0.8, 0.9, 0.95}
    assert np.isfinite(report.pinball) and report.std_scale


def test_too_little_history_is_reported_and_falls_back_to_moving_average() -> None:
    counts = _periodic(45)
    model = BayesLSTMForecaster(**SMALL).fit(counts)
    assert not model.validation_report.usable
    assert "too little history" in model.validation_report.reason
    forecast = model.predict(counts, horizon=2)
    np.testing.assert_allclose(forecast.mean[:, 0], counts[:, -24:].mean(axis=1))


def test_per_function_mode_trains_one_network_per_function() -> None:
    counts = _periodic(200)
    model = BayesLSTMForecaster(global_model=False, epochs=1, **SMALL).fit(counts)
    assert len(model.nets_) == 2
    assert model.predict(counts, horizon=3).mean.shape == (2, 3)


def test_save_load_round_trip_gives_identical_predictions(tmp_path: Path) -> None:
    counts = _periodic(200)
    model = BayesLSTMForecaster(epochs=1, **SMALL).fit(counts[:, :150])
    path = save_model(model, tmp_path / "model.pt")
    loaded = load_model(path)
    a, b = model.predict(counts, horizon=2), loaded.predict(counts, horizon=2)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.std, b.std)
    assert loaded.validation_report == model.validation_report
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_corrupt_or_old_model_files_are_input_errors(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a model")
    with pytest.raises(InputError, match=r"corrupt\.pt"):
        load_model(corrupt)
    old = tmp_path / "old.pt"
    torch.save({"header": '{"format_version": 0}', "state": {}}, old)
    with pytest.raises(InputError, match=r"old\.pt.*version 0"):
        load_model(old)
    with pytest.raises(InputError, match="not found"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(InputError, match="not fitted"):
        save_model(BayesLSTMForecaster(), tmp_path / "x.pt")


def _bursts_every_ten(n_intervals: int = 400, seed: int = 0) -> np.ndarray:
    """A timer-driven function (a Poisson(150) burst every 10 intervals, Poisson(2) between) and a steady one."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_intervals)
    burst = np.where(t % 10 == 0, rng.poisson(150, n_intervals), rng.poisson(2, n_intervals))
    return np.stack([burst, rng.poisson(30, n_intervals)]).astype(float)


def test_phase_expert_takes_a_periodic_burst_function_and_sizes_each_phase() -> None:
    counts = _bursts_every_ten()
    model = BayesLSTMForecaster(**SMALL, epochs=2).fit(counts[:, :391])
    assert model.period_.tolist() == [10, 0]
    assert model.validation_report.periodic_functions == 1
    burst = model.predict(counts[:, :390], horizon=1).quantile(0.9)[0, 0]  # interval 390 is a burst
    quiet = model.predict(counts[:, :391], horizon=1).quantile(0.9)[0, 0]
    assert burst > 120 and quiet < 10
    two = model.predict(counts[:, :389], horizon=2)  # multi-step: step 1 lands on the burst
    assert two.mean[0, 0] < 10 < 120 < two.mean[0, 1]


def test_phase_expert_can_be_switched_off() -> None:
    counts = _bursts_every_ten()
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts[:, :391])
    assert model.period_.tolist() == [0, 0] and model.validation_report.periodic_functions == 0


def test_select_serves_a_subset_of_functions_with_identical_predictions() -> None:
    counts = np.concatenate([_periodic(200), _bursts_every_ten(200)], axis=0)
    model = BayesLSTMForecaster(**SMALL, epochs=1).fit(counts[:, :190])
    part = model.select([3, 1])
    whole, sub = model.predict(counts, horizon=2), part.predict(counts[[3, 1]], horizon=2)
    np.testing.assert_allclose(sub.mean, whole.mean[[3, 1]])
    np.testing.assert_allclose(sub.std, whole.std[[3, 1]])
    with pytest.raises(InputError, match="rows"):
        model.select([4])
    with pytest.raises(InputError, match="fit"):
        BayesLSTMForecaster(**SMALL).select([0])
    per_function = BayesLSTMForecaster(**SMALL, epochs=1, global_model=False).fit(counts[:2, :190])
    assert not per_function.selectable
    with pytest.raises(InputError, match="global"):
        per_function.select([0])


def test_active_functions_get_their_own_std_scale() -> None:
    rng = np.random.default_rng(3)
    calm = rng.poisson(40, 400)
    bursty = np.where(rng.random(400) < 0.03, 400, rng.poisson(40, 400))  # same rate class, rare huge bursts
    counts = np.stack([calm, bursty, np.zeros(400)]).astype(float)
    counts[2, ::50] = 1  # rarely active: keeps its class's scale
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts)
    assert model.validation_report.own_scale_functions == 2
    assert model.std_scale_[0] != model.std_scale_[1]
    shared = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False, own_scale_min_active=10_000).fit(counts)
    assert shared.validation_report.own_scale_functions == 0
    assert shared.std_scale_[0] == shared.std_scale_[1]
