"""Forecast representations: normal, log1p-normal and residual quantiles give consistent quantiles and CDFs."""

from __future__ import annotations

import numpy as np
import pytest

from aquatope.forecast.base import Forecast


def test_log1p_normal_quantiles_map_exactly_and_moments_match_sampling() -> None:
    loc, scale = np.array([[1.0, -1.0, 3.0]]), np.array([[0.5, 1.0, 0.0]])
    f = Forecast.log1p_normal(loc, scale)
    np.testing.assert_allclose(f.median(), np.maximum(0.0, np.expm1(loc)))  # the median maps through expm1
    np.testing.assert_allclose(f.quantile(0.9), np.maximum(0.0, np.expm1(loc + 1.2815515655446004 * scale)))
    draws = np.maximum(0.0, np.expm1(np.random.default_rng(0).normal(loc, np.maximum(scale, 1e-12), (200_000, 1, 3))))
    np.testing.assert_allclose(f.mean, draws.mean(axis=0), rtol=0.02, atol=1e-3)
    np.testing.assert_allclose(f.std, draws.std(axis=0), rtol=0.03, atol=1e-3)


@pytest.mark.parametrize(
    "forecast",
    [
        Forecast(np.array([[5.0, 0.2]]), np.array([[2.0, 1.0]])),
        Forecast.log1p_normal(np.array([[1.5, -0.5]]), np.array([[0.4, 1.2]])),
        Forecast(
            np.array([[5.0, 0.2]]),
            np.array([[2.0, 1.0]]),
            residual_quantiles={q: np.array([[(q - 0.5) * 8, q - 0.5]]) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        ),
    ],
    ids=["normal", "log1p-normal", "residual-quantiles"],
)
def test_cdf_inverts_quantile(forecast: Forecast) -> None:
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        x = forecast.quantile(q)
        positive = x > 0  # at 0 the CDF jumps (mass clipped at 0), so it is >= q there
        np.testing.assert_allclose(forecast.cdf(x)[positive], q, atol=1e-6)
        assert np.all(forecast.cdf(x)[~positive] >= q - 1e-9)
    assert np.all(forecast.cdf(np.full((1, 2), -1.0)) == 0.0)
