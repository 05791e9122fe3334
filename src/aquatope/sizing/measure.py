"""Measuring a configuration on a Platform: warm requests, one after another, never disturbing each other.

``Measurer.measure(config)`` applies the configuration (``set_resources`` for every function), keeps cold starts
out by pre-warming as many containers per function as one request invokes it (``set_pool(min_warm=calls)``) and
waiting until they are ready, then sends ``k`` requests strictly one after another (each submitted when the
previous one has finished) and reads latencies and busy container time from the Platform's records. The same code
runs on the simulator and on a real Platform; evaluations are sequential, so one never disturbs another.

``disturbance_prob`` simulates a measurement that goes wrong (a noisy neighbour): with that probability every
latency of the evaluation is multiplied by ``disturbance_factor``. Sizers must cope with such outliers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from aquatope.platform import Platform, PoolTarget
from aquatope.resources import ResourceConfig
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig

WARM_KEEP_ALIVE_S = 3600.0


class Measurer:
    """Measures configurations of ``problem.workflow`` on ``platform`` (deployed once, at the defaults)."""

    def __init__(
        self,
        platform: Platform,
        problem: SizingProblem,
        k: int = 20,
        disturbance_prob: float = 0.0,
        disturbance_factor: float = 2.5,
        seed: int = 0,
    ) -> None:
        if k < 2:
            raise ValueError("measuring needs at least 2 requests per configuration")
        self.platform = platform
        self.problem = problem
        self.k = k
        self.disturbance_prob = disturbance_prob
        self.disturbance_factor = disturbance_factor
        self.rng = np.random.default_rng(seed)
        self.calls = problem.workflow.invocations_per_request()
        self.evaluations = 0
        platform.deploy(problem.workflow)

    def measure(self, config: Mapping[str, ResourceConfig]) -> Measurement:
        """Measure ``config`` with ``k`` warm requests (see the module docstring)."""
        wf = self.problem.workflow
        for name in wf.function_names:
            self.platform.set_resources(name, config[name])
            self.platform.set_pool(name, PoolTarget(min_warm=self.calls[name], keep_alive_s=WARM_KEEP_ALIVE_S))
        self._wait_warm(config)
        busy_before = self._busy_usd()
        done_before = len(self.platform.request_records())
        for _ in range(self.k):
            self._one_request(done_before)
            done_before += 1
        records = self.platform.request_records()[-self.k :]
        latency = np.array([np.nan if r.failed else r.latency_ms for r in records])
        stages = {s.name: np.array([r.stage_latency_ms.get(s.name, np.nan) for r in records]) for s in wf.stages}
        if self.disturbance_prob > 0 and self.rng.random() < self.disturbance_prob:
            latency = latency * self.disturbance_factor
            stages = {n: v * self.disturbance_factor for n, v in stages.items()}
        busy_usd = self._busy_usd() - busy_before
        fees = self.problem.pricing.requests_cost_usd(sum(self.calls.values()))
        self.evaluations += 1
        return Measurement(
            config=dict(config),
            latency_ms=latency,
            stage_latency_ms=stages,
            cost_per_request_usd=busy_usd / self.k + fees,
            quantile=self.problem.quantile,
            qos_ms=self.problem.qos_ms,
        )

    def _step_s(self) -> float:
        return max(0.01, self.problem.qos_ms / 1000.0 / 4.0)

    def _wait_warm(self, config: Mapping[str, ResourceConfig], limit_s: float = 600.0) -> None:
        start = self.platform.now_s
        while self.platform.now_s - start < limit_s:
            now = self.platform.now_s
            ready: dict[str, int] = {}
            for c in self.platform.container_records():
                if c.end_s >= now and c.ready_s <= now and c.config == config.get(c.function):
                    ready[c.function] = ready.get(c.function, 0) + 1
            if all(ready.get(f, 0) >= n for f, n in self.calls.items()):
                return
            self.platform.advance(now + 1.0)
        raise RuntimeError(f"containers did not become ready within {limit_s} s")

    def _one_request(self, done_before: int, limit_factor: float = 100.0) -> None:
        wf = self.problem.workflow
        self.platform.submit(wf.name, np.array([self.platform.now_s]))
        deadline = self.platform.now_s + limit_factor * self.problem.qos_ms / 1000.0 + 60.0
        while len(self.platform.request_records()) <= done_before:
            if self.platform.now_s >= deadline:
                raise RuntimeError("a measurement request did not finish in time")
            self.platform.advance(self.platform.now_s + self._step_s())

    def _busy_usd(self) -> float:
        pricing = self.problem.pricing
        return sum(pricing.container_cost_usd(c.config, c.busy_s) for c in self.platform.container_records())


def measure_many(measurer: Measurer, configs: list[WorkflowConfig]) -> list[Measurement]:
    """Measure configurations one after another."""
    return [measurer.measure(c) for c in configs]
