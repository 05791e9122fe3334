"""The answer rule every measured sizer shares: which measured configuration is the answer, and how sure we are.

A configuration's QoS percentile is judged from *all* its measurements pooled, with a margin derived from the
measured noise (not a fixed number of standard errors of a sample quantile, which on 10-20 requests of a p95 is
dominated by one or two stragglers). The model behind it, on log latencies:

    log latency of request i of configuration c  =  loc(c) + e_i

``loc(c)`` is the configuration's mean log latency, estimated from its own requests; the shape of ``e`` (a
multiplicative noise: lognormal jitter, stragglers, a noisy neighbour's heavy tail) is taken to be the same for
every configuration of the workflow and is estimated from the residuals of every measurement in the history
(each request's log latency minus the mean of the other requests of its evaluation).
Then

    upper(c) = loc(c) + the ANSWER_CONFIDENCE-quantile of  (V + sqrt(sd**2 / n(c) + tau**2 (1 + 1 / m(c))) * z)

with ``sd`` the pooled residuals' standard deviation, ``n(c)`` the requests of ``c`` over ``m(c)`` evaluations,
``z`` standard normal (the error of ``loc(c)``, and where the check will run), ``tau`` the spread of a
configuration's mean from one evaluation to the next beyond its requests' noise (:func:`between_evaluations`: 0 when
repeats agree, as on a staging world; on a live cluster each evaluation lands on other invokers at another moment of
the tenants' load, and so will the check), and ``V`` the QoS quantile of a verification of :data:`VERIFY_REQUESTS`
requests' residuals, drawn by a two-level bootstrap: resample the ``N`` pooled residuals (what the noise might be,
given what was measured), then draw the verification's residuals from that resample (what one check of it might
show). An answer should pass a fresh measurement of that many requests with probability :data:`ANSWER_CONFIDENCE`,
not only have a true percentile under the target (an answer whose true p95 equals the target fails half of such
checks, and half of the one-minute windows of that many requests in production). ``tail``, the QoS quantile of the
pooled residuals, is the centre of ``V``.

*Why a bootstrap.* The normal approximation of a sample quantile's standard error (``sd * sqrt(q (1 - q) / n) /
phi(z_q)``) assumes a density around the quantile that a thin or gapped distribution does not have: where a few
percent of runs are much slower (a cluster of slow runs in SeBS's measured distributions, or a heavy tail that one
request in thirty reaches, as in sebs-media in ``noisy``) the p95 of 200 requests lands in the bulk or in the slow
runs by chance, and how often depends on a share of slow runs that the tuning measurements only estimate. There the
normal approximation gave a margin of 0.066-0.088 in log (80 and 20 requests, 360 pooled residuals) where the
bootstrap gives 0.147-0.159, and answers judged with it failed a fresh 200-request check about a quarter of the time
(``tests/sizing/test_answer.py`` has a case with a 4% slow cluster: 77% of fresh checks passed with the normal
margin, 93.5% with this one). For normal noise the two agree. The rule still assumes one noise shape per workflow;
where the tail differs between configurations (SeBS's distributions per memory size) the pooled tail is too light
for some of them. Two other noise models were tested and not adopted (``SizingProblem.rule``,
:data:`~aquatope.sizing.base.ANSWER_RULES`): ``evident-tau`` and ``one-level``.
``c`` meets the QoS when ``exp(upper(c)) <= target`` and none of its requests failed. The answer is the
configuration that meets it with the lowest objective (:meth:`SizingProblem.objective_usd`, averaged over its
measurements), as its latest kept measurement; None when nothing does.

*Disturbed measurements.* A noisy neighbour only ever slows a function down. When a configuration has several
measurements, one whose median log latency exceeds the reference's (the faster of two; the median one of three or
more) by more than :data:`DISPUTE_Z` standard errors of the difference is taken as disturbed: it is kept in the
history but not pooled (:func:`disturbed`; medians and a robust spread, so that one heavy-tailed request does not
make a clean measurement look disturbed). A genuine step change in performance within one sizing run would be
hidden by this rule; re-tunes start a fresh run.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aquatope.sizing.base import ConfigKey, History, Measurement, SizingProblem, WorkflowConfig, config_key

ANSWER_CONFIDENCE = 0.95
"""One-sided confidence that an answer's true percentile meets the target: the share of answers that must meet
the QoS when measured again (issue #13's target, >= 95%), not a value tuned on results."""
BOOTSTRAP_DRAWS = 1000
"""Bootstrap draws behind the margin (the 95% quantile of 1,000 draws has a standard error of about 0.7
percentage points of probability); drawn from a generator with a fixed seed, so a history is always judged the
same way."""
VERIFY_REQUESTS = 200
"""Requests of the re-measurement an answer must pass (``experiments.tuning.FRESH_SAMPLES``, what
``aquatope tune --compare`` and ``bench/tune_eval.py`` verify answers with)."""
DISPUTE_Z = 3.29
"""Two measurements of one configuration disagree beyond noise at 3.29 standard errors (a two-sided 0.1% false
alarm per pair: over a 20-evaluation run a false dispute stays below about 2%)."""
MEDIAN_SE = 1.2533
"""The median of ``k`` requests has standard error ``MEDIAN_SE * spread / sqrt(k)``, ``spread`` the robust scale of
the residuals (normal theory: sqrt(pi / 2), rounded); wherever measurements are compared by their medians."""


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """The shape of the log-latency noise pooled over a history: its QoS-quantile ``tail``, its ``sd``, the number
    of pooled residuals, and the draws behind the margin (module docstring): ``checks`` holds ``V - tail`` per
    bootstrap draw, ``z`` the standard normal draws of the location's error."""

    tail: float
    sd: float
    pooled: int
    quantile: float
    checks: np.ndarray
    z: np.ndarray
    tau: float = 0.0

    def margin(self, n: int | np.ndarray, m: int = 1) -> np.ndarray:
        """Log margin above ``loc + tail`` for a configuration measured with ``n`` requests over ``m`` evaluations
        (elementwise in ``n``)."""
        n_arr = np.maximum(np.asarray(n, dtype=float), 1.0)
        values, inverse = np.unique(n_arr, return_inverse=True)
        spread = [math.sqrt(self.sd**2 / v + self.tau**2 * (1.0 + 1.0 / max(m, 1))) for v in values]
        per_n = [float(np.quantile(self.checks + s * self.z, ANSWER_CONFIDENCE)) for s in spread]
        return np.asarray(per_n)[inverse].reshape(n_arr.shape)

    def upper(self, loc: float, n: int, m: int = 1) -> float:
        """Judged log percentile of a configuration with mean log latency ``loc`` over ``n`` requests in ``m``
        evaluations."""
        return loc + self.tail + float(self.margin(n, m))

    def threshold(self, log_qos: float, n: int | np.ndarray, m: int = 1) -> np.ndarray:
        """The largest mean log latency that passes the rule with ``n`` requests in ``m`` evaluations
        (elementwise in ``n``; a candidate not yet measured will have one)."""
        return log_qos - self.tail - self.margin(n, m)


def check_quantile(quantile: float, requests: int = VERIFY_REQUESTS, confidence: float = ANSWER_CONFIDENCE) -> float:
    """The quantile level a configuration's true latency distribution must meet the target at so that a check of
    ``requests`` independent requests passes (its sample ``quantile``, numpy's linear interpolation, at or under the
    target) with probability ``confidence``: the smallest ``F(target)`` with ``P(Binomial(requests, F) >= m) >=
    confidence``, ``m = floor((requests - 1) quantile) + 1`` the requests at or under the target that put the lower
    of the two interpolated order statistics there (the interpolation weight on the upper one is small: 0.05 for a
    p95 of 200). For a p95 checked on 200 requests at 95%: 0.9689, i.e. a configuration must have its true p96.9
    under the target. Used to score sizers against the cheapest configuration that can pass the
    check they are held to (``bench/tune_eval.py``), not by the rule itself."""
    from scipy.optimize import brentq
    from scipy.stats import binom

    need = math.floor((requests - 1) * quantile) + 1
    if need > requests:
        return 1.0
    return float(brentq(lambda f: binom.sf(need - 1, requests, f) - confidence, quantile / 2, 1.0))


def verification_quantiles(
    e: np.ndarray, q: float, n: int, rng: np.random.Generator, pool: float | None = None
) -> np.ndarray:
    """The ``q``-quantile of ``n`` values drawn from a resample of ``e`` (two-level bootstrap), once per draw of
    :data:`BOOTSTRAP_DRAWS`. The resample has ``e.size`` values, or ``pool``: the uncertainty about the noise shape
    that a pool of that many residuals of the same shape would leave, none at all for ``math.inf`` (the ``n``
    values drawn from ``e`` itself: a one-level bootstrap). ``pool`` is a sizer's look ahead at the rule's margin;
    the rule itself always uses ``e.size``. Only the resample's slots that the ``n`` draws hit are materialised: a
    slot drawn twice gives the same value twice, which is what ties the draws to one resample."""
    if pool is not None and math.isinf(pool):
        return np.quantile(e[rng.integers(e.size, size=(BOOTSTRAP_DRAWS, n))], q, axis=1)
    size = e.size if pool is None else max(int(pool), 1)
    slots = rng.integers(size, size=(BOOTSTRAP_DRAWS, n))
    keys = slots + size * np.arange(BOOTSTRAP_DRAWS)[:, None]
    unique, inverse = np.unique(keys, return_inverse=True)
    values = e[rng.integers(e.size, size=unique.size)][inverse.reshape(slots.shape)]
    return np.quantile(values, q, axis=1)


def log_samples(m: Measurement) -> np.ndarray:
    """Log latencies of the requests of ``m`` that did not fail."""
    lat = m.latency_ms[np.isfinite(m.latency_ms)]
    return np.log(np.maximum(lat, 1e-6))


def residuals(m: Measurement) -> np.ndarray:
    """Each request's log latency minus the mean of the *other* requests of its measurement (empty for a failed or
    one-request measurement). Leaving the request out keeps a straggler from pulling its own centre up, which
    shrank the tail by about 0.01 in log on 10-request measurements; the extra spread of the centre (variance
    sd**2 / (k - 1)) errs on the safe side."""
    x = log_samples(m)
    if m.failed or x.size < 2:
        return np.empty(0)
    return x - (x.sum() - x) / (x.size - 1)


def noise_model(measurements: Sequence[Measurement], quantile: float, pool: float | None = None) -> NoiseModel | None:
    """The pooled noise shape of ``measurements`` (None when none has two requests that did not fail); ``pool``
    (:func:`verification_quantiles`) only for a sizer's look ahead, never for judging."""
    pooled = [r for m in measurements if (r := residuals(m)).size]
    if not pooled:
        return None
    e = np.concatenate(pooled)
    sd = float(e.std(ddof=1)) if e.size > 1 else 0.0
    tail = float(np.quantile(e, quantile))
    rng = np.random.default_rng(0)
    checks = verification_quantiles(e, quantile, VERIFY_REQUESTS, rng, pool) - tail
    return NoiseModel(tail, sd, int(e.size), quantile, checks, rng.standard_normal(BOOTSTRAP_DRAWS))


def disturbed(ms: Sequence[Measurement], spread: float) -> list[bool]:
    """Per measurement of one configuration: disturbed, i.e. its median log latency exceeds the reference's by
    more than DISPUTE_Z standard errors of the difference of two medians (``MEDIAN_SE * spread * sqrt(1/k1 + 1/k2)``,
    ``spread`` a robust scale of the pooled residuals). The reference is the fastest measurement when there are
    two (a neighbour slows down, it does not speed up) and the median one when there are more (a majority: a
    measurement that was fast by luck does not outvote two that agree). Failed measurements are never disturbed."""
    if len(ms) < 2 or spread <= 0:
        return [False] * len(ms)
    meds = [float(np.median(log_samples(m))) if m.failed == 0 and m.k else math.inf for m in ms]
    order = np.argsort(meds)
    ref = int(order[0]) if len(ms) == 2 else int(order[(len(ms) - 1) // 2])
    out = []
    for i, m in enumerate(ms):
        se = MEDIAN_SE * spread * math.sqrt(1.0 / max(m.k, 1) + 1.0 / max(ms[ref].k, 1))
        out.append(m.failed == 0 and meds[i] - meds[ref] > DISPUTE_Z * se)
    return out


def robust_spread(measurements: Sequence[Measurement]) -> float:
    """1.4826 x the median absolute deviation of the pooled residuals: the spread of the bulk of the noise, which
    one heavy-tailed request in ten does not inflate (0 with too few residuals)."""
    pooled = [r for m in measurements if (r := residuals(m)).size]
    if not pooled:
        return 0.0
    e = np.concatenate(pooled)
    return float(1.4826 * np.median(np.abs(e - np.median(e))))


@dataclass(frozen=True)
class Judgement:
    """One configuration judged on its kept measurements (``kept``; ``dropped``: disturbed ones)."""

    config: WorkflowConfig
    kept: tuple[Measurement, ...]
    dropped: tuple[Measurement, ...]
    requests: int
    failed: bool
    loc: float
    upper_ms: float
    objective_usd: float
    feasible: bool

    @property
    def latest(self) -> Measurement:
        return self.kept[-1]


def group(history: History) -> dict[ConfigKey, list[Measurement]]:
    """Measurements per configuration, in the order observed."""
    groups: dict[ConfigKey, list[Measurement]] = {}
    for m in history.items:
        groups.setdefault(config_key(m.config), []).append(m)
    return groups


def judge_all(problem: SizingProblem, history: History) -> dict[ConfigKey, Judgement]:
    """Every measured configuration judged by the rule (module docstring)."""
    groups = group(history)
    spread = robust_spread(history.items)
    flags = {key: disturbed(ms, spread) for key, ms in groups.items()}
    clean = [m for key, ms in groups.items() for m, bad in zip(ms, flags[key], strict=True) if not bad]
    noise = noise_model(clean, problem.quantile, rule_pool(problem))
    if noise is not None:
        kept = [[m for m, bad in zip(ms, flags[key], strict=True) if not bad] for key, ms in groups.items()]
        noise = dataclasses.replace(noise, tau=rule_tau(problem, kept, spread))
    return {key: _judge(problem, ms, flags[key], noise) for key, ms in groups.items()}


def rule_pool(problem: SizingProblem) -> float | None:
    """The pool of :func:`noise_model` that ``problem``'s rule judges with: None (two-level) but for the rule
    ``one-level`` (``math.inf``: the pooled shape taken as known; tested, not adopted)."""
    return math.inf if problem.rule == "one-level" else None


def rule_tau(problem: SizingProblem, groups: Sequence[Sequence[Measurement]], spread: float) -> float:
    """The between-evaluation spread ``problem``'s rule judges with (:func:`between_evaluations`; only where it is
    evident for the rule ``evident-tau``, tested, not adopted)."""
    return between_evaluations(groups, spread, evident=problem.rule == "evident-tau")


def between_evaluations(groups: Sequence[Sequence[Measurement]], spread: float, evident: bool = False) -> float:
    """The spread ``tau`` (log) of a configuration's latency from one evaluation to the next beyond its requests'
    noise, from the configurations measured more than once (DerSimonian-Laird moments: 0 when repeats agree within
    noise, as they do on a staging world of one placement; more on a live cluster, where each evaluation lands on
    other invokers at another moment of the tenants' load). A placement moves the whole distribution, so each
    evaluation is located by its median log latency, with variance ``(MEDIAN_SE spread)**2 / k`` (``spread`` a robust
    scale of the pooled residuals, :func:`robust_spread`, as in :func:`disturbed`). Means would not do: one request
    in a heavy tail moves the mean of 20 requests by several of the standard errors that normal theory gives it
    (in ``noisy``, a repeat whose two slowest requests were 2-3x slower moved the mean by 3.2 of them and gave
    tau 0.11, doubling every configuration's margin, while the two medians agreed). Failed and one-request
    measurements are skipped. ``evident`` (the rule ``evident-tau``): 0 unless the repeats' heterogeneity is shown
    at the rule's confidence, Cochran's Q above its chi-square quantile :data:`ANSWER_CONFIDENCE` (with no spread
    beyond noise, one pair of repeats makes the moment estimate positive about a third of the time)."""
    if not spread > 0:  # no spread within requests (e.g. a deterministic platform): nothing to compare against
        return 0.0
    q = df = c = 0.0
    for ms in groups:
        xs = [
            (float(np.median(log_samples(m))), m.k / (MEDIAN_SE * spread) ** 2) for m in ms if not m.failed and m.k > 1
        ]
        if len(xs) < 2:
            continue
        w = np.array([wt for _, wt in xs])
        x = np.array([v for v, _ in xs])
        centre = float(np.sum(w * x) / w.sum())
        q += float(np.sum(w * (x - centre) ** 2))
        df += len(xs) - 1
        c += float(w.sum() - np.sum(w**2) / w.sum())
    if evident and df > 0:
        from scipy.stats import chi2

        if q <= float(chi2.ppf(ANSWER_CONFIDENCE, df)):
            return 0.0
    return math.sqrt(max(0.0, (q - df) / c)) if c > 0 else 0.0


def _judge(problem: SizingProblem, ms: list[Measurement], bad: list[bool], noise: NoiseModel | None) -> Judgement:
    kept = tuple(m for m, b in zip(ms, bad, strict=True) if not b)
    dropped = tuple(m for m, b in zip(ms, bad, strict=True) if b)
    failed = any(m.failed for m in kept)
    requests = sum(m.k for m in kept)
    weights = np.array([m.k for m in kept], dtype=float)
    objective = float(np.average([problem.objective_usd(m) for m in kept], weights=weights))
    if failed or noise is None:
        return Judgement(kept[-1].config, kept, dropped, requests, failed, math.inf, math.inf, objective, False)
    loc = float(np.concatenate([log_samples(m) for m in kept]).mean())
    upper = math.exp(noise.upper(loc, requests, len(kept)))
    return Judgement(kept[-1].config, kept, dropped, requests, False, loc, upper, objective, upper <= problem.qos_ms)


def answer(problem: SizingProblem, history: History) -> Measurement | None:
    """The answer: the configuration judged feasible with the lowest objective, as its latest kept measurement."""
    feasible = [j for j in judge_all(problem, history).values() if j.feasible]
    return min(feasible, key=lambda j: j.objective_usd).latest if feasible else None
