"""The one safety wrapper around any pool policy: forecast checks with a fallback, bounds, and hysteresis.

:class:`SafePolicy` is applied once, around whichever policy runs (ARCHITECTURE.md: "bounds/hysteresis applied by
one wrapper around any policy"). Per tick:

1. **Fallback.** If the wrapped policy needs a forecast and the context's is unusable (missing, wrong number of
   rows, no step, non-finite samples), the fallback policy (default ``keepalive:600``) decides instead. The wrapped
   policy's state is kept for when forecasts return. A wrapped policy may also report that it fell back itself
   (``PoolDecision.fallback``, e.g. ``keepalive:auto`` without training history). Either way the decision's
   ``fallback`` and ``reasons["*"]`` say why (both start with ``fallback``) and ``SafeState.fallback_ticks`` counts
   the tick: the caller counts ``decision.fallback is not None``.
2. **Bounds.** ``min_warm`` is clipped to ``[0, max_warm]`` and ``keep_alive_s`` to
   ``[min_keep_alive_s, max_keep_alive_s]``; a clipped function gets a reason.
3. **Hysteresis.** ``min_warm`` rises at once but falls only after ``downscale_delay_ticks`` consecutive ticks
   asked for less (then to the latest ask); with 1 it falls at once. Keep-alive is never held.

State: :class:`SafeState` (the wrapped and fallback policies' states, the applied ``min_warm`` per function, the
running count of lower asks, and how many ticks fell back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.prewarm.base import PolicyContext, PoolDecision, PoolPolicy, policy_interval_s
from aquatope.prewarm.keepalive import FixedKeepAlive


@dataclass(frozen=True)
class SafetyConfig:
    """Bounds and hysteresis of :class:`SafePolicy` (see the module docstring)."""

    max_warm: int = 20000
    min_keep_alive_s: float = 0.0
    max_keep_alive_s: float = 86400.0
    downscale_delay_ticks: int = 1

    def __post_init__(self) -> None:
        if self.max_warm < 0:
            raise InputError(f"must be >= 0, got {self.max_warm}", field="max_warm")
        if not (0 <= self.min_keep_alive_s <= self.max_keep_alive_s and math.isfinite(self.max_keep_alive_s)):
            raise InputError("need 0 <= min_keep_alive_s <= max_keep_alive_s < inf", field="max_keep_alive_s")
        if self.downscale_delay_ticks < 1:
            raise InputError(f"must be >= 1, got {self.downscale_delay_ticks}", field="downscale_delay_ticks")


@dataclass(frozen=True)
class SafeState:
    inner: Any = None
    fallback: Any = None
    applied: dict[str, int] = field(default_factory=dict)
    lower_streak: dict[str, int] = field(default_factory=dict)
    fallback_ticks: int = 0


def forecast_problem(context: PolicyContext) -> str | None:
    """Why the context's forecast cannot be used (None if it can)."""
    fc = context.forecast
    if fc is None:
        return "no forecast"
    if fc.n_functions != context.n_functions:
        return f"forecast has {fc.n_functions} rows for {context.n_functions} functions"
    if fc.horizon < 1:
        return "forecast has no step"
    if fc.samples is not None and not np.all(np.isfinite(fc.samples)):
        return "forecast samples are not finite"
    return None


@dataclass(frozen=True)
class SafePolicy:
    """Wrap ``inner`` with the fallback, bounds and hysteresis described in the module docstring."""

    inner: PoolPolicy
    config: SafetyConfig = field(default_factory=SafetyConfig)
    fallback: PoolPolicy = field(default_factory=FixedKeepAlive)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def needs_forecast(self) -> bool:
        return self.inner.needs_forecast

    @property
    def needs_future(self) -> bool:
        return self.inner.needs_future

    @property
    def interval_s(self) -> float | None:
        """The wrapped policy's control interval (see :func:`~aquatope.prewarm.base.policy_interval_s`)."""
        return policy_interval_s(self.inner)

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, SafeState]:
        state = context.state if isinstance(context.state, SafeState) else SafeState()
        problem = forecast_problem(context) if self.inner.needs_forecast else None
        inner_state, fallback_state, fallback_ticks = state.inner, state.fallback, state.fallback_ticks
        if problem is None:
            decision, inner_state = self.inner(context.with_state(state.inner))
            fallback = decision.fallback
        else:
            decision, fallback_state = self.fallback(context.with_state(state.fallback))
            fallback = f"fallback to {self.fallback.name}: {problem}"
        reasons = dict(decision.reasons)
        if fallback is not None:
            reasons["*"] = fallback if fallback.startswith("fallback") else f"fallback: {fallback}"
            fallback_ticks += 1
        targets, applied, streak = self._guard(context, decision, state, reasons)
        new_state = SafeState(inner_state, fallback_state, applied, streak, fallback_ticks)
        return PoolDecision(targets, reasons, reasons["*"] if fallback is not None else None), new_state

    def _guard(
        self, context: PolicyContext, decision: PoolDecision, state: SafeState, reasons: dict[str, str]
    ) -> tuple[dict[str, PoolTarget], dict[str, int], dict[str, int]]:
        cfg = self.config
        targets: dict[str, PoolTarget] = {}
        applied: dict[str, int] = {}
        streak: dict[str, int] = {}
        for f in context.functions:
            ask = decision.targets.get(f, PoolTarget())
            warm = min(max(ask.min_warm, 0), cfg.max_warm)
            keep = min(max(ask.keep_alive_s, cfg.min_keep_alive_s), cfg.max_keep_alive_s)
            if warm != ask.min_warm or keep != ask.keep_alive_s:
                reasons[f] = f"clipped {ask} to bounds"
            prev = state.applied.get(f, context.pool[f].min_warm if f in context.pool else 0)
            streak[f] = state.lower_streak.get(f, 0) + 1 if warm < prev else 0
            if warm < prev and streak[f] < cfg.downscale_delay_ticks:
                warm = prev
            else:
                streak[f] = 0
            applied[f] = warm
            targets[f] = PoolTarget(warm, float(keep))
        return targets, applied, streak
