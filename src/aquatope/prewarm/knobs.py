"""One knob per pool that trades cost for cold starts, and the values ``--pareto`` sweeps it over.

Every sweep is fixed a priori, never chosen by looking at results: the imitated system's own default at the
centre and a symmetric grid around it, two steps either side:

* seconds (``keepalive``): x / 2 and x / 4 on a log scale (150, 300, 600, 1200, 2400 around OpenWhisk's 600 s);
* fractions (quantiles, percentiles, utilisation): the odds ``v / (1 - v)`` times / divided by 3 and 9, which keeps
  a grid inside (0, 1) and symmetric on the logit scale (around 0.9: 0.5, 0.75, 0.9, 0.964, 0.988), rounded to
  three significant digits.

==================  ==========  =======================================================  ========================
pool                parameter   default and where it comes from                          raising it ...
==================  ==========  =======================================================  ========================
keepalive           seconds     600: OpenWhisk's keep-alive                              more warm (cost up)
keepalive:auto      p           0.99: the hybrid histogram's keep-alive percentile       more warm
hybrid-histogram    p           0.99: Shahrad et al.'s keep-alive (tail) percentile      more warm
reactive            target      0.7: Knative's container-concurrency-target-percentage   fewer warm (cost down)
provisioned         q           0.99: our reading of AWS's "usually peaks" (module doc)  more warm
aquatope            q           ``ForecastPoolPolicy``'s default                         more warm
==================  ==========  =======================================================  ========================

References (``clairvoyant-interval``) have no knob. :func:`policy_with_knob` writes the spec of a pool at one knob
value; :func:`knob_for` finds the knob of a spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aquatope.errors import InputError
from aquatope.prewarm.forecast_pool import ForecastPoolPolicy
from aquatope.prewarm.histogram import TAIL_PERCENTILE
from aquatope.prewarm.keepalive import AUTO_KEEP_ALIVE_P, OPENWHISK_KEEP_ALIVE_S
from aquatope.prewarm.provisioned import ProvisionedConcurrency
from aquatope.prewarm.reactive import KNATIVE_TARGET_UTILIZATION
from aquatope.prewarm.spec import ALIASES, make_policy

STEPS = 2
SECONDS_FACTOR = 2.0
ODDS_FACTOR = 3.0


def seconds_grid(default_s: float) -> tuple[float, ...]:
    """``default_s * 2**k`` for ``k = -2 .. 2``."""
    return tuple(default_s * SECONDS_FACTOR**k for k in range(-STEPS, STEPS + 1))


def odds_grid(default: float) -> tuple[float, ...]:
    """The fractions whose odds are ``odds(default) * 3**k`` for ``k = -2 .. 2``, to three significant digits."""
    odds = default / (1.0 - default)
    values = (odds * ODDS_FACTOR**k for k in range(-STEPS, STEPS + 1))
    return tuple(float(f"{o / (1.0 + o):.3g}") for o in values)


@dataclass(frozen=True)
class Knob:
    """A pool's knob: the spec key it sets (``seconds`` is the bare ``keepalive:<seconds>``), its default, the
    sweep, and whether raising it keeps more containers warm (more cost, fewer cold starts)."""

    pool: str
    parameter: str
    default: float
    values: tuple[float, ...]
    more_warm_when_higher: bool
    source: str

    def spec(self, value: float) -> str:
        """The pool's canonical spec (its policy's name) at ``value``; a value the pool refuses is an InputError."""
        key = "" if self.parameter == "seconds" else f"{self.parameter}="
        return make_policy(f"{self.pool}:{key}{value:g}").name


KNOBS: dict[str, Knob] = {
    k.pool: k
    for k in (
        Knob(
            "keepalive",
            "seconds",
            OPENWHISK_KEEP_ALIVE_S,
            seconds_grid(OPENWHISK_KEEP_ALIVE_S),
            True,
            "OpenWhisk's default keep-alive (10 min)",
        ),
        Knob(
            "keepalive:auto",
            "p",
            AUTO_KEEP_ALIVE_P,
            odds_grid(AUTO_KEEP_ALIVE_P),
            True,
            "the hybrid histogram's keep-alive percentile of idle times (Shahrad et al., ATC '20)",
        ),
        Knob(
            "hybrid-histogram",
            "p",
            TAIL_PERCENTILE,
            odds_grid(TAIL_PERCENTILE),
            True,
            "the 99th-percentile keep-alive window of Shahrad et al., ATC '20",
        ),
        Knob(
            "reactive",
            "target",
            KNATIVE_TARGET_UTILIZATION,
            odds_grid(KNATIVE_TARGET_UTILIZATION),
            False,
            "Knative's container-concurrency-target-percentage default (70%)",
        ),
        Knob(
            "provisioned",
            "q",
            ProvisionedConcurrency().q,
            odds_grid(ProvisionedConcurrency().q),
            True,
            "the usual per-minute peak of AWS's provisioned-concurrency guidance, read as the 99th percentile",
        ),
        Knob(
            "aquatope",
            "q",
            ForecastPoolPolicy().q,
            odds_grid(ForecastPoolPolicy().q),
            True,
            "the default quantile of Aquatope's pool",
        ),
    )
}


def knob_for(spec: str) -> Knob:
    """The knob of the pool named by ``spec`` (any of its forms); references have none."""
    parts = spec.strip().split(":")
    name = ALIASES.get(parts[0], parts[0])
    if name == "keepalive" and len(parts) > 1 and parts[1] == "auto":
        name = "keepalive:auto"
    if name not in KNOBS:
        known = ", ".join(KNOBS)
        raise InputError(f"pool {spec!r} has no knob to sweep (pools with one: {known})", field="--pareto")
    make_policy(spec)  # the spec itself must be valid
    return KNOBS[name]


def policy_with_knob(spec: str, value: float) -> str:
    """``spec`` with its knob set to ``value``, e.g. ``("reactive", 0.5) -> "reactive:target=0.5"``."""
    if not math.isfinite(value):
        raise InputError(f"knob value must be finite, got {value}", field="--pareto")
    knob = knob_for(spec)
    words = [a for a in spec.strip().split(":")[1:] if not a.startswith(f"{knob.parameter}=") and "=" in a]
    if knob.parameter == "seconds" or not words:
        return knob.spec(value)
    return make_policy(":".join([knob.spec(value), *words])).name  # word options (aquatope's keep=) are kept
