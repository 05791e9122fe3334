"""Right-sizing: the problem, a measurement, the ask/tell Sizer protocol and the history of evaluations.

A *configuration* of a workflow maps every function name to a :class:`ResourceConfig`. A sizer proposes
configurations (``suggest``), the caller measures them on a Platform and reports back (``observe``); the loop that
measures lives outside the sizer (:func:`aquatope.sizing.loop.run_sizer`), so the same sizer runs on the simulator,
on Ray, or on replayed measurements. Latency QoS is a constraint: ``slack = log(latency_pctl / qos) <= 0`` is
feasible. The answer is always a configuration that was *measured*, never an unmeasured guess, and every
evaluation records where it came from (:data:`SOURCES`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from aquatope.resources import Pricing, ResourceConfig, ResourceSpace
from aquatope.workflow import Workflow

if TYPE_CHECKING:
    from aquatope.sizing.load import LoadProfile

WorkflowConfig = dict[str, ResourceConfig]
ConfigKey = tuple[tuple[str, float, int], ...]

SOURCES = ("design", "model", "random", "profile", "search", "recheck", "confirm", "baseline", "external", "live")
"""Where an evaluation came from: ``design`` (the starting design: YAML defaults and what a user tries first),
``model`` (proposed by a sizer's model), ``random`` (a random proposal), ``profile`` (a profiling run of
powertune-qos or model-based), ``search`` (a model-free step of a search, e.g. greedy upsizing), ``recheck`` (a
suspect measurement measured again), ``confirm`` (the answer measured again before finishing), ``baseline`` (the
deployed configuration measured for the report, outside the sizer), ``external`` (a configuration the caller
measured without the sizer asking), ``live`` (warm requests the deployed configuration served in production,
:mod:`aquatope.sizing.live`)."""


def config_key(config: Mapping[str, ResourceConfig]) -> ConfigKey:
    """A hashable key of a workflow configuration (sorted by function name)."""
    return tuple((name, c.cpu, c.memory_mb) for name, c in sorted(config.items()))


def config_to_dict(config: Mapping[str, ResourceConfig]) -> dict[str, dict[str, float | int]]:
    return {name: c.to_dict() for name, c in config.items()}


ANSWER_RULES = ("pooled", "evident-tau", "one-level")
"""The noise models the shared answer rule can judge with (:mod:`aquatope.sizing.answer`): ``pooled``, the default
(the between-evaluation spread ``tau`` by moments from any repeat, the check allowance from a two-level bootstrap);
``evident-tau`` (``tau`` counted only where the repeats' spread beyond noise is shown at the rule's confidence);
``one-level`` (the check allowance from a one-level bootstrap: the pooled shape taken as known). The two others
were tested and not adopted (session 40, ``bench/results/rule_noise/README.md``: ``evident-tau`` made no difference
in cost; ``one-level`` was cheaper and its answers passed the fresh check less often than the rule aims at); they
stay to reproduce that test."""


@dataclass(frozen=True)
class SizingProblem:
    """Find per-function configurations of ``workflow`` in ``space`` that meet its QoS at the least cost.

    ``load``: the forecast load and the pool policy that will serve it (:class:`~aquatope.sizing.load.LoadProfile`).
    With a load the objective is the *expected total cost per request* (execution plus the idle keep-warm time
    of the containers the pool will hold at that rate, :func:`aquatope.sizing.load.objective_usd`); without
    one it is the measured cost of one request (busy container time x prices + request fees).
    """

    workflow: Workflow
    space: ResourceSpace
    pricing: Pricing = field(default_factory=Pricing)
    budget: int = 40
    seed: int = 0
    load: LoadProfile | None = None
    rule: str = "pooled"
    """The shared answer rule's noise model, one of :data:`ANSWER_RULES` (:mod:`aquatope.sizing.answer`)."""

    def __post_init__(self) -> None:
        if self.rule not in ANSWER_RULES:
            raise ValueError(f"unknown answer rule {self.rule!r}; one of {', '.join(ANSWER_RULES)}")

    @property
    def functions(self) -> tuple[str, ...]:
        return self.workflow.function_names

    @property
    def qos_ms(self) -> float:
        return self.workflow.qos.latency_ms

    @property
    def quantile(self) -> float:
        return self.workflow.qos.quantile

    @property
    def dims(self) -> int:
        """Search dimensions: (cpu, memory) per function when decoupled, memory per function when coupled."""
        return self.space.dims * len(self.functions)

    def to_unit(self, config: Mapping[str, ResourceConfig]) -> np.ndarray:
        """The configuration as a point of the unit cube, shape ``(dims,)`` (functions in workflow order)."""
        return np.concatenate([self.space.to_unit(config[f]) for f in self.functions])

    def from_unit(self, x: np.ndarray) -> WorkflowConfig:
        """A unit-cube point rounded to the space's steps, as a configuration."""
        d = self.space.dims
        return {f: self.space.from_unit(x[i * d : (i + 1) * d]) for i, f in enumerate(self.functions)}

    def cost_per_request_usd(self, config: Mapping[str, ResourceConfig], busy_s: Mapping[str, float]) -> float:
        """Cost of one request from the busy seconds each function spent on it (all copies summed)."""
        calls = self.workflow.invocations_per_request()
        compute = sum(self.pricing.container_cost_usd(config[f], busy_s[f]) for f in self.functions)
        return compute + self.pricing.requests_cost_usd(sum(calls.values()))

    def objective_usd(self, m: Measurement) -> float:
        """What a sizer minimises for measurement ``m`` (see the class docstring)."""
        from aquatope.sizing.load import objective_usd

        return objective_usd(self, m)

    def with_seed(self, seed: int) -> SizingProblem:
        return dataclasses.replace(self, seed=seed)


@dataclass(frozen=True)
class Measurement:
    """What measuring one configuration with k warm requests gave.

    ``latency_ms``: end-to-end latency of each request, shape (k,), NaN for a failed request;
    ``stage_latency_ms``: per stage, its latency in each request (a fan-out's slowest copy, each copy timed from its
    own start: :class:`~aquatope.platform.RequestRecord`), shape (k,);
    ``cost_per_request_usd``: mean cost of one request (busy container time x prices + request fees);
    ``busy_s``: per function, the mean busy (billed execution) seconds one request spent in it, all copies
    summed (empty when the measurer could not tell);
    ``memory_used_mb``: per function, the most memory its containers at this size held at once
    (:attr:`~aquatope.platform.ContainerRecord.peak_memory_mb`; absent where the platform does not tell).
    """

    config: WorkflowConfig
    latency_ms: np.ndarray
    stage_latency_ms: dict[str, np.ndarray]
    cost_per_request_usd: float
    quantile: float
    qos_ms: float
    busy_s: Mapping[str, float] = field(default_factory=dict)
    memory_used_mb: Mapping[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return int(np.isnan(self.latency_ms).sum())

    @property
    def k(self) -> int:
        return int(self.latency_ms.size)

    @property
    def latency_pctl_ms(self) -> float:
        """The QoS percentile of measured latency; inf when any request failed."""
        if self.failed or self.latency_ms.size == 0:
            return math.inf
        return float(np.quantile(self.latency_ms, self.quantile))

    @property
    def slack(self) -> float:
        """log(latency percentile / QoS target): <= 0 is feasible; a large positive value for failures."""
        pctl = self.latency_pctl_ms
        return math.log(pctl / self.qos_ms) if math.isfinite(pctl) else 5.0

    @property
    def feasible(self) -> bool:
        """Whether this one measurement's percentile meets the target (the answer rule judges more strictly)."""
        return self.latency_pctl_ms <= self.qos_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": config_to_dict(self.config),
            "latency_pctl_ms": self.latency_pctl_ms,
            "qos_ms": self.qos_ms,
            "feasible": self.feasible,
            "cost_per_request_usd": self.cost_per_request_usd,
            "failed_requests": self.failed,
            "memory_used_mb": {f: round(float(v), 1) for f, v in self.memory_used_mb.items()},
        }


@runtime_checkable
class Sizer(Protocol):
    """Ask/tell resource search. ``suggest()`` returns the next configurations to measure (empty when done) and
    is idempotent: asked again before ``observe``, it returns the same; ``observe(config, measurement)`` reports
    one; ``best()`` is the answer (a measured configuration, see :mod:`aquatope.sizing.answer`) or None;
    ``history`` holds every observed measurement with its source."""

    name: str
    history: History

    def suggest(self) -> list[WorkflowConfig]: ...

    def observe(self, config: WorkflowConfig, measurement: Measurement) -> None: ...

    def best(self) -> Measurement | None: ...


class History:
    """Measurements in the order observed, each with its source (:data:`SOURCES`)."""

    def __init__(self) -> None:
        self.items: list[Measurement] = []
        self.sources: list[str] = []

    def add(self, m: Measurement, source: str = "external") -> None:
        if source not in SOURCES:
            raise ValueError(f"unknown evaluation source {source!r}; one of {SOURCES}")
        self.items.append(m)
        self.sources.append(source)

    def __len__(self) -> int:
        return len(self.items)

    def best(self) -> Measurement | None:
        """The cheapest single measurement that met the target (no confidence margin; for model-free baselines'
        bookkeeping, the answer rule is :func:`aquatope.sizing.answer.answer`)."""
        feasible = [m for m in self.items if m.feasible]
        return min(feasible, key=lambda m: m.cost_per_request_usd) if feasible else None

    def seen(self, config: Mapping[str, ResourceConfig]) -> bool:
        key = config_key(config)
        return any(config_key(m.config) == key for m in self.items)

    def count(self, config: Mapping[str, ResourceConfig]) -> int:
        key = config_key(config)
        return sum(config_key(m.config) == key for m in self.items)

    def index_of(self, m: Measurement | None) -> int | None:
        """Position of ``m`` (by identity) in the history, or None."""
        return None if m is None else next((i for i, x in enumerate(self.items) if x is m), None)
