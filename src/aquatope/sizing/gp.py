"""Gaussian-process building blocks of the BO sizers (BoTorch/GPyTorch live here and in the sizers only).

Inputs are points of the unit cube ``[0, 1]^d`` (:meth:`SizingProblem.to_unit`), outputs one column of log-scale
observations. Every GP is a BoTorch ``SingleTaskGP`` with a ``Normalize`` input transform (bounds fixed to the unit
cube, so the search space, not the data seen so far, defines the scale) and a ``Standardize`` outcome transform;
its observation noise is either learned (one level for all points) or given per point (heteroscedastic: the
measured variance of each observation). All tensors are float64 on the CPU.

Nothing here changes global state after it returns: fitting runs under :func:`torch_local` (a forked torch RNG
seeded from the caller's seed, one intra-op thread), both restored on exit.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from botorch.exceptions.warnings import InputDataWarning, OptimizationWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood

DTYPE = torch.float64
FIT_MAXITER = 75
"""L-BFGS iterations for the marginal likelihood: enough for tens of points, caps the worst case."""
MIN_NOISE_VAR = 1e-6
"""Floor of a given observation-noise variance (log units): a measurement is never exact."""


@contextmanager
def torch_local(seed: int) -> Iterator[None]:
    """Seed a forked copy of torch's RNG and run on one thread; both restored on exit. The matrices here are
    tiny (tens of points), and on a shared 2-core machine intra-op threads contend and slowed fitting and
    acquisition by up to 10x (measured)."""
    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if threads != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if threads != 1:
                torch.set_num_threads(threads)


def to_tensor(a: np.ndarray | Sequence[float]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=DTYPE)


def unit_bounds(dims: int) -> torch.Tensor:
    """Bounds of the unit cube, shape (2, dims)."""
    return torch.stack([torch.zeros(dims, dtype=DTYPE), torch.ones(dims, dtype=DTYPE)])


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    noise_var: np.ndarray | None = None,
    matern: bool = False,
) -> SingleTaskGP:
    """Fit a GP of one outcome: ``x`` shape (n, d) in the unit cube, ``y`` shape (n,).

    ``noise_var``: per-point observation-noise variances in the units of ``y`` (heteroscedastic, fixed) instead
    of one learned level. ``matern``: a Matern-5/2 kernel with ARD (CherryPick's) instead of BoTorch's default RBF
    with dimension-scaled lengthscale prior.
    """
    if len(y) < 2:  # nothing (or one point) to learn from: a vague prior around what there is, never a crash
        x, y, noise_var = pad_vague(x, y, noise_var)
    train_x, train_y = to_tensor(x), to_tensor(y).reshape(-1, 1)
    d = train_x.shape[-1]
    if matern:
        covar = ScaleKernel(MaternKernel(nu=2.5, ard_num_dims=d))
    else:
        covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=d)
    yvar = None if noise_var is None else to_tensor(np.maximum(noise_var, MIN_NOISE_VAR)).reshape(-1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputDataWarning)
        model = SingleTaskGP(
            train_x,
            train_y,
            train_Yvar=yvar,
            covar_module=covar,
            input_transform=Normalize(d=d, bounds=unit_bounds(d)),
            outcome_transform=Standardize(m=1),
        )
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizationWarning)
        # a failed fit keeps the prior hyperparameters: still a valid (if vague) GP
        with contextlib.suppress(Exception):
            fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": FIT_MAXITER}})
    model.eval()
    return model


VAGUE_VALUE, VAGUE_VAR = 0.0, 1.0


def pad_vague(x: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two points for a GP that has fewer: the point it has (or the cube's centre with ``VAGUE_VALUE``) and a
    copy, both with noise variance ``VAGUE_VAR`` (callers give y in log units, so one e-fold of doubt)."""
    d = x.shape[1] if x.ndim == 2 else 1
    if len(y) == 0:
        x, y = np.full((1, d), 0.5), np.array([VAGUE_VALUE])
    return np.repeat(x[:1], 2, axis=0), np.repeat(np.asarray(y[:1], dtype=float), 2), np.full(2, VAGUE_VAR)


def posterior(model: SingleTaskGP, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and STANDARD DEVIATION of the latent function at ``x`` shape (n, d) -> two (n,) arrays.

    Only marginals are needed (never the n x n covariance), so they are computed directly from the fitted GP's
    pieces: a Cholesky factor of the training covariance, cached on the model, and one n x m cross-covariance
    (BoTorch's ``posterior`` gives the same numbers, tested, about 10x slower for thousands of candidates)."""
    if len(x) == 0:
        return np.empty(0), np.empty(0)
    with torch.no_grad():
        chol, alpha, train_x = _cached_solve(model)
        xt = model.input_transform(to_tensor(x)) if hasattr(model, "input_transform") else to_tensor(x)
        cross = model.covar_module(xt, train_x).to_dense()
        mean = model.mean_module(xt) + cross @ alpha
        v = torch.linalg.solve_triangular(chol, cross.T, upper=False)
        prior = model.covar_module(xt, diag=True)
        var = (prior - (v * v).sum(dim=0)).clamp_min(0.0)
        tf = model.outcome_transform
        assert isinstance(tf, Standardize)
        scale, shift = tf.stdvs.reshape(()), tf.means.reshape(())
        mean = mean * scale + shift
        std = var.sqrt() * scale
    return mean.numpy().copy(), std.numpy().copy()


def _cached_solve(model: SingleTaskGP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    cached: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = getattr(model, "_aquatope_solve", None)
    if cached is not None:
        return cached
    train_x = model.train_inputs[0]
    y = model.train_targets
    noise = model.likelihood.noise.reshape(-1)
    k = model.covar_module(train_x).to_dense()
    k = k + torch.diag(noise.expand(k.shape[0]) if noise.numel() == 1 else noise)
    chol = torch.linalg.cholesky(k + 1e-9 * torch.eye(k.shape[0], dtype=k.dtype))
    resid = (y - model.mean_module(train_x)).unsqueeze(-1)
    alpha = torch.cholesky_solve(resid, chol).squeeze(-1)
    model._aquatope_solve = (chol, alpha, train_x)  # type: ignore[assignment]
    return chol, alpha, train_x


class AmdahlGP:
    """A GP of ``y = log t`` of one function around a parametric trend ``t = a + b / cpu`` (a, b >= 0).

    The trend is Amdahl's law for one invocation (a serial and I/O part, a part that scales with CPU; Jolteon's
    performance model has the same ``a / x + b`` terms): fitted by non-negative least squares on relative errors,
    it carries the model into resource levels the data have not reached (a GP alone returns to its mean there,
    overconfident when the data span a narrow range). The GP (log coordinates ``x`` of the function's own
    resources, heteroscedastic noise ``noise_var``) models what the trend misses (memory pressure, saturation).

    With ``flat``, the trend stops at the largest CPU measured: beyond it no further speed-up is assumed. Fitted
    with a serial part near zero, Amdahl's trend prices extra CPU as free (busy time x CPU constant), so
    proposals could give a function several times the CPU of any measurement; a real function's parallelism ends
    somewhere, and nothing measured says where.
    """

    def __init__(
        self, x: np.ndarray, cpu: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None, flat: bool = False
    ) -> None:
        self.a, self.b = fit_amdahl(cpu, np.exp(y)) if len(y) else (1.0, 0.0)
        self.cpu_max = float(cpu.max()) if flat and len(cpu) else math.inf
        self.gp = fit_gp(x, y - self.trend(cpu), noise_var=noise_var)

    def trend(self, cpu: np.ndarray) -> np.ndarray:
        cpu = np.minimum(np.maximum(cpu, 1e-6), self.cpu_max)
        return np.log(np.maximum(self.a + self.b / cpu, 1e-12))

    def posterior(self, x: np.ndarray, cpu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = posterior(self.gp, x)
        return mean + self.trend(cpu), std


def fit_amdahl(cpu: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """Non-negative ``a, b`` minimising sum(((a + b / cpu - t) / t) ** 2)."""
    from scipy.optimize import nnls

    design = np.stack([1.0 / t, 1.0 / (np.maximum(cpu, 1e-6) * t)], axis=1)
    coef, _ = nnls(design, np.ones_like(t))
    if coef.sum() <= 0:  # degenerate: every point the same; a constant trend at their geometric mean
        return float(np.exp(np.log(t).mean())), 0.0
    return float(coef[0]), float(coef[1])
