"""Feature engineering for the Bayesian LSTM: calendar features, per-function normalization, windows, and the
*working space* in which the model forecasts.

Inputs: each function's counts are divided by ``scale_f = max(training mean, 1)`` (so a sporadic function stays in
count units and a busy one is relative to its level): ``z = counts / scale``. The encoder sees ``log1p(z)``
(robust to bursts), ``log1p(scale) / 8`` (the function's rate) and calendar features.

Targets live in a working space ``w``: ``"linear"``, ``w = counts / scale``, or ``"log"``, ``w = log1p(counts)``.
The network predicts the next intervals' ``w`` *minus the window's level* (the working value of the window's mean
count): a residual on top of the moving average, so a model that has learned nothing falls back to it. Forecasts
are normal in the working space and mapped back with :func:`from_working` (a monotone map, so quantiles and the
median map exactly; in the log space the count distribution is skewed, as bursty counts are).
"""

from __future__ import annotations

import numpy as np

SECONDS_PER_DAY = 86_400.0
N_CALENDAR = 4  # sin/cos time of day, sin/cos day of week
N_INPUTS = 2 + N_CALENDAR  # log1p(z), log1p(scale) / 8, calendar
SPACES = ("linear", "log")


def calendar(intervals: np.ndarray, interval_s: float) -> np.ndarray:
    """Calendar features of absolute interval indices: shape ``intervals.shape + (4,)``, float32.

    Interval i starts ``i * interval_s`` seconds after midnight of day 0 (a Monday by convention).
    """
    t_s = np.asarray(intervals, dtype=float) * interval_s
    tod = 2.0 * np.pi * (t_s % SECONDS_PER_DAY) / SECONDS_PER_DAY
    dow = 2.0 * np.pi * ((t_s // SECONDS_PER_DAY) % 7.0) / 7.0
    return np.stack([np.sin(tod), np.cos(tod), np.sin(dow), np.cos(dow)], axis=-1).astype(np.float32)


def function_scale(counts: np.ndarray) -> np.ndarray:
    """Per-function normalization scale ``max(mean count, 1)``, shape ``(n_functions,)``."""
    return np.maximum(np.asarray(counts, float).mean(axis=1), 1.0)


def to_working(counts: np.ndarray, scale: np.ndarray, space: str) -> np.ndarray:
    """Counts (any shape whose first axis matches ``scale``, or broadcastable) in the working space."""
    c = np.asarray(counts, dtype=float)
    if space == "log":
        return np.log1p(np.maximum(c, 0.0))
    return c / np.reshape(scale, scale.shape + (1,) * (c.ndim - scale.ndim))


def from_working(w: np.ndarray, scale: np.ndarray, space: str) -> np.ndarray:
    """Inverse of :func:`to_working`, clipped at 0 counts."""
    x = np.maximum(np.asarray(w, dtype=float), 0.0)
    if space == "log":
        return np.expm1(np.minimum(x, 700.0))
    return x * np.reshape(scale, scale.shape + (1,) * (x.ndim - scale.ndim))


def encoder_inputs(
    counts: np.ndarray,
    scale: np.ndarray,
    funcs: np.ndarray,
    origins: np.ndarray,
    window: int,
    start: int,
    interval_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Encoder inputs for windows ``counts[f, t - window : t]`` for each pair ``(funcs[i], origins[i])``.

    Returns ``(x, window_mean)``: ``x`` shape ``(n_windows, window, N_INPUTS)`` float32, ``window_mean`` shape
    ``(n_windows,)``, the window's mean count.
    """
    steps = origins[:, None] + np.arange(-window, 0)[None, :]
    cw = counts[funcs[:, None], steps]
    x = np.empty((len(funcs), window, N_INPUTS), dtype=np.float32)
    x[:, :, 0] = np.log1p(cw / scale[funcs][:, None])
    x[:, :, 1] = (np.log1p(scale[funcs]) / 8.0)[:, None]
    x[:, :, 2:] = calendar(steps + start, interval_s)
    return x, cw.mean(axis=1)


def target_features(origins: np.ndarray, horizon: int, start: int, interval_s: float, k_out: int) -> np.ndarray:
    """Prediction-network features of the ``horizon`` intervals after each origin: calendar + step fraction.

    Shape ``(n_windows, horizon, N_CALENDAR + 1)`` float32; the step fraction is ``min(k, k_out - 1) / k_out``.
    """
    steps = origins[:, None] + np.arange(horizon)[None, :]
    cal = calendar(steps + start, interval_s)
    frac = np.broadcast_to((np.minimum(np.arange(horizon), k_out - 1) / k_out)[None, :, None], (*steps.shape, 1))
    return np.concatenate([cal, frac.astype(np.float32)], axis=-1)


def targets(w: np.ndarray, funcs: np.ndarray, origins: np.ndarray, level_w: np.ndarray, k_out: int) -> np.ndarray:
    """Residual targets ``w[f, t + k] - level_w`` for k < k_out (working space), shape ``(n_windows, k_out)``."""
    steps = origins[:, None] + np.arange(k_out)[None, :]
    return (w[funcs[:, None], steps] - level_w[:, None]).astype(np.float32)
