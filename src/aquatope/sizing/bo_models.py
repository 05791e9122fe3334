"""Surrogates of the Aquatope BO sizer: what is modelled, and how it becomes an objective and a constraint.

Both surrogates model ``log(cost per request)`` with one GP over every input dimension; they differ in the
latency constraint (``slack = log(latency percentile / QoS) <= 0`` is feasible):

* :class:`EndToEndSurrogate` (the paper): one GP of ``log(end-to-end latency percentile)`` over all dimensions.
* :class:`DagSurrogate`: one GP per stage of ``log(stage latency percentile)`` over the dimensions of that stage's
  function only (2-D in a decoupled space instead of 2 x functions), combined along the DAG on posterior samples
  (a stage starts when its slowest predecessor ends, the request ends with its slowest sink) plus a calibration
  offset ``mean(log measured pctl - log critical path of stage pctls)``. The critical path of per-stage
  percentiles overestimates the end-to-end percentile; the offset (fitted on the training data) removes that bias.

A constraint is a callable on posterior samples ``(..., q, m) -> (..., q)``, negative where feasible (BoTorch).
A failed measurement (any request failed) counts as ``log(QoS) + FAILED_LOG_SLACK`` latency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from botorch.acquisition.objective import GenericMCObjective
from botorch.models import ModelListGP
from torch import Tensor

from aquatope.sizing.base import Measurement, SizingProblem
from aquatope.sizing.gp import fit_gp, predictive, to_tensor
from aquatope.workflow import Workflow

FAILED_LOG_SLACK = 5.0
"""Log-latency slack given to a failed measurement (matches :attr:`Measurement.slack`)."""

Constraint = Callable[[Tensor], Tensor]


def log_cost(m: Measurement) -> float:
    return math.log(m.cost_per_request_usd)


def log_latency(m: Measurement) -> float:
    """log of the measured end-to-end latency percentile; ``log(QoS) + 5`` for a failed measurement."""
    pctl = m.latency_pctl_ms
    return math.log(pctl) if math.isfinite(pctl) else math.log(m.qos_ms) + FAILED_LOG_SLACK


def stage_log_latencies(wf: Workflow, m: Measurement) -> np.ndarray:
    """log of each stage's latency percentile, shape (stages,), in ``wf.stages`` order.

    A stage that failed in a request whose predecessors all finished is blamed with ``log(QoS) + 5``; NaN
    caused by an earlier failure (the stage never ran) is ignored.
    """
    out = np.empty(len(wf.stages))
    for i, s in enumerate(wf.stages):
        lat = np.asarray(m.stage_latency_ms[s.name], dtype=float)
        ran = np.ones(lat.shape, dtype=bool)
        for p in s.after:
            ran &= np.isfinite(np.asarray(m.stage_latency_ms[p], dtype=float))
        ok = lat[np.isfinite(lat)]
        if np.isnan(lat[ran]).any() or ok.size == 0:
            out[i] = math.log(m.qos_ms) + FAILED_LOG_SLACK
        else:
            out[i] = math.log(max(float(np.quantile(ok, m.quantile)), 1e-6))
    return out


def dag_log_latency(wf: Workflow, log_stage: Tensor) -> Tensor:
    """log end-to-end latency from log stage latencies ``(..., stages)`` along the DAG -> ``(...)``."""
    lat = log_stage.exp()
    finish: dict[str, Tensor] = {}
    for i, s in enumerate(wf.stages):
        start = torch.zeros_like(lat[..., i])
        for p in s.after:
            start = torch.maximum(start, finish[p])
        finish[s.name] = start + lat[..., i]
    end = torch.stack([finish[n] for n in wf.sinks()], dim=-1).amax(dim=-1)
    return end.log()


def _neg_log_cost(samples: Tensor, X: Tensor | None = None) -> Tensor:
    return -samples[..., 0]


def _cost_objective() -> GenericMCObjective:
    """Maximize -log cost (the first model output)."""
    return GenericMCObjective(_neg_log_cost)


class EndToEndSurrogate:
    """The paper's surrogate: GPs of log cost and log end-to-end latency percentile in a ModelListGP."""

    def __init__(self, problem: SizingProblem, x: np.ndarray, data: Sequence[Measurement]) -> None:
        self.log_qos = math.log(problem.qos_ms)
        self.cost_gp = fit_gp(x, np.array([log_cost(m) for m in data]))
        self.latency_gp = fit_gp(x, np.array([log_latency(m) for m in data]))
        self.model = ModelListGP(self.cost_gp, self.latency_gp)
        self.objective = _cost_objective()
        log_qos = self.log_qos
        self.constraints: list[Constraint] = [lambda z: z[..., 1] - log_qos]

    def latency_predictive(self, x: np.ndarray) -> tuple[float, float]:
        """Predictive mean and standard deviation of log end-to-end latency at ``x`` (shape (d,))."""
        return predictive(self.latency_gp, x)


class DagSurrogate:
    """Per-stage GPs over their own function's dimensions, combined along the DAG (module docstring)."""

    def __init__(
        self, problem: SizingProblem, x: np.ndarray, data: Sequence[Measurement], mc_samples: int = 256
    ) -> None:
        wf = problem.workflow
        self.wf = wf
        self.log_qos = math.log(problem.qos_ms)
        self.mc_samples = mc_samples
        d = problem.space.dims
        index = {f: i for i, f in enumerate(problem.functions)}
        stage_y = np.array([stage_log_latencies(wf, m) for m in data])
        self.cost_gp = fit_gp(x, np.array([log_cost(m) for m in data]))
        self.stage_gps = [
            fit_gp(x, stage_y[:, i], active_dims=range(index[s.function] * d, index[s.function] * d + d))
            for i, s in enumerate(wf.stages)
        ]
        self.model = ModelListGP(self.cost_gp, *self.stage_gps)
        self.offset, self.offset_std = self._calibrate(stage_y, data)
        self.objective = _cost_objective()
        self.constraints: list[Constraint] = [self._slack]

    def _calibrate(self, stage_y: np.ndarray, data: Sequence[Measurement]) -> tuple[float, float]:
        """Mean and std of log(measured pctl) - log(DAG of stage pctls) over measurements that did not fail."""
        ok = [i for i, m in enumerate(data) if m.failed == 0]
        if not ok:
            return 0.0, 0.0
        dag = dag_log_latency(self.wf, to_tensor(stage_y[ok])).numpy()
        resid = np.array([log_latency(data[i]) for i in ok]) - dag
        return float(resid.mean()), float(resid.std(ddof=1)) if len(ok) > 2 else 0.0

    def _slack(self, z: Tensor) -> Tensor:
        return dag_log_latency(self.wf, z[..., 1:]) + self.offset - self.log_qos

    def latency_predictive(self, x: np.ndarray) -> tuple[float, float]:
        """Predictive mean and standard deviation of log end-to-end latency at ``x`` (Monte Carlo over stages)."""
        gen = torch.Generator().manual_seed(0)
        xt = to_tensor(x).reshape(1, -1)
        cols = []
        with torch.no_grad():
            for gp in self.stage_gps:
                post = gp.posterior(xt, observation_noise=True)
                mean, std = post.mean.reshape(()), post.variance.clamp_min(0.0).sqrt().reshape(())
                cols.append(mean + std * torch.randn(self.mc_samples, generator=gen, dtype=xt.dtype))
            e2e = dag_log_latency(self.wf, torch.stack(cols, dim=-1)) + self.offset
        total_std = math.sqrt(float(e2e.std()) ** 2 + self.offset_std**2)
        return float(e2e.mean()), total_std


Surrogate = EndToEndSurrogate | DagSurrogate
