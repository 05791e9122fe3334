"""Period detection and the same-phase forecast of the phase expert."""

from __future__ import annotations

import numpy as np

from aquatope.forecast.periodic import (
    autocorrelation,
    detect_periods,
    phase_forecast,
    phase_moments,
    poisson_working_std,
)


def test_detects_the_smallest_period_not_its_multiples() -> None:
    t = np.arange(600)
    rng = np.random.default_rng(1)
    counts = np.stack(
        [
            np.where(t % 15 == 3, 40.0, 0.0) + rng.poisson(1, t.size),  # every 15 intervals
            np.where(t % 60 == 0, 1.0, 0.0),  # hourly timer
            rng.poisson(5, t.size).astype(float),  # no period
            np.full(t.size, 7.0),  # constant: no period
        ]
    )
    assert detect_periods(counts).tolist() == [15, 60, 0, 0]


def test_periods_are_limited_to_a_third_of_the_history() -> None:
    t = np.arange(90)
    counts = np.where(t % 40 == 0, 10.0, 0.0)[None, :]
    assert detect_periods(counts).tolist() == [0]  # 40 > 90 // 3
    assert detect_periods(np.zeros((2, 5))).tolist() == [0, 0]


def test_autocorrelation_of_an_alternating_series() -> None:
    acf = autocorrelation(np.array([[1.0, -1.0] * 50]), 2)
    np.testing.assert_allclose(acf[0], [1.0, -0.99, 0.98])


def test_phase_moments_use_the_same_phase_of_past_periods() -> None:
    counts = np.array([10.0, 0, 0, 20, 0, 0, 30, 0, 0])  # period 3, burst at phase 0
    mean, std = phase_moments(counts, 3, np.array([9, 10, 6]), n_lags=2)
    # 9 <- 6, 3 (30, 20); 10 <- 7, 4 (0, 0); 6 <- 3, 0 (20, 10): only the past of each target
    np.testing.assert_allclose(mean, [25.0, 0.0, 15.0])
    np.testing.assert_allclose(std[1], 0.0)
    np.testing.assert_allclose(std[0], np.sqrt(50.0 * 1.5))  # sample var 50, inflated by 1 + 1/k


def test_phase_moments_step_back_whole_periods_for_far_targets() -> None:
    counts = np.array([1.0, 2, 3, 4, 5, 6])
    mean, _ = phase_moments(counts, 2, np.array([6, 7, 8, 9]), n_lags=1)
    np.testing.assert_allclose(mean, [5.0, 6.0, 5.0, 6.0])


def test_phase_moments_with_too_little_history() -> None:
    counts = np.array([4.0, 8.0])
    mean, std = phase_moments(counts, 5, np.array([3, 6]), n_lags=3)
    # 3 has no earlier phase in the history: its mean; 6 <- 1 only: one value, so the history's spread
    np.testing.assert_allclose(mean, [6.0, 8.0])
    np.testing.assert_allclose(std, [2.0, 2.0])


def test_the_poisson_floor_is_a_poisson_counts_spread_in_the_working_space() -> None:
    rates = np.array([0.0, 0.08, 1.0, 14.0, 200.0])
    draws = np.random.default_rng(0).poisson(rates, (200_000, rates.size))
    np.testing.assert_allclose(poisson_working_std(rates, 1.0, "log")[1:], np.log1p(draws).std(axis=0)[1:], rtol=0.02)
    assert poisson_working_std(rates, 1.0, "log")[0] == 0.0
    np.testing.assert_allclose(poisson_working_std(rates, 4.0, "linear"), np.sqrt(rates) / 4.0)
    # above EXACT_UP_TO the delta method, which agrees there (a busy function's rate would make the exact grid huge)
    edge = poisson_working_std(np.array([999.0, 1001.0, 1e7]), 1.0, "log")
    np.testing.assert_allclose(edge[:2], np.sqrt([999.0, 1001.0]) / np.array([1000.0, 1002.0]), rtol=2e-3)
    np.testing.assert_allclose(edge[2], np.sqrt(1e7) / (1.0 + 1e7))


def test_phase_forecast_floors_a_spread_of_zero_where_the_same_phase_values_agree() -> None:
    counts = np.array([14.0, 0.0] * 30)  # period 2: six 14s and six 0s behind each target
    mean, std = phase_forecast(counts, 2, np.array([60, 61]), 1.0, "log")
    np.testing.assert_allclose(mean, [np.log1p(14.0), 0.0])
    _, raw = phase_moments(np.log1p(counts), 2, np.array([60, 61]))
    np.testing.assert_allclose(raw, [0.0, 0.0])
    # Jeffreys' rates (84.5 / 6 and 0.5 / 6): a count near 14 has a log spread of about 0.26, a rare one 0.19
    np.testing.assert_allclose(std, poisson_working_std(np.array([84.5 / 6, 0.5 / 6]), 1.0, "log"))
    assert 0.2 < std[0] < 0.3 and 0.15 < std[1] < 0.25
