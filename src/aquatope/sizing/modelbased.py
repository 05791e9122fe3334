"""``model-based``: profile, fit a performance model per stage, solve a chance-constrained problem by sampling.

After Jolteon (Zhang et al., NSDI '24; its code: ``pkusys/Jolteon``, ``workflow/perf_model.py`` and
``workflow/utils/solver.py``), the strongest published approach for sizing serverless DAGs:

1. *Profile* (source ``profile``): the workflow measured with every function at each of
   :data:`PROFILE_MB` (CPU following memory at 1769 MB per vCPU, as on Lambda; ``start="random"``: as many
   random sizes).
2. *Model*: per stage, its latency as ``t(cpu) = a + b / cpu`` fitted by nonlinear least squares to every profiled
   request (Jolteon's ``io_func``; its compute term adds ``log(x)/x`` and ``1/x**2``, too many parameters for four
   profiled sizes), with the fit's parameter covariance; per function, its busy seconds per invocation with the
   same form (the cost model).
3. *Solve* ``min expected cost  s.t.  P(end-to-end latency <= target) >= percentile`` by sample average
   approximation (Jolteon's ``PCPSolver``): :data:`SCENARIOS` draws, each of stage parameters from their fitted
   normal (clipped at 0) and of one request's noise; a draw's end-to-end latency is the DAG's critical path of its
   stage latencies plus the per-request glue the profiles showed (transfers, queueing: end-to-end minus critical
   path). The discrete problem is solved by coordinate descent from the largest profiled sizes (Jolteon solves the
   relaxation with SLSQP, then probes the discrete neighbourhood).
4. The solution is measured (source ``model``). Jolteon stops there; here, on equal terms with the other sizers'
   budgets, while the shared answer rule rejects the last solution, the model is refitted with every measurement
   and solved again, until it repeats a measured configuration or the budget ends.

Where this departs from Jolteon: (a) no parallelism dimension (a workflow's fan-outs are fixed here); (b) memory:
Jolteon's vCPU follows memory; in a decoupled space each function keeps the smallest profiled memory it ran with
and only its CPU is optimised (in a coupled space the memory size is the variable, CPU follows); (c) the chance
constraint is on one request's latency at the QoS percentile (request noise drawn from the profiles' residuals),
where Jolteon's samples are of model parameters against a latency bound; (d) the refit loop of step 4; (e) the
shared answer rule decides what is reported.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from aquatope.resources import ResourceConfig
from aquatope.sizing.answer import judge_all
from aquatope.sizing.base import Measurement, SizingProblem, WorkflowConfig, config_key
from aquatope.sizing.baselines import lambda_config
from aquatope.sizing.load import function_cost_usd
from aquatope.sizing.sizer import BaseSizer, Proposal

PROFILE_MB = (512, 1024, 2048, 3008)
"""Profiled sizes: four of Power Tuning's default ``powerValues`` spanning 0.3-1.7 vCPU on Lambda."""
SCENARIOS = 1000
"""Draws of the sample average approximation (Jolteon derives its count from a Hoeffding bound; at a 5% risk and
1% tolerance its bound exceeds 10^4 for our space sizes; 1000 keeps a p95 to about +-1.4 percentage points)."""


def _amdahl(cpu: np.ndarray, a: float, b: float) -> np.ndarray:
    return a + b / cpu


def fit_stage(cpu: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b)`` and their covariance for ``t = a + b / cpu`` (both >= 0); a constant when one size ran."""
    if np.unique(cpu).size < 2:
        mean = float(t.mean())
        return np.array([mean, 0.0]), np.diag([float(t.var()) / max(t.size, 1), 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        p, cov = curve_fit(_amdahl, cpu, t, p0=[float(t.min()) / 2, float(t.min()) / 2], bounds=(0, np.inf))
    return p, np.nan_to_num(cov, nan=0.0, posinf=0.0)


class StageData:
    """What the measurements say about one stage: per request, its function's CPU and its latency (ms)."""

    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.latency_ms: list[float] = []

    def add(self, cpu: float, lat: np.ndarray) -> None:
        ok = lat[np.isfinite(lat)]
        self.cpu += [cpu] * ok.size
        self.latency_ms += ok.tolist()


class ModelBasedSizer(BaseSizer):
    """Jolteon-style sizer (module docstring)."""

    name = "model-based"

    def __init__(self, problem: SizingProblem, seed: int | None = None, start: str = "design") -> None:
        super().__init__(problem, seed, start)
        space = problem.space
        if start == "random":
            picks = np.random.default_rng([self.seed, 31]).choice(space.memory_values_mb, len(PROFILE_MB), False)
            sizes = sorted(int(m) for m in picks)
        else:
            sizes = list(PROFILE_MB)
        self.sizes = list(dict.fromkeys(space.nearest(lambda_config(m)) for m in sizes))

    def propose(self) -> Proposal | None:
        done = sum(s == "profile" for s in self.history.sources)
        if done < len(self.sizes):
            return {f: self.sizes[done] for f in self.problem.functions}, "profile"
        models = [m for m, s in zip(self.history.items, self.history.sources, strict=True) if s == "model"]
        last = models[-1] if models else None
        if last is not None and judge_all(self.problem, self.history)[config_key(last.config)].feasible:
            return None
        solution = self.solve()
        if solution is None or config_key(solution) in self.measured_keys():
            return None
        return solution, "model"

    # ---- the model -------------------------------------------------------------------------------------------
    def solve(self) -> WorkflowConfig | None:
        """The chance-constrained solution on the current data (None when nothing ran)."""
        ladders = self._ladders()
        if ladders is None:
            return None
        draws = self._draws()
        top = {f: len(ladders[f]) - 1 for f in self.problem.functions}
        if not self._feasible(ladders, top, draws):
            return {f: ladders[f][-1] for f in self.problem.functions}
        return {f: ladders[f][i] for f, i in self._descend(ladders, top, draws).items()}

    def _descend(self, ladders: dict[str, list[ResourceConfig]], at: dict[str, int], draws: dict) -> dict[str, int]:
        """Coordinate descent: the cheapest feasible one-step-down move, until none is feasible."""
        while True:
            moves = []
            for f in self.problem.functions:
                if at[f] > 0:
                    trial = {**at, f: at[f] - 1}
                    moves.append((self._cost(ladders, trial, draws), trial))
            moves.sort(key=lambda m: m[0])
            step = next((trial for _, trial in moves if self._feasible(ladders, trial, draws)), None)
            if step is None:
                return at
            at = step

    def _ladders(self) -> dict[str, list[ResourceConfig]] | None:
        """Per function, the configurations the solver chooses from, smallest first (module doc, departure b)."""
        space, out = self.problem.space, {}
        for f in self.problem.functions:
            ran = [m.config[f].memory_mb for m in self.history.items if self._ran(m, f)]
            if not ran:
                return None
            mem = min(ran)
            if space.kind == "coupled":
                out[f] = [ResourceConfig(space.cpu_for_memory(v), v) for v in space.memory_values_mb if v >= mem]
            else:
                out[f] = [ResourceConfig(c, mem) for c in space.cpu_values]
        return out

    def _ran(self, m: Measurement, f: str) -> bool:
        stages = [s.name for s in self.problem.workflow.stages if s.function == f]
        return all(np.isfinite(np.asarray(m.stage_latency_ms[s], dtype=float)).all() for s in stages)

    def _draws(self) -> dict:
        """Fitted models and the fixed scenario draws (common random numbers across the search)."""
        wf, rng = self.problem.workflow, np.random.default_rng([self.seed, 37, len(self.history)])
        data = {s.name: StageData() for s in wf.stages}
        busy: dict[str, StageData] = {f: StageData() for f in self.problem.functions}
        glue: list[float] = []
        calls = wf.invocations_per_request()
        for m in self.history.items:
            for s in wf.stages:
                data[s.name].add(m.config[s.function].cpu, np.asarray(m.stage_latency_ms[s.name], dtype=float))
            for f in self.problem.functions:
                if self._ran(m, f) and m.busy_s.get(f, 0.0) > 0:
                    busy[f].add(m.config[f].cpu, np.array([m.busy_s[f] / calls[f] * 1000.0]))
            if m.failed == 0:
                crit = np.array([wf.critical_path({s.name: m.stage_latency_ms[s.name][i] for s in wf.stages})[1]
                                 for i in range(m.k)])  # fmt: skip
                glue += (m.latency_ms - crit).tolist()
        stages = {}
        for s in wf.stages:
            cpu, t = np.array(data[s.name].cpu), np.array(data[s.name].latency_ms)
            p, cov = fit_stage(cpu, t)
            resid = t / np.maximum(_amdahl(cpu, *p), 1e-9)
            theta = np.clip(rng.multivariate_normal(p, cov + 1e-12 * np.eye(2), SCENARIOS), 0.0, None)
            stages[s.name] = (theta, rng.choice(resid, SCENARIOS))
        cost = {
            f: fit_stage(np.array(b.cpu), np.array(b.latency_ms))[0] if b.cpu else np.array([1.0, 0.0])
            for f, b in busy.items()
        }
        return {"stages": stages, "cost": cost, "glue": rng.choice(np.array(glue or [0.0]), SCENARIOS)}

    def _feasible(self, ladders: dict[str, list[ResourceConfig]], at: dict[str, int], draws: dict) -> bool:
        wf = self.problem.workflow
        finish: dict[str, np.ndarray] = {}
        for s in wf.stages:
            theta, noise = draws["stages"][s.name]
            cpu = ladders[s.function][at[s.function]].cpu
            start = np.zeros(SCENARIOS)
            for p in s.after:
                start = np.maximum(start, finish[p])
            finish[s.name] = start + (theta[:, 0] + theta[:, 1] / cpu) * noise
        e2e = np.max(np.stack([finish[n] for n in wf.sinks()]), axis=0) + draws["glue"]
        return float(np.mean(e2e <= self.problem.qos_ms)) >= self.problem.quantile

    def _cost(self, ladders: dict[str, list[ResourceConfig]], at: dict[str, int], draws: dict) -> float:
        """Expected cost of a choice (the shared objective's per-function part), from the busy-time models."""
        calls = self.problem.workflow.invocations_per_request()
        total = 0.0
        for f in self.problem.functions:
            c = ladders[f][at[f]]
            a, b = draws["cost"][f]
            total += function_cost_usd(self.problem, f, c, calls[f] * max(a + b / c.cpu, 1e-3) / 1000.0)
        return total
