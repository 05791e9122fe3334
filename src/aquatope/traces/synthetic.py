"""Synthetic invocation traces with a seed, and the ``synthetic:KIND:key=value,...`` spec string.

All rates are **invocations per minute** (mean per function), and all durations are in minutes. Every
generator draws only from ``numpy.random.default_rng(seed)`` (an ``int`` seed or a ``Generator``), so the
same arguments give the same counts. The four kinds:

* ``poisson``  — constant rate: ``counts ~ Poisson(rate)`` every minute.
* ``diurnal``  — sinusoidal rate ``rate * (1 + amplitude * sin(2π (m + 0.5 - phase) / period))``
  (``period`` 1440 minutes = one day by default); the mean over whole periods is ``rate``.
* ``bursty``   — two-state Markov-modulated Poisson process, stepped per minute: an *on* state with
  rate ``ratio`` times the *off* rate, mean sojourns ``on_minutes`` and ``off_minutes`` (geometric),
  started from the stationary distribution; the off rate is set so that the long-run mean is ``rate``.
* ``periodic`` — a timer: ``count`` invocations every ``period`` minutes, starting at minute ``offset``
  (drawn uniformly in ``[0, period)`` per function when not given).

Spec strings: ``synthetic:poisson:rate=5,minutes=1440,functions=1,seed=0``. Every kind accepts
``minutes`` (default 1440), ``functions`` (default 1) and ``seed`` (default: the caller's seed, 0..2**32-1).
Sizes are bounded like every trace's (:func:`~aquatope.traces.model.check_trace_size`), and a rate or a
count at most :data:`MAX_RATE` per minute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from aquatope.errors import InputError, check_seed
from aquatope.traces.model import MAX_MINUTES, IntArray, InvocationTrace, check_trace_size

Seed = int | np.random.Generator
PREFIX = "synthetic:"
MAX_RATE = 1e8
"""Largest mean rate (or timer count) per minute and function: 1.7 million invocations per second, far above
the busiest function of the Azure traces; NumPy's Poisson sampler fails near 1e19."""


def _require(ok: bool, message: str, field: str) -> None:
    if not ok:
        raise InputError(message, field=field)


def _shape(minutes: int, functions: int) -> tuple[int, int]:
    _require(minutes >= 1, f"minutes must be >= 1, got {minutes}", "minutes")
    _require(functions >= 1, f"functions must be >= 1, got {functions}", "functions")
    check_trace_size(functions, minutes, field="minutes" if functions == 1 else "functions")
    return functions, minutes


def _trace(kind: str, counts: IntArray, source: str | None) -> InvocationTrace:
    width = len(str(counts.shape[0] - 1))
    ids = tuple(f"{kind}-{i:0{width}d}" for i in range(counts.shape[0]))
    return InvocationTrace(function_ids=ids, counts=counts, source=source or f"{PREFIX}{kind}")


def _rate(rate: float) -> None:
    ok = math.isfinite(rate) and 0 <= rate <= MAX_RATE
    _require(ok, f"rate must be a number in 0..{MAX_RATE:g} per minute, got {rate}", "rate")


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_seed(seed))


def poisson_trace(
    rate: float = 1.0, *, minutes: int = 1440, functions: int = 1, seed: Seed = 0, source: str | None = None
) -> InvocationTrace:
    """Constant-rate Poisson counts, ``rate`` invocations per minute; shape ``(functions, minutes)``."""
    _rate(rate)
    rng = _rng(seed)
    return _trace("poisson", rng.poisson(rate, size=_shape(minutes, functions)), source)


def diurnal_trace(
    rate: float = 1.0,
    *,
    amplitude: float = 0.8,
    period: int = 1440,
    phase: float = 0.0,
    minutes: int = 1440,
    functions: int = 1,
    seed: Seed = 0,
    source: str | None = None,
) -> InvocationTrace:
    """Poisson counts around a sinusoidal rate (per minute) with relative ``amplitude`` in [0, 1]."""
    _rate(rate)
    _require(0.0 <= amplitude <= 1.0, f"amplitude must be in [0, 1], got {amplitude}", "amplitude")
    _require(period >= 1, f"period must be >= 1 minute, got {period}", "period")
    _require(math.isfinite(phase), f"phase must be a finite number of minutes, got {phase}", "phase")
    shape = _shape(minutes, functions)
    m = np.arange(minutes) + 0.5
    lam = rate * (1.0 + amplitude * np.sin(2.0 * np.pi * (m - phase) / period))
    rng = _rng(seed)
    return _trace("diurnal", rng.poisson(np.broadcast_to(lam, shape)), source)


def bursty_trace(
    rate: float = 1.0,
    *,
    ratio: float = 20.0,
    on_minutes: float = 10.0,
    off_minutes: float = 50.0,
    minutes: int = 1440,
    functions: int = 1,
    seed: Seed = 0,
    source: str | None = None,
) -> InvocationTrace:
    """On/off (two-state MMPP) counts with long-run mean ``rate`` per minute; see the module doc."""
    _rate(rate)
    _require(1.0 <= ratio <= MAX_RATE, f"ratio (on rate / off rate) must be in 1..{MAX_RATE:g}, got {ratio}", "ratio")
    for name, value in (("on_minutes", on_minutes), ("off_minutes", off_minutes)):
        _require(1.0 <= value <= MAX_MINUTES, f"{name} must be in 1..{MAX_MINUTES}, got {value}", name)
    shape = _shape(minutes, functions)
    rng = _rng(seed)
    p_on = on_minutes / (on_minutes + off_minutes)
    rate_off = rate / (p_on * ratio + 1.0 - p_on)
    switch = rng.random(shape)
    state = np.empty(shape, dtype=bool)
    on = rng.random(functions) < p_on
    for minute in range(minutes):  # a loop over minutes, vectorized over functions
        state[:, minute] = on
        on = np.where(on, switch[:, minute] >= 1.0 / on_minutes, switch[:, minute] < 1.0 / off_minutes)
    lam = np.where(state, rate_off * ratio, rate_off)
    return _trace("bursty", rng.poisson(lam), source)


def periodic_trace(
    period: int = 60,
    *,
    count: int = 1,
    offset: int | None = None,
    minutes: int = 1440,
    functions: int = 1,
    seed: Seed = 0,
    source: str | None = None,
) -> InvocationTrace:
    """A timer: ``count`` invocations every ``period`` minutes from minute ``offset`` (random if None)."""
    _require(period >= 1, f"period must be >= 1 minute, got {period}", "period")
    _require(0 <= count <= MAX_RATE, f"count must be in 0..{MAX_RATE:g}, got {count}", "count")
    _require(offset is None or 0 <= offset < period, f"offset must be in [0, period), got {offset}", "offset")
    shape = _shape(minutes, functions)
    rng = _rng(seed)
    offsets = rng.integers(0, period, size=functions) if offset is None else np.full(functions, offset)
    fires = (np.arange(minutes)[None, :] - offsets[:, None]) % period == 0
    return _trace("periodic", np.where(fires, count, 0).reshape(shape), source)


_COMMON: dict[str, type] = {"minutes": int, "functions": int, "seed": int}
KINDS: dict[str, tuple[Callable[..., InvocationTrace], dict[str, type]]] = {
    "poisson": (poisson_trace, {"rate": float}),
    "diurnal": (diurnal_trace, {"rate": float, "amplitude": float, "period": int, "phase": float}),
    "bursty": (bursty_trace, {"rate": float, "ratio": float, "on_minutes": float, "off_minutes": float}),
    "periodic": (periodic_trace, {"period": int, "count": int, "offset": int}),
}


def _parse_params(spec: str, text: str, allowed: dict[str, type]) -> dict[str, Any]:
    """``key=value,...`` into typed keyword arguments; refuses unknown, repeated or malformed ones."""
    params: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = (s.strip() for s in item.partition("="))
        if not sep or not key:
            raise InputError(f"expected key=value, got {item!r}", source=spec)
        if key not in allowed:
            raise InputError(f"unknown parameter; allowed: {', '.join(sorted(allowed))}", source=spec, field=key)
        if key in params:
            raise InputError("parameter given twice", source=spec, field=key)
        try:
            params[key] = allowed[key](value)
        except ValueError:
            kind = "an integer" if allowed[key] is int else "a number"
            raise InputError(f"expected {kind}, got {value!r}", source=spec, field=key) from None
    return params


def parse_synthetic_spec(spec: str, *, seed: int = 0) -> InvocationTrace:
    """Generate the trace described by ``synthetic:KIND[:key=value,...]`` (see the module doc).

    A ``seed=`` in the spec overrides ``seed``. Unknown kinds or parameters and bad values raise
    :class:`InputError` naming the spec and the parameter.
    """
    text = spec.strip()
    if not text.startswith(PREFIX):
        raise InputError(f"a synthetic trace spec starts with {PREFIX!r}", source=spec)
    kind, _, rest = text.removeprefix(PREFIX).partition(":")
    kind = kind.strip()
    if kind not in KINDS:
        raise InputError(f"unknown synthetic kind {kind!r}; choose one of {', '.join(KINDS)}", source=spec)
    generator, own = KINDS[kind]
    params = {"seed": seed, **_parse_params(spec, rest, {**own, **_COMMON})}
    try:
        return generator(**params, source=text)
    except InputError as exc:
        raise InputError(exc.message, source=spec, field=exc.field) from None
