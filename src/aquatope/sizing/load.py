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
* ``aquatope[:q=Q][:keep=R]``: the floor the policy's own rule sets
  (:func:`aquatope.prewarm.forecast_pool.warm_containers`) when its forecast is calibrated: the count's
  ``Q``-quantile ``ppf(Q, lambda * T)`` (``T`` the interval; 0 containers when it is below one invocation),
  survivors of the interval's expected peak concurrency, and at least one container; or the peak over the
  keep-alive of the containers above the floor if that is larger: the pool's ``keep_alive_intervals`` (half an
  interval), with ``keep=auto`` the learned one below if that is longer;
* ``provisioned[:q=Q]``: a floor at the ``Q``-quantile of the interval's peak concurrency (0 when fewer than one
  invocation per interval is expected at level ``Q``), or the peak over the 600 s its on-demand containers above the
  floor live (``on_demand_keep_alive_s``) if that is larger;
* ``oracle`` / ``clairvoyant-interval`` (the true peak of each tick's interval and of the next, which the
  harnesses hand it because a container started at a tick is ready only a cold start later):
  ``held = E[peak over two intervals]``;
* ``lower-bound`` / ``clairvoyant-jit`` (a container exactly while an invocation runs): ``held = lambda * d``;
* ``hybrid-histogram[:p=P]`` and ``keepalive:auto[:p=P]``: a keep-alive of the ``P``-th percentile idle time (in
  whole control intervals, plus the policy's 10% margin, at most its 4-hour range), from the geometric gap between
  active intervals at the function's rate (``keepalive:auto`` fits one keep-alive over every function's history;
  priced per function at its rate, as the histogram would set it);
* ``reactive[:target=U]`` (Knative KPA: concurrency target 1 at utilisation ``U``, 0.7 by default, 60-s stable
  window, 30-s scale-to-zero grace): ``max(lambda * d / U, keepalive:90)``.

Every spec is read by the pool's own grammar (:func:`aquatope.prewarm.make_policy`), and each term takes its
numbers from the policy it builds, so a spec a system runs is priced with its own parameters and defaults.
These are expectations under Poisson arrivals, not a replay: the pool's own forecasting errors and bursts are not
in them, nor Aquatope's onset floor (``rho * last``, which under Poisson arrivals seldom exceeds the count's
``Q``-quantile). ``held`` is never below the busy containers ``lambda * d``. The numbers 0.7, 60 s, 30 s are Knative's
documented defaults (container-concurrency-target-percentage, stable-window, scale-to-zero-grace-period); 0.99,
10% and 240 intervals are the hybrid histogram's (:mod:`aquatope.prewarm.histogram`); all are the policies' own.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.stats import poisson

from aquatope.errors import InputError
from aquatope.prewarm.base import PoolPolicy
from aquatope.prewarm.clairvoyant import ClairvoyantIntervalPolicy
from aquatope.prewarm.forecast_pool import ForecastPoolPolicy, warm_containers
from aquatope.prewarm.histogram import HybridHistogramPolicy
from aquatope.prewarm.keepalive import AutoKeepAlive, FixedKeepAlive
from aquatope.prewarm.provisioned import ProvisionedConcurrency
from aquatope.prewarm.reactive import ReactivePolicy
from aquatope.prewarm.spec import POLICY_FORMS, make_policy
from aquatope.resources import ResourceConfig

if TYPE_CHECKING:
    from aquatope.sizing.base import Measurement, SizingProblem

ORACLE_WINDOWS = 2
"""Intervals whose true peak ``clairvoyant-interval`` holds at each tick: its own and the next (the study and the
pre-warming evaluation both provision one window ahead: ``runner.future_peaks``, ``prewarm_eval``)."""
JIT_POOLS = ("lower-bound", "clairvoyant-jit")
"""Pools that hold a container exactly while an invocation runs (not pool policies: the simulator's instant mode)."""


@dataclass(frozen=True)
class LoadProfile:
    """The forecast load a configuration will serve: mean workflow requests per second, the pool's spec (any spec
    :func:`aquatope.prewarm.make_policy` takes, or one of :data:`JIT_POOLS`) and the control interval (s) the pool
    works in."""

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


@functools.lru_cache(maxsize=64)
def pool_policy(pool: str) -> PoolPolicy | None:
    """The policy ``pool`` names, read by the pool's own grammar (:func:`aquatope.prewarm.make_policy`, so every
    spec a system can run is priced with its own parameters); None for :data:`JIT_POOLS`."""
    spec = pool.strip()
    if spec in JIT_POOLS:
        return None
    try:
        return make_policy(spec)
    except InputError as err:
        why = err.message.partition("; use one of")[0]
        raise InputError(f"{why}; use one of {POLICY_FORMS}, {', '.join(JIT_POOLS)}", field="pool") from None


def histogram_keep_s(rate_per_s: float, interval_s: float, tail: float, margin: float, range_intervals: int) -> float:
    """The hybrid histogram's keep-alive at Poisson ``rate_per_s``: the interval gaps between active intervals are
    geometric, and the keep-alive is the upper edge of the bin holding their ``tail`` percentile plus ``margin``, at
    most ``range_intervals`` intervals."""
    active = -math.expm1(-rate_per_s * interval_s)  # P(an interval has an invocation)
    if active >= 1.0:
        gap = 1.0
    elif active <= 0.0:
        gap = float(range_intervals)
    else:
        gap = math.ceil(math.log(1.0 - tail) / math.log1p(-active))
    return min(float(range_intervals), (gap + 1.0) * (1.0 + margin)) * interval_s


def _auto_keep_s(policy: AutoKeepAlive, rate: float, interval_s: float) -> float:
    """``keepalive:auto``'s keep-alive at one function's rate (the policy fits one over every function's history)."""
    return histogram_keep_s(rate, interval_s, policy.p, policy.margin, policy.range_intervals)


def _floor_pool(policy: ForecastPoolPolicy | ProvisionedConcurrency, rate: float, d: float, interval_s: float) -> float:
    """The pool's floor, or the peak over the keep-alive of the containers above it if that is larger.

    Aquatope's floor is the policy's own rule (:func:`~aquatope.prewarm.forecast_pool.warm_containers`) fed what a
    calibrated forecast would give it under Poisson arrivals: the count's ``q``-quantile ``ppf(q, rate * T)`` and,
    as the interval's observed peak concurrency, its expected value. Provisioned concurrency's floor is the
    ``q``-quantile of the interval's peak (0 when fewer than one invocation per interval is expected at level ``q``).
    """
    count_q = float(poisson.ppf(policy.q, rate * interval_s))
    if isinstance(policy, ProvisionedConcurrency):
        looks = max(1.0, interval_s / max(d, 1e-9))
        floor = quantile_peak(rate * d, looks, policy.q) if count_q >= 1 else 0.0
        keep_s = policy.on_demand_keep_alive_s  # on-demand containers above the provisioned ones
    else:
        in_progress = expected_peak(*peak_cdf_power(rate, d, interval_s))
        floor = float(
            warm_containers(
                np.array([count_q]), np.array([d]), np.array([in_progress]), interval_s, policy.q, policy.presence
            )[0]
        )
        keep_s = policy.keep_alive_intervals * interval_s  # released soon after they fall idle ...
        if policy.keep == "auto":  # ... or kept for the learned keep-alive (the hybrid histogram's rule at the rate)
            keep_s = max(keep_s, _auto_keep_s(AutoKeepAlive(), rate, interval_s))
    return max(floor, expected_peak(*peak_cdf_power(rate, d, keep_s + d)))


def expected_containers(pool: str, rate_per_s: float, duration_s: float, interval_s: float = 60.0) -> float:
    """Expected containers of one function held by ``pool`` (module docstring) at ``rate_per_s`` invocations per
    second of mean execution time ``duration_s``; never below the busy ones, ``rate * duration``."""
    policy = pool_policy(pool)
    rate, d = rate_per_s, duration_s
    busy = rate * d

    def kept(keep_s: float) -> float:
        return expected_peak(*peak_cdf_power(rate, d, keep_s + d))

    if policy is None:
        held = busy
    elif isinstance(policy, FixedKeepAlive):
        held = kept(policy.keep_alive_s)
    elif isinstance(policy, AutoKeepAlive):
        held = kept(_auto_keep_s(policy, rate, interval_s))
    elif isinstance(policy, HybridHistogramPolicy):
        held = kept(histogram_keep_s(rate, interval_s, policy.tail_percentile, policy.margin, policy.range_bins))
    elif isinstance(policy, ReactivePolicy):
        keep = kept(policy.stable_window_s + policy.scale_to_zero_grace_s)
        held = max(busy / (policy.target_utilization * policy.container_concurrency), keep)
    elif isinstance(policy, ForecastPoolPolicy | ProvisionedConcurrency):
        held = _floor_pool(policy, rate, d, interval_s)
    elif isinstance(policy, ClairvoyantIntervalPolicy):  # each tick holds the peak of its interval and the next
        held = expected_peak(*peak_cdf_power(rate, d, ORACLE_WINDOWS * interval_s))
    else:  # a policy the grammar builds but this model has no term for
        raise InputError(f"the load model cannot price pool {pool!r}", field="pool")
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
