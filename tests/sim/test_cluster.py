"""Placement: first fit packs containers started together; spread puts them on the invokers with the most room."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sim_cases import chain

from aquatope.errors import InputError
from aquatope.platform import PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.sim import SimConfig, Simulator
from aquatope.sim.cluster import Cluster

ONE_CPU = ResourceConfig(cpu=1.0, memory_mb=512)


def test_first_fit_packs_and_spread_balances_the_reserved_cpu() -> None:
    packed = Cluster(3, cpu=4.0, memory_mb=4096)
    assert [packed.place(ONE_CPU) for _ in range(5)] == [0, 0, 0, 0, 1]
    spread = Cluster(3, cpu=4.0, memory_mb=4096, placement="spread")
    assert [spread.place(ONE_CPU) for _ in range(5)] == [0, 1, 2, 0, 1]  # most unreserved CPU, lowest on ties
    spread.release(2, ONE_CPU)
    assert spread.place(ONE_CPU) == 2


def test_spread_still_needs_memory_room_and_says_when_nothing_fits() -> None:
    c = Cluster(2, cpu=8.0, memory_mb=1024, placement="spread")
    big = ResourceConfig(cpu=1.0, memory_mb=1024)
    assert c.place(ONE_CPU) == 0
    assert c.place(big) == 1  # invoker 0 has only 512 MB left
    assert c.place(big) == -1  # neither has 1024 MB free any more
    with pytest.raises(ValueError, match="placement"):
        Cluster(1, 1.0, 1.0, placement="random")
    with pytest.raises(InputError) as info:
        SimConfig(placement="random")
    assert info.value.field == "placement"


@pytest.mark.parametrize(("placement", "end_s"), [("first-fit", 12.0), ("spread", 11.0)])
def test_containers_started_together_share_an_invoker_only_when_packed(placement: str, end_s: float) -> None:
    """Two warm containers of a 1-vCPU function on two 1-core invokers (CPU overcommitted 2x, so both fit on one):
    packed, two simultaneous invocations share the core and take 2 s each; spread, each has a core (1 s)."""
    config = SimConfig(invokers=2, invoker_cpu=1.0, invoker_memory_mb=4096, cpu_overcommit=2.0, placement=placement)
    sim = Simulator(config)
    sim.deploy(chain("a", [("a", 1000.0)], qos_ms=10_000))
    sim.set_pool("a", PoolTarget(min_warm=2, keep_alive_s=3600.0))
    sim.advance(5.0)  # both containers ready
    sim.submit("a", np.array([10.0, 10.0]))
    sim.advance(math.inf)
    assert [r.cold_starts for r in sim.request_records()] == [0, 0]
    assert [round(r.end_s, 9) for r in sim.request_records()] == [pytest.approx(end_s)] * 2
