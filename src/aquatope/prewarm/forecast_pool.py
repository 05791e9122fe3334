"""``aquatope:q=<quantile>``: warm containers for the *new* demand the forecast's upper quantile says is coming.

For each function, with ``T`` the interval (s), ``d`` its mean execution time (s, from ``context.stats``: what
the platform observed, see :class:`aquatope.controller.ObservedDurations`; :data:`DEFAULT_STATS` where nothing
was observed yet),
``n0`` the peak number of invocations in progress the platform observed in the interval that just ended
(``context.observed``; 0 if absent) and ``c`` the forecast's ``q``-quantile of next-interval invocations (step 0):

0. **Onset floor** (``onset_floor=True``, the default): ``c`` is raised to ``rho * last`` (``last`` the count of
   the interval that just ended, ``rho`` the function's learned :func:`onset_persistence` over the last
   ``persistence_window`` intervals), so that a burst from zero, which no forecast sees coming, is provisioned
   from its second interval on in proportion to how often the function's bursts lasted. Functions whose target the
   floor raised are named in the decision's ``reasons`` (``"onset floor"``), so a run can count how many targets
   it decided; ``bench/prewarm_eval.py --floor-ablation`` measures its effect against ``onset_floor=False``.

1. **Survivors hold their own containers**: ``min_warm`` is a floor on *live* containers (busy, idle or starting),
   so running invocations are not provisioned again. Of the ``n0`` in progress about ``n0 * s`` still run at the
   interval's end, ``s = max(0, 1 - T / d)`` (residual execution time uniform on ``[0, d]``).
2. **New arrivals**: ``c`` of them at rate ``c / T``, each running about ``d``, so about ``L = c * min(d, T) / T``
   are in progress at once (all ``c`` for long functions). Their number at an instant is Poisson(``L``); the
   interval holds ``m = max(1, T / d)`` roughly independent windows of length ``d``, so their within-interval peak
   is covered with probability ``q`` by the Poisson(``L``) quantile at level ``q ** (1 / m)``.
3. ``min_warm = ceil(n0 * s) + max(1, peak)`` if ``c >= presence`` (at level ``q`` at least about one invocation is
   coming, i.e. P(any invocation) >~ 1 - q), else 0.

Both the count's uncertainty (the forecast quantile) and the arrivals' timing (the Poisson quantile) are taken at
the one level ``q``: raising ``q`` trades idle GB-s for fewer cold starts. ``keep_alive_s`` is short
(``keep_alive_intervals * T``, half an interval by default): containers the floor does not ask for (extra ones
started by cold starts, or left as the floor falls) are released soon after they fall idle. The control loop applies
the target ahead of the interval (its ``lead_s``) so containers are ready when it starts. Stateless by default.

``keep="auto"`` (spec ``aquatope:keep=auto``, a candidate, not the default) keeps those containers instead for the
keep-alive ``keepalive:auto`` learns from the history of the first tick (the 99th percentile of the idle times plus
10%, Shahrad et al.; :class:`~aquatope.prewarm.keepalive.AutoKeepAlive`), never less than the short one: a
container a burst started then waits for the next burst instead of being released and started again. The choice
is made once and kept as the policy's state.

Where the constants come from: ``presence = 0.5`` rounds the count quantile (half an invocation or more gets a
container); ``keep_alive_intervals = 0.5`` and ``persistence_window = 1440`` (one day of minutes) were set when
the policy was written, before any held-out evaluation; ``q`` is the user's trade-off (``aquatope:q=...``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import FunctionStats, PolicyContext, PoolDecision
from aquatope.prewarm.keepalive import AutoKeepAlive, AutoKeepAliveState

DEFAULT_STATS = FunctionStats(mean_duration_s=1.0, p99_duration_s=1.0)
"""Assumed for a function with no observed duration yet: 1 s, about the median of the per-function mean execution
times in the Azure Functions 2019 trace (Shahrad et al., ATC '20: half of the functions average under 1 s)."""
ONSET_FLOOR_REASON = "onset floor"
KEEP_RULES = ("interval", "auto")
"""How long containers above the floor are kept: ``keep_alive_intervals`` intervals, or the learned keep-alive."""


def onset_persistence(history: np.ndarray, window: int) -> np.ndarray:
    """Per function, the share of a burst's first interval that carried over into the next one, in [0, 1].

    Over the last ``window`` intervals of ``history`` (shape ``(n_functions, n_intervals)``), an *onset* is an
    active interval after a silent one; persistence is ``sum(min(next, onset)) / sum(onset)`` over onsets that have
    a next interval (0 with none): about 1 for bursts that last several intervals, about 0 for isolated spikes.
    """
    h = np.asarray(history, dtype=float)[:, -window:]
    if h.shape[1] < 3:
        return np.zeros(h.shape[0])
    prev, cur, nxt = h[:, :-2], h[:, 1:-1], h[:, 2:]
    onset = (prev <= 0) & (cur > 0)
    carried = np.where(onset, np.minimum(nxt, cur), 0.0).sum(axis=1)
    total = np.where(onset, cur, 0.0).sum(axis=1)
    return np.divide(carried, total, out=np.zeros_like(total), where=total > 0)


def warm_containers(
    count_q: np.ndarray,
    mean_duration_s: np.ndarray,
    in_progress: np.ndarray,
    interval_s: float,
    q: float,
    presence: float,
) -> np.ndarray:
    """``min_warm`` per function (see the module docstring): ``count_q`` the count quantile, ``mean_duration_s``
    and ``in_progress`` (observed peak concurrency) per function; int64, shape like ``count_q``."""
    from scipy.stats import poisson  # imported here: scipy.stats takes a noticeable part of the CLI's start-up

    count = np.maximum(0.0, np.asarray(count_q, dtype=float))
    d = np.maximum(np.asarray(mean_duration_s, dtype=float), 1e-9)
    survive = np.maximum(0.0, 1.0 - interval_s / d)
    load = count * np.minimum(d, interval_s) / interval_s
    windows = np.maximum(1.0, interval_s / d)
    peak = np.where(load > 0, poisson.ppf(q ** (1.0 / windows), load), 0.0)
    need = np.ceil(np.maximum(0.0, in_progress) * survive - 1e-9) + np.maximum(peak, 1.0)
    return np.where(count >= presence, need, 0.0).astype(np.int64)


UNUSABLE_FORECAST_REASON = "forecast not finite or above 1000x the largest count seen: last count"
UNUSABLE_FACTOR = 1000.0
"""A count quantile above this many times the largest per-interval count in the history (or 1) is taken as a model
failure, not a forecast: a safety bound, not a tuned constant (a burst 1000x beyond the history's maximum is
not something a one-interval forecast can know)."""


def unusable_counts(count_q: np.ndarray, history: np.ndarray) -> np.ndarray:
    """Per function: is the count quantile NaN, infinite, negative or beyond :data:`UNUSABLE_FACTOR` x the history?"""
    seen = history.max(axis=1) if history.ndim == 2 and history.shape[1] else np.zeros(len(count_q))
    with np.errstate(invalid="ignore"):
        return ~np.isfinite(count_q) | (count_q < 0) | (count_q > UNUSABLE_FACTOR * np.maximum(seen, 1.0))


@dataclass(frozen=True)
class ForecastPoolPolicy:
    """Aquatope's pool policy on any :class:`~aquatope.forecast.base.Forecast` (parameters: module docstring).

    ``q``: the level of the count quantile and of the within-interval peak; ``presence``: smallest count quantile
    that gets a container; ``keep_alive_intervals``: keep-alive in control intervals; ``persistence_window``:
    intervals of history that onset persistence is learned from; ``onset_floor``: apply step 0; ``keep``: one of
    :data:`KEEP_RULES` (``auto``: at least the learned keep-alive, module docstring).
    """

    q: float = 0.9
    presence: float = 0.5
    keep_alive_intervals: float = 0.5
    persistence_window: int = 1440
    onset_floor: bool = True
    keep: str = "interval"
    needs_forecast: bool = True
    needs_future: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.q < 1.0:
            raise InputError(f"quantile must be in (0, 1), got {self.q}", field="q")
        for name in ("presence", "keep_alive_intervals"):
            value = getattr(self, name)
            if not (value >= 0 and math.isfinite(value)):
                raise InputError(f"must be a finite number >= 0, got {value}", field=name)
        if self.persistence_window < 3:
            raise InputError(f"must be >= 3, got {self.persistence_window}", field="persistence_window")
        if self.keep not in KEEP_RULES:
            raise InputError(f"must be one of {', '.join(KEEP_RULES)}, got {self.keep!r}", field="keep")

    @property
    def name(self) -> str:
        keep = "" if self.keep == "interval" else f":keep={self.keep}"
        return f"aquatope:q={self.q:g}{keep}" + ("" if self.onset_floor else ",no-floor")

    def keep_alive_s(self, context: PolicyContext) -> tuple[float, AutoKeepAliveState | None]:
        """The keep-alive of containers above the floor, and the learned keep-alive's state (``keep="auto"``)."""
        short = self.keep_alive_intervals * context.interval_s
        if self.keep == "interval":
            return short, None
        state = context.state
        if not isinstance(state, AutoKeepAliveState):
            state = AutoKeepAlive().fit(context.history, context.interval_s)
        return max(short, state.keep_alive_s), state

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]:
        forecast = context.forecast
        if forecast is None or forecast.n_functions != context.n_functions:
            raise InputError("aquatope needs a forecast with one row per function", field="forecast")
        fns = context.functions
        duration = np.array([context.stats.get(f, DEFAULT_STATS).mean_duration_s for f in fns])
        observed = context.observed
        in_progress = np.array([observed[f].peak_concurrency if f in observed else 0 for f in fns], dtype=float)
        count_q = np.asarray(forecast.quantile(self.q)[:, 0], dtype=float)
        reasons: dict[str, str] = {}
        fallback = None
        bad = unusable_counts(count_q, context.history)
        if bad.any():  # a forecast that is not a number, or beyond any count seen: the last observed count instead
            last = context.history[:, -1] if context.history.shape[1] else np.zeros(len(fns))
            count_q = np.where(bad, last, count_q)
            reasons = {fns[i]: UNUSABLE_FORECAST_REASON for i in np.flatnonzero(bad)}
            fallback = f"{int(bad.sum())} function(s): {UNUSABLE_FORECAST_REASON}"
        warm = warm_containers(count_q, duration, in_progress, context.interval_s, self.q, self.presence)
        if self.onset_floor and context.history.shape[1] > 0:  # a burst from zero the forecast has not caught yet
            rho = onset_persistence(context.history, self.persistence_window)
            floored = np.maximum(count_q, rho * context.history[:, -1])
            with_floor = warm_containers(floored, duration, in_progress, context.interval_s, self.q, self.presence)
            reasons.update({fns[i]: ONSET_FLOOR_REASON for i in np.flatnonzero(with_floor > warm)})
            warm = with_floor
        keep_alive_s, state = self.keep_alive_s(context)
        targets = {f: PoolTarget(int(w), keep_alive_s) for f, w in zip(fns, warm, strict=True)}
        return PoolDecision(targets, reasons, fallback), state
