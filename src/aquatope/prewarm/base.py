"""What a pool policy sees and returns: :class:`PolicyContext` in, :class:`PoolDecision` (plus new state) out.

Policies are pure (see ARCHITECTURE.md): ``policy(context) -> (decision, state)``. Time, history, the forecast,
the current pool and the policy's previous state all arrive in the context; the caller applies the decision
(one :class:`~aquatope.platform.PoolTarget` per function) with ``Platform.set_pool``.

Timing convention: a tick decides the pool for the *next* control interval. ``history[:, -1]`` is the interval
that just ended; the decision covers interval ``history.shape[1]`` (counting from the history's first column),
which starts at (about) ``now_s`` and lasts ``interval_s``. ``forecast`` (when present) has one row per function
and its step 0 is that next interval.

Control interval: a policy may say how often it wants to be ticked (``interval_s``, read with
:func:`policy_interval_s`): the Knative-style ``reactive`` pool wants the KPA's 2 s tick, the per-minute policies
60 s, and ``None`` means any interval will do. The caller runs each policy at its interval and passes that interval
in ``PolicyContext.interval_s``; policies keep their windows in seconds so they work at any tick.

Fallbacks: a decision made (wholly or in part) by a fallback carries the reason in ``PoolDecision.fallback``; the
caller counts the ticks where it is set (``fallback_ticks``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.platform import FunctionObservation, PoolTarget

DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class FunctionStats:
    """Execution-time statistics of one function, in seconds: what Little's law and the pools need."""

    mean_duration_s: float
    p99_duration_s: float
    memory_mb: float = 256.0

    def __post_init__(self) -> None:
        for name in ("mean_duration_s", "p99_duration_s", "memory_mb"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"must be finite and >= 0, got {value!r}", field=name)


@dataclass(frozen=True)
class PolicyContext:
    """Everything a policy may look at for one tick.

    * ``functions``: names, in the row order of ``history``, ``forecast`` and ``future_peak``.
    * ``history``: per-interval invocation counts, shape ``(n_functions, n_intervals)``, oldest first.
    * ``forecast``: predictive distribution of the next interval's counts (step 0), or None.
    * ``pool``: the target currently applied per function (absent: the platform default).
    * ``stats``: per-function duration statistics (absent: the policy's documented default).
    * ``future_peak``: ``clairvoyant-*`` references only — the true peak concurrency of the next interval, shape
      ``(n_functions,)``.
    * ``observed``: what the platform observed per function in the interval that just ended (invocations, peak
      concurrency, cold starts) under *this* policy's pool; absent: nothing observed (policies must cope).
    * ``state``: what the policy returned at the previous tick (None at the first).
    """

    now_s: float
    functions: tuple[str, ...]
    history: np.ndarray
    forecast: Forecast | None = None
    pool: Mapping[str, PoolTarget] = field(default_factory=dict)
    stats: Mapping[str, FunctionStats] = field(default_factory=dict)
    interval_s: float = DEFAULT_INTERVAL_S
    future_peak: np.ndarray | None = None
    state: Any = None
    observed: Mapping[str, FunctionObservation] = field(default_factory=dict)

    def __post_init__(self) -> None:
        history = np.asarray(self.history, dtype=float)
        if history.ndim != 2 or history.shape[0] != len(self.functions):
            raise InputError(
                f"history must have shape ({len(self.functions)}, n_intervals), got {history.shape}", field="history"
            )
        if not self.interval_s > 0:
            raise InputError(f"must be > 0, got {self.interval_s}", field="interval_s")
        object.__setattr__(self, "history", history)

    @property
    def n_functions(self) -> int:
        return len(self.functions)

    def with_state(self, state: Any) -> PolicyContext:
        """The same context carrying another state (used by wrappers to call the policy they wrap)."""
        return PolicyContext(
            self.now_s,
            self.functions,
            self.history,
            self.forecast,
            self.pool,
            self.stats,
            self.interval_s,
            self.future_peak,
            state,
            self.observed,
        )


@dataclass(frozen=True)
class PoolDecision:
    """One target per function (keys: every function of the context) and why, for the record.

    ``reasons`` maps a function (or ``"*"`` for all) to a short note, e.g. why a fallback was used. ``fallback`` is
    set (to why) when a fallback made this decision or part of it, e.g. no usable forecast or no training history:
    the caller counts those ticks.
    """

    targets: Mapping[str, PoolTarget]
    reasons: Mapping[str, str] = field(default_factory=dict)
    fallback: str | None = None


@runtime_checkable
class PoolPolicy(Protocol):
    """A pure pool policy. ``needs_forecast``: it reads ``context.forecast``; ``needs_future``: ``future_peak``."""

    @property
    def name(self) -> str: ...

    @property
    def needs_forecast(self) -> bool: ...

    @property
    def needs_future(self) -> bool: ...

    def __call__(self, context: PolicyContext) -> tuple[PoolDecision, Any]: ...


def policy_interval_s(policy: object) -> float | None:
    """The control interval (s) a policy wants to be ticked at; None: any (the caller's default, 60 s)."""
    value = getattr(policy, "interval_s", None)
    return None if value is None else float(value)


def uniform_decision(
    context: PolicyContext, target: PoolTarget, reason: str | None = None, fallback: str | None = None
) -> PoolDecision:
    """The same target for every function."""
    reasons = {"*": reason} if reason else {}
    return PoolDecision(dict.fromkeys(context.functions, target), reasons, fallback)
