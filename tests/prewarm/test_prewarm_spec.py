"""``make_policy`` / ``parse_policies``: policy names on the command line."""

from __future__ import annotations

import pytest

from aquatope.errors import InputError
from aquatope.prewarm import (
    AutoKeepAlive,
    ClairvoyantIntervalPolicy,
    FixedKeepAlive,
    ForecastPoolPolicy,
    HybridHistogramPolicy,
    ProvisionedConcurrency,
    ReactivePolicy,
    make_policy,
    parse_policies,
)


@pytest.mark.parametrize(
    ("spec", "expected", "name"),
    [
        ("keepalive:600", FixedKeepAlive(600.0), "keepalive:600"),
        ("keepalive:0", FixedKeepAlive(0.0), "keepalive:0"),
        (" keepalive:1.5 ", FixedKeepAlive(1.5), "keepalive:1.5"),
        ("keepalive:auto", AutoKeepAlive(), "keepalive:auto"),
        ("keepalive:auto:p=0.99", AutoKeepAlive(), "keepalive:auto"),
        ("keepalive:auto:p=0.9", AutoKeepAlive(p=0.9), "keepalive:auto:p=0.9"),
        ("hybrid-histogram", HybridHistogramPolicy(), "hybrid-histogram"),
        ("hybrid-histogram:p=0.999", HybridHistogramPolicy(tail_percentile=0.999), "hybrid-histogram:p=0.999"),
        ("reactive", ReactivePolicy(), "reactive"),
        ("reactive:target=0.5", ReactivePolicy(target_utilization=0.5), "reactive:target=0.5"),
        ("reactive:target=1", ReactivePolicy(target_utilization=1.0), "reactive:target=1"),
        ("provisioned", ProvisionedConcurrency(), "provisioned:q=0.99"),
        ("provisioned:q=1", ProvisionedConcurrency(q=1.0), "provisioned:q=1"),
        ("aquatope", ForecastPoolPolicy(q=0.9), "aquatope:q=0.9"),
        ("aquatope:q=0.95", ForecastPoolPolicy(q=0.95), "aquatope:q=0.95"),
        ("aquatope:keep=auto", ForecastPoolPolicy(keep="auto"), "aquatope:q=0.9:keep=auto"),
        ("aquatope:keep=auto:q=0.5", ForecastPoolPolicy(q=0.5, keep="auto"), "aquatope:q=0.5:keep=auto"),
        ("aquatope:keep=interval", ForecastPoolPolicy(), "aquatope:q=0.9"),
        ("clairvoyant-interval", ClairvoyantIntervalPolicy(), "clairvoyant-interval"),
        ("oracle", ClairvoyantIntervalPolicy(), "clairvoyant-interval"),  # the former name, kept as an alias
    ],
)
def test_make_policy_and_canonical_names_round_trip(spec: str, expected: object, name: str) -> None:
    policy = make_policy(spec)
    assert policy == expected and policy.name == name
    assert make_policy(policy.name) == policy


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("", "unknown policy"),
        ("lru", "unknown policy 'lru'"),
        ("keepalive", "expected keepalive:<seconds> or keepalive:auto"),
        ("keepalive:", "is not a number"),
        ("keepalive:-1", ">= 0 seconds"),
        ("keepalive:inf", "not finite"),
        ("keepalive:abc", "'abc' is not a number"),
        ("keepalive:600:p=1", "expected keepalive:<seconds> or keepalive:auto"),
        ("keepalive:auto:q=0.9", "expected keepalive:auto:p=<value>"),
        ("keepalive:auto:p=1", "p must be in (0, 1)"),
        ("aquatope:q=1", "q must be in (0, 1)"),
        ("aquatope:q=0", "q must be in (0, 1)"),
        ("aquatope:p=0.5", "expected aquatope:q=<value> or keep=<value>"),
        ("aquatope:q=", "is not a number"),
        ("aquatope:q=0.9:q=0.8", "q given twice"),
        ("aquatope:keep=forever", "keep must be one of interval, auto, got 'forever'"),
        ("aquatope:q=0.9:keep=auto:keep=auto", "takes at most 2 option(s)"),
        ("reactive:keep=auto", "expected reactive:target=<value>"),
        ("provisioned:q=1.5", "q must be in (0, 1]"),
        ("reactive:target=0", "target must be in (0, 1]"),
        ("reactive:stable=60", "expected reactive:target=<value>"),
        ("hybrid-histogram:x", "expected hybrid-histogram:p=<value>"),
        ("hybrid-histogram:p=0.01", "head < tail"),  # the policy's own check, reported for the spec
        ("oracle:1", "clairvoyant-interval takes no options"),
        ("clairvoyant-interval:q=0.5", "takes no options"),
    ],
)
def test_make_policy_refuses_with_a_clear_reason(spec: str, why: str) -> None:
    with pytest.raises(InputError) as info:
        make_policy(spec)
    assert info.value.field == "--policies"
    assert why in info.value.message and repr(spec) in info.value.message
    assert "use one of keepalive:<seconds>" in info.value.message


def test_parse_policies() -> None:
    names = [p.name for p in parse_policies("keepalive:600, reactive, oracle")]
    assert names == ["keepalive:600", "reactive", "clairvoyant-interval"]
    with pytest.raises(InputError):
        parse_policies(" , ")
    with pytest.raises(InputError):
        parse_policies("oracle,clairvoyant-interval")  # the same policy twice
