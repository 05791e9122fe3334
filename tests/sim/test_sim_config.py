"""SimConfig: valid defaults, every bad field refused by name, and reading one from a JSON file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from aquatope.errors import InputError
from aquatope.resources import Pricing
from aquatope.sim.config import SimConfig, load_sim_config, sim_config_from_dict


def test_defaults_are_valid_and_documented() -> None:
    c = SimConfig()
    d = c.to_dict()
    assert {k: d[k] for k in ("invokers", "invoker_cpu", "invoker_memory_mb", "arrival_mode", "pricing")} == {
        "invokers": 96,
        "invoker_cpu": 64.0,
        "invoker_memory_mb": 262144,
        "arrival_mode": "poisson",
        "pricing": "cloud-run",
    }
    # every source of uncertainty is off by default (the calm world)
    assert d["cpu_overcommit"] == 1.0 and d["slowdowns"] == []
    off = ("transfer_ms", "transfer_mb_per_s", "interference", "interference_memory", "cold_start_storm")
    assert all(d[k] == 0.0 for k in (*off, "diurnal_amplitude", "neighbour_rate_per_h", "heavy_tail_prob"))
    assert not c.contention and not c.drift
    assert SimConfig.__doc__ is not None and all(k in SimConfig.__doc__ for k in d)
    assert c.prices == Pricing.cloud_run()
    assert SimConfig(pricing="aws-lambda").prices == Pricing.aws_lambda()


def test_to_dict_round_trips() -> None:
    c = SimConfig(invokers=2, invoker_cpu=8, transfer_ms=5.0, interference=0.3, arrival_mode="uniform")
    assert sim_config_from_dict(c.to_dict()) == c
    assert sim_config_from_dict(json.loads(json.dumps(c.to_dict()))) == c


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        SimConfig().invokers = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invokers", 0),
        ("invokers", -1),
        ("invokers", 1.5),
        ("invokers", True),
        ("invokers", "4"),
        ("invoker_cpu", 0),
        ("invoker_cpu", -2.0),
        ("invoker_cpu", math.nan),
        ("invoker_cpu", True),
        ("invoker_cpu", "8"),
        ("invoker_memory_mb", 0),
        ("invoker_memory_mb", -1024),
        ("invoker_memory_mb", None),
        ("transfer_ms", -1.0),
        ("transfer_ms", math.inf),
        ("transfer_ms", math.nan),
        ("transfer_ms", "5"),
        ("interference", -0.1),
        ("interference", math.nan),
        ("interference", False),
        ("arrival_mode", "random"),
        ("arrival_mode", "Poisson"),
        ("pricing", "azure"),
    ],
)
def test_each_bad_field_is_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(InputError) as info:
        SimConfig(**{field: value})
    assert info.value.field == field
    assert f"field '{field}'" in str(info.value)


def test_from_dict_refuses_unknown_keys_and_non_objects() -> None:
    with pytest.raises(InputError, match="unknown parameter") as info:
        sim_config_from_dict({"invokers": 2, "cpus": 4}, source="c.json")
    assert (info.value.field, info.value.source) == ("cpus", "c.json")
    with pytest.raises(InputError, match="JSON object"):
        sim_config_from_dict([1, 2], source="c.json")


def test_load_defaults_without_a_file() -> None:
    assert load_sim_config(None) == SimConfig()
    assert load_sim_config("default") == SimConfig()


def test_load_from_a_json_file_keeps_defaults_for_missing_fields(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"invokers": 2, "invoker_cpu": 4, "pricing": "aws-lambda"}))
    assert load_sim_config(path) == SimConfig(invokers=2, invoker_cpu=4, pricing="aws-lambda")
    assert load_sim_config(str(path)) == load_sim_config(path)


def test_malformed_json_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text('{\n  "invokers": 2,\n  "invoker_cpu": ,\n}\n')
    with pytest.raises(InputError, match="malformed JSON") as info:
        load_sim_config(path)
    assert (info.value.source, info.value.line) == (str(path), 3)
    assert str(info.value).startswith(f"{path}:3: ")


def test_unknown_key_in_a_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text('{"invokers": 2, "invoker_gpus": 1}')
    with pytest.raises(InputError, match="unknown parameter") as info:
        load_sim_config(path)
    assert (info.value.source, info.value.field) == (str(path), "invoker_gpus")


def test_bad_value_in_a_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text('{"transfer_ms": -5}')
    with pytest.raises(InputError, match=r"must be a number in \[0, 60000\]") as info:
        load_sim_config(path)
    assert (info.value.source, info.value.field) == (str(path), "transfer_ms")


def test_missing_file_and_non_object(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="simulator config not found") as info:
        load_sim_config(tmp_path / "nope.json")
    assert info.value.source == str(tmp_path / "nope.json")
    path = tmp_path / "list.json"
    path.write_text("[96, 64]")
    with pytest.raises(InputError, match="JSON object") as info:
        load_sim_config(path)
    assert info.value.source == str(path)
