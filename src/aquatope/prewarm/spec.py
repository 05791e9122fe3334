"""Policy names on the command line: ``make_policy("reactive:target=0.5")`` and friends.

Grammar: a spec is a name, optionally followed by ``:``-separated arguments::

    keepalive:<seconds>          fixed keep-alive, no pre-warming (600 = OpenWhisk's default)
    keepalive:auto[:p=<p>]       one keep-alive tuned on the training history; p in (0, 1), default 0.99
    hybrid-histogram[:p=<p>]     Shahrad et al.'s hybrid histogram; p = its keep-alive percentile in (0, 1)
    reactive[:target=<u>]        Knative-KPA-style autoscaler; u = target utilisation in (0, 1], default 0.7
    provisioned[:q=<q>]          provisioned concurrency at the q-quantile in (0, 1] of recent per-minute peaks
    aquatope[:q=<q>][:keep=auto] Aquatope's forecast-quantile pool; q in (0, 1); keep=auto keeps containers above
                                 its floor for the learned keep-alive (a candidate, see forecast_pool)
    clairvoyant-interval         reference: each interval's true peak for the whole interval (alias: oracle)

Each pool takes at most its one ``--pareto`` knob (:mod:`aquatope.prewarm.knobs`), and ``aquatope`` also a word
option. A policy's ``name`` is its canonical spec, so ``make_policy(p.name) == p``: bare when the knob is at its
default, except the quantile pools (``provisioned:q=0.99``, ``aquatope:q=0.9``), whose names always carry ``q``;
``oracle`` is accepted and gives ``clairvoyant-interval``. Anything else is an :class:`~aquatope.errors.InputError`
naming the spec, what is wrong and the accepted forms.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from aquatope.errors import InputError
from aquatope.prewarm.base import PoolPolicy
from aquatope.prewarm.clairvoyant import ClairvoyantIntervalPolicy
from aquatope.prewarm.forecast_pool import KEEP_RULES, ForecastPoolPolicy
from aquatope.prewarm.histogram import HybridHistogramPolicy
from aquatope.prewarm.keepalive import AutoKeepAlive, FixedKeepAlive
from aquatope.prewarm.provisioned import ProvisionedConcurrency
from aquatope.prewarm.reactive import ReactivePolicy

POLICY_FORMS = (
    "keepalive:<seconds>, keepalive:auto[:p=<p>], hybrid-histogram[:p=<p>], reactive[:target=<u>], "
    "provisioned[:q=<q>], aquatope[:q=<q>][:keep=auto], clairvoyant-interval (alias oracle)"
)
ALIASES = {"oracle": "clairvoyant-interval"}


@dataclass(frozen=True)
class _Family:
    """How to build one pool from its options: ``key=value`` sets constructor argument ``argument``, a number in
    ``(0, high]`` (``high_open``: ``(0, high)``); ``choices``: further ``name=word`` options, each a constructor
    argument of the same name taking one of its words."""

    build: Callable[..., PoolPolicy]
    key: str | None = None
    argument: str = ""
    high: float = 1.0
    high_open: bool = True
    choices: tuple[tuple[str, tuple[str, ...]], ...] = ()


FAMILIES: dict[str, _Family] = {
    "keepalive:auto": _Family(AutoKeepAlive, "p", "p"),
    "hybrid-histogram": _Family(HybridHistogramPolicy, "p", "tail_percentile"),
    "reactive": _Family(ReactivePolicy, "target", "target_utilization", high_open=False),
    "provisioned": _Family(ProvisionedConcurrency, "q", "q", high_open=False),
    "aquatope": _Family(ForecastPoolPolicy, "q", "q", choices=(("keep", KEEP_RULES),)),
    "clairvoyant-interval": _Family(ClairvoyantIntervalPolicy),
}


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


def _family(spec: str, parts: list[str]) -> tuple[str, list[str]]:
    """(family name, its option arguments); ``keepalive:<seconds>`` is handled by the caller."""
    name, args = ALIASES.get(parts[0], parts[0]), parts[1:]
    if name == "keepalive":
        if not args or args[0] != "auto":
            raise _bad(spec, "expected keepalive:<seconds> or keepalive:auto")
        name, args = "keepalive:auto", args[1:]
    if name not in FAMILIES:
        raise _bad(spec, f"unknown policy {parts[0]!r}")
    return name, args


def _options(spec: str, name: str, args: list[str]) -> dict[str, float | str]:
    family = FAMILIES[name]
    if family.key is None and args:
        raise _bad(spec, f"{name} takes no options")
    choices = dict(family.choices)
    keys = [family.key, *choices]
    if len(args) > len(keys):
        raise _bad(spec, f"{name} takes at most {len(keys)} option(s): " + ", ".join(f"{k}=<value>" for k in keys))
    out: dict[str, float | str] = {}
    for arg in args:
        key, eq, text = arg.partition("=")
        if key not in keys or not eq:
            raise _bad(spec, f"expected {name}:" + " or ".join(f"{k}=<value>" for k in keys))
        argument = family.argument if key == family.key else key
        if argument in out:
            raise _bad(spec, f"{key} given twice")
        if key in choices:
            if text not in choices[key]:
                raise _bad(spec, f"{key} must be one of {', '.join(choices[key])}, got {text!r}")
            out[argument] = text
            continue
        value = _number(spec, text)
        if not (0 < value < family.high or (value == family.high and not family.high_open)):
            interval = f"(0, {family.high:g}{')' if family.high_open else ']'}"
            raise _bad(spec, f"{family.key} must be in {interval}, got {value:g}")
        out[argument] = value
    return out


def make_policy(spec: str) -> PoolPolicy:
    """The (unwrapped) policy named by ``spec``; wrap it with :class:`~aquatope.prewarm.safety.SafePolicy`."""
    parts = spec.strip().split(":")
    if parts[0] == "keepalive" and len(parts) == 2 and parts[1] != "auto":
        seconds = _number(spec, parts[1])
        if seconds < 0:
            raise _bad(spec, "keep-alive must be >= 0 seconds")
        return FixedKeepAlive(seconds)
    name, args = _family(spec, parts)
    options = _options(spec, name, args)
    try:
        return FAMILIES[name].build(**options)
    except InputError as err:  # a value the policy itself refuses (e.g. a tail percentile below the head's)
        raise _bad(spec, err.message) from None


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
