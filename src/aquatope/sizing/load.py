"""The expected total cost of a configuration at a forecast load: execution plus idle keep-warm time.

At low request rates most of what a function costs is the idle time of the containers its pool keeps warm, and that
idle time is billed at the configuration's price: a smaller configuration that still meets the QoS then wins even
if it runs longer. A sizer with a :class:`LoadProfile` therefore minimises

    objective = sum_f  held_f * price(config_f) / rate  +  request fees          (USD per request)

where ``rate`` is the forecast workflow requests per second, and ``held_f`` the expected number of containers of
function ``f`` the pool keeps alive (busy ones included) at invocation rate ``lambda_f = rate * calls_f`` with
mean execution time ``d_f`` (measured: the billed busy seconds per invocation, what a platform's metrics show).

``held`` per pool policy (:func:`expected_containers`), with invocations Poisson at ``lambda`` and ``N`` the number
in progress at an instant, ``N ~ Poisson(lambda * d)``. A window of length ``W`` holds about ``1 + W / d`` roughly
independent looks at ``N``, so the window's peak has CDF ``F(k) ** (1 + W / d)`` (``F`` Poisson's CDF; exact for the
event "no invocation in the window", ``k = 0``):

* ``keepalive:<s>`` (fixed keep-alive, no pre-warming): a container lives while it has been busy within the last
  ``s`` seconds, so ``held = E[peak over a window of s + d]``;
* ``aquatope[:q=Q]`` and ``provisioned:q=Q`` (a floor at the ``Q``-quantile of the interval's peak, as
  :mod:`aquatope.prewarm.forecast_pool` computes it): ``held`` = that quantile (0 when fewer than one invocation
  per interval is expected at level ``Q``), or the peak over its half-interval keep-alive if that is larger
  (with ``:keep=auto``, over the hybrid histogram's keep-alive below if that is longer);
* ``oracle`` / ``clairvoyant-interval`` (each interval's true peak): ``held = E[peak over the interval]``;
* ``lower-bound`` / ``clairvoyant-jit`` (a container exactly while an invocation runs): ``held = lambda * d``;
* ``hybrid-histogram``: a keep-alive of the histogram's 99th-percentile idle time (in whole control intervals,
  plus the policy's 10% margin, at most its 4-hour range), from the geometric gap between active intervals;
* ``reactive`` (Knative KPA: concurrency target 1 at 70% utilisation, 60-s stable window, 30-s scale-to-zero
  grace): ``max(lambda * d / 0.7, keepalive:90)``.

These are expectations under Poisson arrivals, not a replay: the pool's own forecasting errors and bursts are not
in them. ``held`` is never below the busy containers ``lambda * d``. The numbers 0.7, 60 s, 30 s are Knative's
documented defaults (container-concurrency-target-percentage, stable-window, scale-to-zero-grace-period); 0.99,
10% and 240 intervals are the hybrid-histogram policy's defaults (:mod:`aquatope.prewarm.histogram`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import poisson

from aquatope.errors import InputError
from aquatope.prewarm.forecast_pool import KEEP_RULES
from aquatope.resources import ResourceConfig

if TYPE_CHECKING:
    from aquatope.sizing.base import Measurement, SizingProblem

POOL_FORMS = (
    "keepalive:<s>",
    "aquatope[:q=Q][:keep=auto]",
    "provisioned:q=Q",
    "oracle",
    "clairvoyant-interval",
    "lower-bound",
    "clairvoyant-jit",
    "hybrid-histogram",
    "reactive",
)
KNATIVE_TARGET_UTILIZATION = 0.7
KNATIVE_KEEP_S = 60.0 + 30.0
"""Stable window plus scale-to-zero grace period (Knative defaults): how long an idle revision keeps a pod."""
HISTOGRAM_TAIL, HISTOGRAM_MARGIN, HISTOGRAM_RANGE = 0.99, 0.10, 240
AQUATOPE_DEFAULT_Q = 0.9
AQUATOPE_KEEP_INTERVALS = 0.5
"""The aquatope pool's defaults (:class:`aquatope.prewarm.ForecastPoolPolicy`): q and keep-alive in intervals."""


@dataclass(frozen=True)
class LoadProfile:
    """The forecast load a configuration will serve: mean workflow requests per second, the pool policy's spec
    (one of :data:`POOL_FORMS`) and the control interval (s) the pool works in."""

    mean_rps: float
    pool: str = "keepalive:600"
    interval_s: float = 60.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean_rps) and self.mean_rps > 0):
            raise InputError(f"must be a finite positive rate, got {self.mean_rps!r}", field="mean_rps")
        if not (math.isfinite(self.interval_s) and self.interval_s > 0):
            raise InputError(
                f"must be a finite positive number of seconds, got {self.interval_s!r}", field="interval_s"
            )
        expected_containers(self.pool, 1.0, 1.0, self.interval_s)  # refuses an unknown pool now, not mid-run

    def to_dict(self) -> dict[str, float | str]:
        return {"mean_rps": self.mean_rps, "pool": self.pool, "interval_s": self.interval_s}


def peak_cdf_power(rate_per_s: float, duration_s: float, window_s: float) -> tuple[float, float]:
    """(Poisson mean of the invocations in progress, number of independent looks in a window of ``window_s``)."""
    return rate_per_s * duration_s, 1.0 + window_s / max(duration_s, 1e-9)


def expected_peak(mean: float, looks: float) -> float:
    """E[max of ``looks`` independent Poisson(``mean``) draws] = sum_k (1 - F(k-1) ** looks)."""
    if mean <= 0:
        return 0.0
    top = int(mean + 12.0 * math.sqrt(mean) + 12.0 + math.log1p(looks) * 4.0)
    cdf = poisson.cdf(np.arange(top), mean)
    with np.errstate(divide="ignore"):
        tail = 1.0 - np.exp(looks * np.log(np.clip(cdf, 1e-300, 1.0)))
    return float(tail.sum())


def quantile_peak(mean: float, looks: float, q: float) -> float:
    """The ``q``-quantile of the max of ``looks`` Poisson(``mean``) draws: the Poisson quantile at ``q ** (1/looks)``."""
    return float(poisson.ppf(q ** (1.0 / looks), mean)) if mean > 0 else 0.0


def _number(spec: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"bad pool {spec!r}: {text!r} is not a number", field="pool") from None
    if not math.isfinite(value):
        raise InputError(f"bad pool {spec!r}: {text!r} is not finite", field="pool")
    return value


def _quantile_arg(spec: str, arg: str, default: float | None) -> float:
    if not arg and default is not None:
        return default
    key, eq, value = arg.partition("=")
    q = _number(spec, value if eq else key)
    if not 0 < q < 1:
        raise InputError(f"bad pool {spec!r}: the quantile must be in (0, 1)", field="pool")
    return q


def _histogram_keep_s(rate_per_s: float, interval_s: float) -> float:
    active = -math.expm1(-rate_per_s * interval_s)  # P(an interval has an invocation)
    if active >= 1.0:
        gap = 1.0
    elif active <= 0.0:
        gap = float(HISTOGRAM_RANGE)
    else:
        gap = math.ceil(math.log(1.0 - HISTOGRAM_TAIL) / math.log1p(-active))
    return min(float(HISTOGRAM_RANGE), (gap + 1.0) * (1.0 + HISTOGRAM_MARGIN)) * interval_s


def expected_containers(pool: str, rate_per_s: float, duration_s: float, interval_s: float = 60.0) -> float:
    """Expected containers of one function held by ``pool`` (module docstring) at ``rate_per_s`` invocations per
    second of mean execution time ``duration_s``; never below the busy ones, ``rate * duration``."""
    spec = pool.strip()
    name, _, arg = spec.partition(":")
    busy = rate_per_s * duration_s
    if name == "keepalive":
        keep_s = _number(spec, arg)
        if keep_s < 0:
            raise InputError(f"bad pool {spec!r}: keep-alive must be >= 0 s", field="pool")
        held = expected_peak(*peak_cdf_power(rate_per_s, duration_s, keep_s + duration_s))
    elif name in ("aquatope", "provisioned"):
        options = arg.split(":") if arg else []
        rules = [o.partition("=")[2] for o in options if name == "aquatope" and o.startswith("keep=")]
        if any(r not in KEEP_RULES for r in rules):
            raise InputError(f"bad pool {spec!r}: keep must be one of {', '.join(KEEP_RULES)}", field="pool")
        learned = "auto" in rules  # the word option, in either order, as the pool's spec takes it
        arg = ":".join(o for o in options if not (name == "aquatope" and o.startswith("keep=")))
        q = _quantile_arg(spec, arg, AQUATOPE_DEFAULT_Q if name == "aquatope" else None)
        present = poisson.ppf(q, rate_per_s * interval_s) >= 1  # at level q, an invocation is coming
        looks = max(1.0, interval_s / max(duration_s, 1e-9))
        floor = quantile_peak(busy, looks, q) if present else 0.0
        keep_s = AQUATOPE_KEEP_INTERVALS * interval_s  # containers beyond the floor, released soon ...
        if learned:  # ... or kept for the learned keep-alive (the hybrid histogram's rule at this rate)
            keep_s = max(keep_s, _histogram_keep_s(rate_per_s, interval_s))
        held = max(floor, expected_peak(*peak_cdf_power(rate_per_s, duration_s, keep_s + duration_s)))
    elif spec in ("oracle", "clairvoyant-interval"):
        held = expected_peak(*peak_cdf_power(rate_per_s, duration_s, interval_s))
    elif spec in ("lower-bound", "clairvoyant-jit"):
        held = busy
    elif spec == "hybrid-histogram":
        keep_s = _histogram_keep_s(rate_per_s, interval_s)
        held = expected_peak(*peak_cdf_power(rate_per_s, duration_s, keep_s + duration_s))
    elif spec == "reactive":
        keep = expected_peak(*peak_cdf_power(rate_per_s, duration_s, KNATIVE_KEEP_S + duration_s))
        held = max(busy / KNATIVE_TARGET_UTILIZATION, keep)
    else:
        raise InputError(f"unknown pool {pool!r}; choose one of {', '.join(POOL_FORMS)}", field="pool")
    return max(held, busy)


def function_cost_usd(
    problem: SizingProblem, function: str, config: ResourceConfig, busy_s_per_request: float
) -> float:
    """What ``function`` at ``config`` costs per workflow request (USD, fees excluded): its busy time at the
    measured ``busy_s_per_request`` without a load, or its share of the pool's expected containers with one."""
    load = problem.load
    if load is None:
        return problem.pricing.container_cost_usd(config, busy_s_per_request)
    calls = problem.workflow.invocations_per_request()[function]
    duration_s = busy_s_per_request / calls
    held = expected_containers(load.pool, load.mean_rps * calls, duration_s, load.interval_s)
    return problem.pricing.container_cost_usd(config, held) / load.mean_rps


def objective_usd(problem: SizingProblem, m: Measurement) -> float:
    """The sizing objective of a measurement (USD per request): measured cost without a load, expected total cost
    (execution + idle at the forecast rate) with one. A measurement without per-function busy times (a replayed
    one) falls back to its measured cost."""
    if problem.load is None or not m.busy_s:
        return m.cost_per_request_usd
    calls = problem.workflow.invocations_per_request()
    fees = problem.pricing.requests_cost_usd(sum(calls.values()))
    return fees + sum(function_cost_usd(problem, f, m.config[f], m.busy_s[f]) for f in problem.functions)
