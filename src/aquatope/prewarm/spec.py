"""Policy names on the command line: ``make_policy("aquatope:q=0.9")`` and friends.

Grammar: ``keepalive:<seconds>`` | ``hybrid-histogram`` | ``aquatope`` | ``aquatope:q=<quantile>`` | ``oracle``.
Anything else is an :class:`~aquatope.errors.InputError` naming the spec and the accepted forms.
"""

from __future__ import annotations

import math

from aquatope.errors import InputError
from aquatope.prewarm.base import PoolPolicy
from aquatope.prewarm.forecast_pool import ForecastPoolPolicy
from aquatope.prewarm.histogram import HybridHistogramPolicy
from aquatope.prewarm.keepalive import FixedKeepAlive
from aquatope.prewarm.oracle import OraclePolicy

POLICY_FORMS = "keepalive:<seconds>, hybrid-histogram, aquatope:q=<quantile in (0,1)>, oracle"


def _bad(spec: str, why: str) -> InputError:
    return InputError(f"bad pool policy {spec!r}: {why}; use one of {POLICY_FORMS}", field="--policies")


def _number(spec: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _bad(spec, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise _bad(spec, f"{text!r} is not finite")
    return value


def make_policy(spec: str) -> PoolPolicy:
    """The (unwrapped) policy named by ``spec``; wrap it with :class:`~aquatope.prewarm.safety.SafePolicy`."""
    text = spec.strip()
    name, _, arg = text.partition(":")
    if name == "keepalive":
        seconds = _number(spec, arg)
        if seconds < 0:
            raise _bad(spec, "keep-alive must be >= 0 seconds")
        return FixedKeepAlive(seconds)
    if name in ("hybrid-histogram", "oracle") and not arg:
        return HybridHistogramPolicy() if name == "hybrid-histogram" else OraclePolicy()
    if name == "aquatope":
        if not arg:
            return ForecastPoolPolicy()
        key, eq, value = arg.partition("=")
        if key != "q" or not eq:
            raise _bad(spec, "expected aquatope:q=<quantile>")
        q = _number(spec, value)
        if not 0 < q < 1:
            raise _bad(spec, "the quantile must be in (0, 1)")
        return ForecastPoolPolicy(q=q)
    raise _bad(spec, "unknown policy")


def parse_policies(text: str) -> list[PoolPolicy]:
    """A comma-separated list of specs; duplicates and an empty list are refused."""
    specs = [s.strip() for s in text.split(",") if s.strip()]
    if not specs:
        raise InputError("no pool policy given", field="--policies")
    policies = [make_policy(s) for s in specs]
    names = [p.name for p in policies]
    if len(set(names)) != len(names):
        raise InputError(f"duplicate policies in {text!r}", field="--policies")
    return policies
