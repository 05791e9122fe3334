"""Gaussian-process building blocks shared by the BO sizers (the only BoTorch users besides ``bo*.py``).

Inputs are points of the unit cube ``[0, 1]^d`` (:meth:`SizingProblem.to_unit`), outputs are columns of
log-scale measurements. Every GP is a BoTorch ``SingleTaskGP`` with a ``Normalize`` input transform (bounds
fixed to the unit cube, so the search space, not the data seen so far, defines the scale) and a ``Standardize``
outcome transform. All tensors are float64 on the CPU.
"""

from __future__ import annotations

import contextlib
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
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch.quasirandom import SobolEngine

DTYPE = torch.float64
Z_95 = 1.959963984540054
"""Half-width of a central 95% interval in standard deviations."""
FIT_MAXITER = 75
"""L-BFGS iterations for the marginal likelihood: enough for tens of points, caps the worst case."""


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread: the matrices here are tiny (tens of points), and on a shared 2-core machine
    intra-op threads contend and slow fitting and acquisition optimization down by up to 10x (measured)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def to_tensor(a: np.ndarray | Sequence[float]) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=float), dtype=DTYPE)


def unit_bounds(dims: int) -> torch.Tensor:
    """Bounds of the unit cube, shape (2, dims)."""
    return torch.stack([torch.zeros(dims, dtype=DTYPE), torch.ones(dims, dtype=DTYPE)])


def sobol_points(n: int, dims: int, seed: int) -> np.ndarray:
    """``n`` scrambled Sobol points of the unit cube, shape (n, dims), reproducible from ``seed``."""
    engine = SobolEngine(dimension=dims, scramble=True, seed=seed)
    return engine.draw(n, dtype=DTYPE).numpy()


def fit_gp(
    x: np.ndarray,
    y: np.ndarray,
    *,
    active_dims: Sequence[int] | None = None,
    fixed_noise: float | None = None,
) -> SingleTaskGP:
    """Fit a GP of one outcome: ``x`` shape (n, d) in the unit cube, ``y`` shape (n,).

    ``active_dims``: the kernel only looks at these input columns (e.g. one function's cpu and memory) while
    the model still takes full ``d``-dimensional inputs, so several such GPs fit in one ModelListGP.
    ``fixed_noise``: a fixed observation-noise variance (in standardized units) instead of a learned one.
    """
    train_x, train_y = to_tensor(x), to_tensor(y).reshape(-1, 1)
    d = train_x.shape[-1]
    covar = None
    if active_dims is not None:
        covar = get_covar_module_with_dim_scaled_prior(ard_num_dims=len(active_dims), active_dims=list(active_dims))
    yvar = None if fixed_noise is None else torch.full_like(train_y, fixed_noise)
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


def predictive(model: SingleTaskGP, x: np.ndarray) -> tuple[float, float]:
    """Posterior predictive mean and STANDARD DEVIATION (observation noise included) of one point, shape (d,)."""
    with torch.no_grad():
        post = model.posterior(to_tensor(x).reshape(1, -1), observation_noise=True)
        mean = float(post.mean.reshape(-1)[0])
        std = float(post.variance.clamp_min(0.0).sqrt().reshape(-1)[0])
    return mean, std
