"""bayes-lstm: learns a periodic signal, components, per-subset reports, fallbacks, torch hygiene."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.forecast import BayesLSTMForecaster, LastValueForecaster, backtest

# min_steps=0: tests that do not measure learning train for their few epochs only
SMALL = {"hidden": 16, "width": 32, "window": 24, "n_windows": 1500, "mc_passes": 10, "min_steps": 0}
LEARN = {**SMALL, "n_windows": 2000, "batch_size": 64, "epochs": 1, "min_steps": 400}


def _periodic(n_intervals: int = 400) -> np.ndarray:
    t = np.arange(n_intervals)
    return np.round(np.stack([20 + 10 * np.sin(2 * np.pi * t / 12), 5 + 4 * np.cos(2 * np.pi * t / 8)]))


@pytest.mark.parametrize("space", ["linear", "log"])
def test_learns_a_clean_periodic_signal_better_than_last_value(space: str) -> None:
    """The network alone (no phase expert) must at least halve last-value's error on two clean periodic signals.
    (With the 120 Adam steps that 10 passes over 2,000 windows gave before ``min_steps``, it did not: MAE 2.01 vs
    last-value's 2.66.)"""
    counts = _periodic()
    model = BayesLSTMForecaster(**LEARN, space=space, phase_expert=False)
    lstm = backtest(model, counts, train_end=320)
    last = backtest(LastValueForecaster(), counts, train_end=320)
    assert float(lstm.mae()) < 0.5 * float(last.mae())
    assert model.components_ == ("lstm", "lstm")
    report = model.validation_report
    assert report.usable and report.reason == ""
    assert set(report.coverage) == {0.5, 0.8, 0.9, 0.95}
    assert np.isfinite(report.pinball) and report.std_scale


def test_too_little_history_is_reported_and_falls_back_to_moving_average() -> None:
    counts = _periodic(45)
    model = BayesLSTMForecaster(**SMALL).fit(counts)
    assert not model.validation_report.usable
    assert "too little history" in model.validation_report.reason
    assert model.components_ == ("moving-average", "moving-average")
    forecast = model.predict(counts, horizon=2)
    np.testing.assert_allclose(forecast.median()[:, 0], counts[:, -24:].mean(axis=1))


def test_moving_average_spread_widens_when_its_window_holds_a_change() -> None:
    """A timer at exactly 140 a minute has moving-average residuals of 0, so its noise is 0. After a 5-minute step
    to 150 the window's mean is 141.04: with the residual noise alone the interval is [141.04, 141.04] and misses
    every 140 until the step leaves the window (48 misses in the sample trace's function 136). The window's spread
    must keep 140 inside the 90% interval, and a window without a change must stay a point at 140."""
    flat = np.full((1, 45), 140.0)
    model = BayesLSTMForecaster(**SMALL).fit(flat)  # too little history: the moving average serves
    assert model.components_ == ("moving-average",)
    steady = model.predict(flat)
    lo, hi = (b[0, 0] for b in steady.interval(0.9))
    assert lo == pytest.approx(140.0) and hi == pytest.approx(140.0)
    stepped = flat.copy()
    stepped[0, -12:-7] = 150.0  # the step is in the last 24 minutes (SMALL's window), then back to 140
    lo, hi = (b[0, 0] for b in model.predict(stepped).interval(0.9))
    assert lo < 140.0 < hi and hi < 150.0


def test_calibration_failure_falls_back_to_the_moving_average(monkeypatch: pytest.MonkeyPatch) -> None:
    """When calibration cannot bring the 90% interval near 90% (here: a calibration that can only shrink the
    intervals), the model is not usable, says why, and every function is served by the moving average with its
    residual noise, as the module docstring promises."""
    import aquatope.forecast.calibration as calibration

    monkeypatch.setattr(calibration, "bisect_rows", lambda cover, n, *args, **kw: np.full(n, 0.05))
    counts = np.random.default_rng(0).poisson(20.0, (2, 300)).astype(float)
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts)
    report = model.validation_report
    assert not report.usable and report.reason.startswith("90% pit coverage")
    assert model.components_ == ("moving-average", "moving-average") and model.nets_ == []
    assert report.components == {"moving-average": 2} and report.pit_coverage_90 > 0.8  # the fallback's own figure
    np.testing.assert_allclose(model.predict(counts).median()[:, 0], counts[:, -24:].mean(axis=1))


def test_a_class_factor_at_the_bisections_bound_is_a_calibration_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A factor that ran to the bisection's upper bound covers (its intervals are 20 times too wide) but calibrates
    nothing: the model is not usable, says which class, and the moving average serves every function."""
    import aquatope.forecast.calibration as calibration

    monkeypatch.setattr(
        calibration, "bisect_rows", lambda cover, n, *args, **kw: np.full(n, calibration.FACTOR_BOUNDS[1])
    )
    counts = np.random.default_rng(0).poisson(20.0, (2, 300)).astype(float)
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts)
    report = model.validation_report
    assert not report.usable and report.reason == "the mid class's calibration reached its bound 20"
    assert model.components_ == ("moving-average", "moving-average") and model.nets_ == []


def test_per_function_mode_trains_one_network_per_function() -> None:
    counts = _periodic(200)
    model = BayesLSTMForecaster(global_model=False, epochs=1, **SMALL).fit(counts)
    assert len(model.nets_) == 2
    assert model.predict(counts, horizon=3).mean.shape == (2, 3)


def _bursts_every_ten(n_intervals: int = 400, seed: int = 0) -> np.ndarray:
    """A timer-driven function (a Poisson(150) burst every 10 intervals, Poisson(2) between) and a steady one."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_intervals)
    burst = np.where(t % 10 == 0, rng.poisson(150, n_intervals), rng.poisson(2, n_intervals))
    return np.stack([burst, rng.poisson(30, n_intervals)]).astype(float)


def test_phase_expert_takes_a_periodic_burst_function_and_sizes_each_phase() -> None:
    counts = _bursts_every_ten()
    model = BayesLSTMForecaster(**SMALL, epochs=2).fit(counts[:, :391])
    assert model.components_[0] == "phase" and model.state_ is not None
    assert model.state_.period.tolist() == [10, 0]
    assert model.validation_report.components.get("phase") == 1
    burst = model.predict(counts[:, :390], horizon=1).quantile(0.9)[0, 0]  # interval 390 is a burst
    quiet = model.predict(counts[:, :391], horizon=1).quantile(0.9)[0, 0]
    assert burst > 120 and quiet < 10
    two = model.predict(counts[:, :389], horizon=2)  # multi-step: step 1 lands on the burst
    assert two.median()[0, 0] < 10 < 120 < two.median()[0, 1]


def test_a_timer_whose_phases_agree_keeps_a_calibration_inside_its_bounds_and_sane_quantiles() -> None:
    """A timer function: exactly 14 invocations every other interval (15 now and then), almost nothing between, so
    the six same-phase values of the validation agree and their spread is 0. Without the phase expert's Poisson
    floor (``periodic.phase_forecast``) the calibration could not widen those zero-width intervals, ran to its
    bound (20x), and a history whose phases then disagree got a 0.9-quantile of 5e6 invocations (trip-booking in
    ``aquatope evaluate`` fell back on 24 of 60 ticks for this). With it the factor stays inside the bounds and the
    quantile stays of the order of the counts seen."""
    from aquatope.forecast.calibration import FACTOR_BOUNDS

    rng = np.random.default_rng(0)
    t = np.arange(400)
    on, off = 14 + (rng.random(400) < 0.05), (rng.random(400) < 0.03).astype(float)
    counts = np.where(t % 2 == 0, on, off)[None, :].astype(float)
    model = BayesLSTMForecaster(**SMALL, epochs=1).fit(counts)
    assert model.components_ == ("phase",) and model.state_ is not None
    assert FACTOR_BOUNDS[0] < model.state_.std_scale[0] < FACTOR_BOUNDS[1]
    live = counts.copy()
    live[0, -12:] = [4, 0, 3, 0, 8, 0, 10, 0, 2, 0, 6, 0]  # the replay: the same phases, counts that disagree
    assert model.predict(live).quantile(0.9)[0, 0] < 50


def _timer_with_bursts_in_validation(n_intervals: int = 400) -> np.ndarray:
    """A timer (14 invocations every other interval, almost none between) whose last fifth, the validation split,
    also carries Poisson(300) bursts in a tenth of its intervals: a periodic function summed with a bursty one,
    as a workflow's request series can be (trip-booking on the held-out trace, seed 1)."""
    rng = np.random.default_rng(0)
    t = np.arange(n_intervals)
    counts = np.where(t % 2 == 0, 14 + (rng.random(n_intervals) < 0.05), (rng.random(n_intervals) < 0.03) * 1.0)
    burst = (t >= 320) & (rng.random(n_intervals) < 0.1)
    return (counts + np.where(burst, rng.poisson(300, n_intervals), 0))[None, :].astype(float)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_sharp_median_with_the_wrong_spread_does_not_serve(seed: int) -> None:
    """The phase expert tracks the timer's median (a lower MAE than the network's or the moving average's) but
    misses the bursts: calibrated, its std factor is 7 and its 90% quantiles reach 4e13 invocations against a
    largest count of 341 (validation pinball 9e16). It must lose to a component whose calibrated interval is
    better (``validation.choose_components``), and the forecasts the pool reads must stay of the order of the
    counts seen."""
    counts = _timer_with_bursts_in_validation()
    model = BayesLSTMForecaster(**SMALL, epochs=1, seed=seed).fit(counts)
    assert model.components_[0] != "phase"
    assert model.validation_report.pinball < 1000.0
    assert model.validation_report.interval_vetoed == 1  # the interval decided, and the report says so
    top = max(float(model.predict(counts[:, :t]).quantile(0.9)[0, 0]) for t in range(380, 401))
    assert top < 100 * counts.max()


def test_phase_expert_can_be_switched_off() -> None:
    counts = _bursts_every_ten()
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts[:, :391])
    assert "phase" not in model.components_ and model.state_ is not None
    assert model.state_.period.tolist() == [0, 0]


def test_select_serves_a_subset_with_identical_predictions_and_its_own_report() -> None:
    counts = np.concatenate([_periodic(200), _bursts_every_ten(200)], axis=0)
    model = BayesLSTMForecaster(**SMALL, epochs=1).fit(counts[:, :190])
    part = model.select([3, 1])
    whole, sub = model.predict(counts, horizon=2), part.predict(counts[[3, 1]], horizon=2)
    np.testing.assert_allclose(sub.mean, whole.mean[[3, 1]])
    np.testing.assert_allclose(sub.std, whole.std[[3, 1]])
    assert part.components_ == (model.components_[3], model.components_[1])
    # the subset's report is computed on its rows, never copied from the whole model
    assert part.validation_report.functions == 2 and model.validation_report.functions == 4
    assert sum(part.validation_report.components.values()) == 2
    assert model.state_ is not None
    expected = float(np.mean(model.state_.figures["coverage_90"][[3, 1]]))
    assert part.validation_report.coverage[0.9] == pytest.approx(expected)
    assert part.validation_report.mae == pytest.approx(float(np.mean(model.state_.figures["mae"][[3, 1]])))
    with pytest.raises(InputError, match="rows"):
        model.select([4])
    with pytest.raises(InputError, match="fit"):
        BayesLSTMForecaster(**SMALL).select([0])
    per_function = BayesLSTMForecaster(**SMALL, epochs=1, global_model=False).fit(counts[:2, :190])
    assert not per_function.selectable
    with pytest.raises(InputError, match="global"):
        per_function.select([0])


def test_report_gives_figures_per_rate_class_and_component() -> None:
    rng = np.random.default_rng(2)
    counts = np.stack([rng.poisson(0.2, 300), rng.poisson(30, 300), rng.poisson(300, 300)]).astype(float)
    model = BayesLSTMForecaster(**SMALL, epochs=1).fit(counts)
    report = model.validation_report
    assert list(report.by_class) == ["sporadic", "mid", "high"]
    assert all(row["functions"] == 1 for row in report.by_class.values())
    assert sum(int(row["functions"]) for row in report.by_component.values()) == 3
    assert set(report.by_component) == set(model.components_)
    assert set(report.std_scale) == {"sporadic", "mid", "high"}


def test_active_functions_get_their_own_std_scale() -> None:
    rng = np.random.default_rng(3)
    calm = rng.poisson(40, 400)
    bursty = np.where(rng.random(400) < 0.03, 400, rng.poisson(40, 400))  # same rate class, rare huge bursts
    counts = np.stack([calm, bursty, np.zeros(400)]).astype(float)
    counts[2, ::50] = 1  # rarely active: keeps its class's scale
    model = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False).fit(counts)
    assert model.validation_report.own_scale_functions == 2 and model.state_ is not None
    assert model.state_.std_scale[0] != model.state_.std_scale[1]
    shared = BayesLSTMForecaster(**SMALL, epochs=1, phase_expert=False, own_scale_min_active=10_000).fit(counts)
    assert shared.validation_report.own_scale_functions == 0 and shared.state_ is not None
    assert shared.state_.std_scale[0] == shared.state_.std_scale[1]


def test_fit_and_predict_leave_torch_global_state_alone() -> None:
    import torch

    torch.manual_seed(1234)
    torch.set_num_threads(2)
    before = torch.random.get_rng_state().clone()
    model = BayesLSTMForecaster(**SMALL, epochs=1, n_threads=1).fit(_periodic(150))
    model.predict(_periodic(150))
    assert torch.get_num_threads() == 2
    assert torch.equal(torch.random.get_rng_state(), before)
    again = BayesLSTMForecaster(**SMALL, epochs=1, n_threads=1).fit(_periodic(150))
    np.testing.assert_array_equal(model.predict(_periodic(150)).mean, again.predict(_periodic(150)).mean)


def test_importing_the_package_or_building_a_forecaster_does_not_import_torch() -> None:
    code = (
        "import sys; import aquatope.forecast as f; import aquatope.prewarm; f.BayesLSTMForecaster(); "
        "f.make_forecaster('bayes-lstm'); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("field", "value"),
    [("window", 1), ("window", 10**6), ("n_threads", 10**6), ("mc_passes", 10**5), ("hidden", 0), ("space", "cube")],
)
def test_out_of_range_parameters_are_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InputError, match=field):
        BayesLSTMForecaster(**{field: value})


@pytest.mark.parametrize(
    "options",
    [{"quantile_head": True}, {"n_nets": 2}, {"balance_classes": True}, {"space": "linear"}, {"calibration": "plain"}],
    ids=lambda o: next(iter(o)),
)
def test_candidate_options_fit_and_forecast(options: dict[str, object]) -> None:
    """The options measured against the defaults in bench/forecast_eval.py (see its docstring) stay usable."""
    rng = np.random.default_rng(4)
    counts = np.stack([rng.poisson(0.3, 300), rng.poisson(20, 300), rng.poisson(250, 300)]).astype(float)
    model = BayesLSTMForecaster(**SMALL, epochs=1, **options).fit(counts)
    assert len(model.nets_) == options.get("n_nets", 1)
    forecast = model.predict(counts, horizon=2)
    quantiles = np.stack([forecast.quantile(q) for q in (0.05, 0.5, 0.95)])
    assert np.all(np.isfinite(quantiles)) and np.all(np.diff(quantiles, axis=0) >= -1e-9)
    assert model.validation_report.usable, model.validation_report.reason


def test_train_functions_restricts_the_network_to_those_rows_and_forecasts_an_unseen_function() -> None:
    """``train_functions`` draws every training window from the given rows only; a function the network never saw
    (the same kind of signal at another phase) is still forecast by it, at under half last-value's error, and
    gets its own component choice and calibration."""
    t = np.arange(400)
    counts = np.round(
        np.stack(
            [
                20 + 10 * np.sin(2 * np.pi * t / 12),
                5 + 4 * np.cos(2 * np.pi * t / 8),
                20 + 10 * np.sin(2 * np.pi * (t + 5) / 12),
            ]
        )
    )
    drawn: list[np.ndarray] = []
    model = BayesLSTMForecaster(**LEARN, phase_expert=False)
    original = model._draw_windows

    def spy(part: np.ndarray, funcs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        f_idx, t_idx = original(part, funcs, rng)
        drawn.append(f_idx)
        return f_idx, t_idx

    model._draw_windows = spy  # type: ignore[method-assign]
    model.fit(counts[:, :320], train_functions=np.array([0, 1]))
    assert drawn and set(np.concatenate(drawn).tolist()) == {0, 1}
    assert model.components_[2] == "lstm" and model.validation_report.usable
    held = backtest(model.select([2]), counts[2:], train_end=320, fit=False)
    last = backtest(LastValueForecaster(), counts[2:], train_end=320)
    assert float(held.mae()) < 0.5 * float(last.mae())


def test_train_functions_must_be_rows_of_the_history_and_needs_the_global_model() -> None:
    counts = _periodic(200)
    with pytest.raises(InputError, match="row indices"):
        BayesLSTMForecaster(**SMALL).fit(counts, train_functions=np.array([2]))
    with pytest.raises(InputError, match="global model"):
        BayesLSTMForecaster(**SMALL, global_model=False).fit(counts, train_functions=np.array([0]))
