from __future__ import annotations

import numpy as np
import pytest

from aquatope.errors import InputError
from aquatope.resources import LAMBDA_MB_PER_VCPU, Pricing, ResourceConfig, ResourceSpace


def test_config_validates_and_normalizes() -> None:
    c = ResourceConfig(0.30000000000000004, 1024.4)  # type: ignore[arg-type]
    assert c == ResourceConfig(0.3, 1024)
    assert c.memory_gb == 1.0
    for bad in ((0, 128), (-1, 128), (1, 0), (float("nan"), 128), (1, -5), (1, float("inf")), (1e300, 128), (1, 2**21)):
        with pytest.raises(InputError):
            ResourceConfig(*bad)  # type: ignore[arg-type]


def test_config_from_dict_names_field() -> None:
    assert ResourceConfig.from_dict({"cpu": 2, "memory_mb": 512}) == ResourceConfig(2.0, 512)
    with pytest.raises(InputError, match="fn.resources.cpu"):
        ResourceConfig.from_dict({"cpu": -1, "memory_mb": 512}, field="fn.resources")
    with pytest.raises(InputError, match="memory_mb"):
        ResourceConfig.from_dict({"cpu": 1})
    with pytest.raises(InputError, match="unknown keys"):
        ResourceConfig.from_dict({"cpu": 1, "memory_mb": 128, "gpu": 1})
    for value in (float("inf"), float("nan"), 1e300):  # inf used to overflow round()
        with pytest.raises(
            InputError, match=r"field 'f\.memory_mb': must be a positive number of MB, at most 1\.04858e\+06"
        ):
            ResourceConfig.from_dict({"cpu": 1, "memory_mb": value}, field="f")


def test_decoupled_space_defaults() -> None:
    space = ResourceSpace.decoupled()
    assert space.dims == 2
    assert space.cpu_values[0] == 0.1 and space.cpu_values[-1] == 8.0 and len(space.cpu_values) == 80
    assert space.memory_values_mb[0] == 128 and space.memory_values_mb[-1] == 10240
    assert space.size() == 80 * len(space.memory_values_mb)
    assert space.nearest(ResourceConfig(0.33, 1000)) == ResourceConfig(0.3, 1024)
    assert space.nearest(ResourceConfig(20, 99999)) == ResourceConfig(8.0, 10240)


def test_unit_cube_round_trip() -> None:
    space = ResourceSpace.decoupled()
    rng = np.random.default_rng(1)
    for c in rng.choice(np.array(space.configs(), dtype=object), size=50):
        assert space.from_unit(space.to_unit(c)) == c
    assert space.from_unit([0, 0]) == ResourceConfig(0.1, 128)
    assert space.from_unit([1, 1]) == ResourceConfig(8.0, 10240)
    assert space.from_unit([-3, 7]) == ResourceConfig(0.1, 10240)  # clipped into the cube


def test_coupled_space_ties_cpu_to_memory() -> None:
    space = ResourceSpace.coupled()
    assert space.dims == 1
    c = space.nearest(ResourceConfig(4, 1769))
    assert c.memory_mb == 1792 and c.cpu == pytest.approx(1792 / LAMBDA_MB_PER_VCPU, abs=1e-4)
    listed = ResourceSpace.coupled([128, 512, 1024, 3008])
    assert listed.size() == 4
    assert listed.from_unit([0.5]).memory_mb in (512, 1024)
    assert [cfg.memory_mb for cfg in listed.configs()] == [128, 512, 1024, 3008]
    assert listed.contains(listed.configs()[2])


def test_named_spaces_and_errors() -> None:
    assert ResourceSpace.named("coupled").kind == "coupled"
    with pytest.raises(InputError, match="unknown resource space"):
        ResourceSpace.named("gpu")
    with pytest.raises(InputError):
        ResourceSpace.coupled([128, -1])


def test_pricing_arithmetic() -> None:
    run = Pricing.cloud_run()
    c = ResourceConfig(2.0, 2048)
    # 2 vCPU x $0.000024 + 2 GB x $0.0000025 per second, for 10 s
    assert run.container_cost_usd(c, 10) == pytest.approx(10 * (2 * 0.000024 + 2 * 0.0000025))
    assert run.requests_cost_usd(1_000_000) == pytest.approx(0.40)
    lam = Pricing.aws_lambda()
    assert lam.container_cost_usd(ResourceConfig(1.0, 1024), 1.0) == pytest.approx(0.0000166667)
    assert lam.requests_cost_usd(5_000_000) == pytest.approx(1.0)
    assert Pricing.named("aws-lambda") == lam
    with pytest.raises(InputError):
        Pricing(usd_per_gb_s=-1)
    with pytest.raises(InputError, match="unknown pricing"):
        Pricing.named("azure")
