"""``make_policy`` / ``parse_policies``: policy names on the command line."""

from __future__ import annotations

import pytest

from aquatope.errors import InputError
from aquatope.prewarm import (
    FixedKeepAlive,
    ForecastPoolPolicy,
    HybridHistogramPolicy,
    OraclePolicy,
    make_policy,
    parse_policies,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("keepalive:600", FixedKeepAlive(600.0)),
        ("keepalive:0", FixedKeepAlive(0.0)),
        (" keepalive:1.5 ", FixedKeepAlive(1.5)),
        ("hybrid-histogram", HybridHistogramPolicy()),
        ("aquatope", ForecastPoolPolicy(q=0.9)),
        ("aquatope:q=0.95", ForecastPoolPolicy(q=0.95)),
        ("oracle", OraclePolicy()),
    ],
)
def test_make_policy(spec: str, expected: object) -> None:
    assert make_policy(spec) == expected


def test_names_round_trip() -> None:
    for spec in ("keepalive:600", "hybrid-histogram", "aquatope:q=0.9", "oracle"):
        assert make_policy(spec).name == spec


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "lru",
        "keepalive",
        "keepalive:",
        "keepalive:-1",
        "keepalive:inf",
        "keepalive:abc",
        "aquatope:q=1",
        "aquatope:q=0",
        "aquatope:p=0.5",
        "aquatope:q=",
        "oracle:1",
        "hybrid-histogram:x",
    ],
)
def test_make_policy_refuses(spec: str) -> None:
    with pytest.raises(InputError) as info:
        make_policy(spec)
    assert info.value.field == "--policies"


def test_parse_policies() -> None:
    assert [p.name for p in parse_policies("keepalive:600, oracle")] == ["keepalive:600", "oracle"]
    with pytest.raises(InputError):
        parse_policies(" , ")
    with pytest.raises(InputError):
        parse_policies("oracle,oracle")
