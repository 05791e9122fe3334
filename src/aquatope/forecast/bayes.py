"""``bayes-lstm``: Aquatope's hybrid Bayesian forecaster (LSTM encoder-decoder + MC-dropout prediction network).

Fit: the last ``val_fraction`` of the history is held back. On the rest, windows of ``window`` normalized counts
(see :mod:`aquatope.forecast.features`) train one global network across functions (or one per function with
``global_model=False``) to predict the next ``k_out`` intervals as a residual on the window's moving average.
On the validation split (rolling one-step forecasts):

* each function gets the expert with the lowest MAE: the network, the moving average (the network must beat it),
  or, for a function with a detected short period (:mod:`aquatope.forecast.periodic`), the *phase expert* that
  forecasts from the same phase of its last periods;
* the aleatoric noise variance per function is the mean squared residual (count units); for the phase expert it
  is the spread of the same-phase counts instead, so quiet and burst phases get their own uncertainty;
* predictive std = ``std_scale * sqrt(model var + noise var)``, where the model (epistemic) variance comes
  from ``mc_passes`` MC-dropout passes and ``std_scale`` is found by bisection, one factor per rate class
  (training mean rate split at ``rate_bounds``, default < 1, 1-100, > 100 per interval), when that class's
  90% interval coverage misses 0.90 by more than ``coverage_tolerance``; a function active in at least
  ``own_scale_min_active`` validation intervals is calibrated on its own instead.

``validation_report`` records the outcome; ``usable=False`` (with ``reason``) when the history is too short,
training diverged, or the calibrated 90% interval still under-covers by more than twice the tolerance (an
over-covering one, e.g. of a perfectly periodic function, is usable); predictions then come from the moving average with residual noise.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.forecast.baselines import CENTRAL_LEVELS, as_history, check_horizon, rolling_trailing_mean
from aquatope.forecast.calibration import calibrate_scale, normal_coverage, normal_pinball
from aquatope.forecast.features import encoder_inputs, function_scale, target_features, targets
from aquatope.forecast.lstm import BayesNet, NetConfig, mc_predict, train_net
from aquatope.forecast.periodic import detect_periods, phase_moments

MIN_VALIDATION = 10  # intervals held back at least, for noise variance and calibration


@dataclass(frozen=True)
class BayesParams:
    """Hyper-parameters of :class:`BayesLSTMForecaster` (``interval_s`` in seconds)."""

    window: int = 48
    hidden: int = 32
    width: int = 64
    k_out: int = 4
    dropout: float = 0.1
    lr: float = 1e-2
    batch_size: int = 256
    epochs: int = 10
    n_windows: int = 40_000
    mc_passes: int = 30
    val_fraction: float = 0.2
    coverage_tolerance: float = 0.03
    global_model: bool = True
    phase_expert: bool = True  # offer the phase expert to functions with a detected short period
    own_scale_min_active: int = 60  # validation intervals with invocations for a function's own std scale
    rate_bounds: tuple[float, ...] = (1.0, 100.0)
    interval_s: float = 60.0
    seed: int = 0
    n_threads: int = 2  # torch.set_num_threads during fit (process-wide)

    def __post_init__(self) -> None:
        checks = {
            "window": self.window >= 2,
            "hidden": self.hidden >= 1,
            "width": self.width >= 1,
            "k_out": self.k_out >= 1,
            "dropout": 0.0 < self.dropout < 1.0,
            "epochs": self.epochs >= 0,
            "n_windows": self.n_windows >= 1,
            "mc_passes": self.mc_passes >= 2,
            "val_fraction": 0.0 < self.val_fraction < 1.0,
            "interval_s": self.interval_s > 0,
            "n_threads": self.n_threads >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise InputError(f"invalid value {getattr(self, name)!r}", field=name)

    def net_config(self) -> NetConfig:
        return NetConfig(
            hidden=self.hidden,
            width=self.width,
            k_out=self.k_out,
            dropout=self.dropout,
            lr=self.lr,
            batch_size=self.batch_size,
            pretrain_epochs=self.epochs,
            head_epochs=self.epochs,
        )


@dataclass
class ValidationReport:
    """Validation-split figures (after fallback gating and calibration); coverage keyed by central level."""

    usable: bool
    reason: str = ""
    coverage: dict[float, float] = field(default_factory=dict)
    raw_coverage_90: float = float("nan")
    pinball: float = float("nan")
    mae: float = float("nan")
    moving_average_mae: float = float("nan")
    std_scale: dict[str, float] = field(default_factory=dict)
    model_functions: int = 0
    periodic_functions: int = 0
    own_scale_functions: int = 0
    final_loss: float = float("nan")
    train_time_s: float = 0.0

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["coverage"] = {str(k): v for k, v in self.coverage.items()}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ValidationReport:
        cov = data.get("coverage", {})
        kw = {**data, "coverage": {float(k): float(v) for k, v in dict(cov).items()}}  # type: ignore[call-overload]
        return cls(**kw)  # type: ignore[arg-type]


class BayesLSTMForecaster:
    """Hybrid Bayesian LSTM forecaster; keyword arguments are the fields of :class:`BayesParams`."""

    name = "bayes-lstm"

    def __init__(self, **params: object) -> None:
        try:
            self.params = BayesParams(**params)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InputError(f"bayes-lstm: {exc}") from exc
        self.nets_: nn.ModuleList = nn.ModuleList()
        self.scale_: np.ndarray | None = None
        self.noise_var_: np.ndarray = np.zeros(0)
        self.use_model_: np.ndarray = np.zeros(0, dtype=bool)
        self.period_: np.ndarray = np.zeros(0, dtype=np.int64)
        self.std_scale_: np.ndarray = np.zeros(0)
        self.rate_class_: np.ndarray = np.zeros(0, dtype=int)
        self.validation_report = ValidationReport(usable=False, reason="not fitted")

    # ---- fit -------------------------------------------------------------------------------------------
    def fit(self, history: np.ndarray, start_interval: int = 0) -> BayesLSTMForecaster:
        """Train, validate and calibrate on ``history`` (n_functions, n_intervals); see the module docstring."""
        counts = as_history(history, min_intervals=2)
        p = self.params
        n_val = max(1, round(counts.shape[1] * p.val_fraction))
        train_end = counts.shape[1] - n_val
        self.scale_ = function_scale(counts[:, : max(train_end, 1)])
        self.nets_ = nn.ModuleList()
        if train_end < p.window + p.k_out + 1 or n_val < MIN_VALIDATION:
            need = p.window + p.k_out + 1 + max(MIN_VALIDATION, n_val)
            return self._fallback(counts, f"too little history: {counts.shape[1]} intervals, need at least {need}")
        began = time.perf_counter()
        losses = self._train(counts, train_end, start_interval)
        train_time_s = time.perf_counter() - began
        if not np.all(np.isfinite(losses)) or not self._finite_weights():
            return self._fallback(counts, "training diverged (non-finite loss or weights)")
        self._validate(counts, train_end, start_interval)
        self.validation_report.final_loss = float(losses[-1]) if losses else float("nan")
        self.validation_report.train_time_s = train_time_s
        return self

    def _train(self, counts: np.ndarray, train_end: int, start: int) -> list[float]:
        p = self.params
        torch.manual_seed(p.seed)
        torch.set_num_threads(p.n_threads)
        assert self.scale_ is not None
        z = counts[:, :train_end] / self.scale_[:, None]
        rng = np.random.default_rng(p.seed)
        n_origins = train_end - p.k_out - p.window + 1
        groups = [np.arange(counts.shape[0])] if p.global_model else [np.array([f]) for f in range(counts.shape[0])]
        losses: list[float] = []
        for g, funcs in enumerate(groups):
            n_pairs = len(funcs) * n_origins  # subsample, or oversample a short history to n_windows
            pairs = rng.choice(n_pairs, size=p.n_windows, replace=p.n_windows > n_pairs)
            f_idx, t_idx = funcs[pairs // n_origins], pairs % n_origins + p.window
            x, ma_z = encoder_inputs(z, self.scale_, f_idx, t_idx, p.window, start, p.interval_s)
            feats = target_features(t_idx, p.k_out, start, p.interval_s, p.k_out)
            net = BayesNet(p.net_config())
            losses += train_net(net, x, feats, targets(z, f_idx, t_idx, ma_z, p.k_out), p.net_config(), p.seed + g)
            self.nets_.append(net)
        return losses

    def _finite_weights(self) -> bool:
        return all(bool(torch.isfinite(t).all()) for t in self.nets_.state_dict().values())

    def _validate(self, counts: np.ndarray, train_end: int, start: int) -> None:
        """Pick each function's expert, estimate noise variance, calibrate, fill the report."""
        p = self.params
        n = counts.shape[0]
        actual = counts[:, train_end:]
        ma = rolling_trailing_mean(counts, p.window)[:, train_end:]
        mean, model_var = self._rolling_one_step(counts, train_end, start)
        model_err = np.abs(actual - mean).mean(axis=1)
        ma_err = np.abs(actual - ma).mean(axis=1)
        self.use_model_ = model_err <= ma_err
        mean = np.where(self.use_model_[:, None], mean, ma)
        model_var = np.where(self.use_model_[:, None], model_var, 0.0)
        self._choose_phase_expert(counts, train_end, mean, model_var)
        periodic = self.period_ > 0
        self.use_model_ &= ~periodic
        self.noise_var_ = np.where(periodic, 0.0, np.mean((actual - mean) ** 2, axis=1))
        std = np.sqrt(model_var + self.noise_var_[:, None])
        raw90 = normal_coverage(actual, mean, std, 0.9)
        self.rate_class_ = np.digitize(counts[:, :train_end].mean(axis=1), p.rate_bounds)
        self.std_scale_ = np.ones(n)
        scales: dict[int, float] = {}
        for k in np.unique(self.rate_class_):
            rows = self.rate_class_ == k
            scales[int(k)] = calibrate_scale(actual[rows], mean[rows], std[rows], 0.9, p.coverage_tolerance)
            self.std_scale_[rows] = scales[int(k)]
        own = self._own_scales(actual, mean, std)
        std = self.std_scale_[:, None] * std
        cov = {lv: normal_coverage(actual, mean, std, lv) for lv in CENTRAL_LEVELS}
        usable = cov[0.9] >= 0.9 - 2 * p.coverage_tolerance  # too wide is wasteful, too narrow is unsafe
        self.validation_report = ValidationReport(
            usable=usable,
            reason="" if usable else f"90% coverage {cov[0.9]:.3f} after calibration",
            coverage=cov,
            raw_coverage_90=raw90,
            pinball=normal_pinball(actual, mean, std, CENTRAL_LEVELS),
            mae=float(np.abs(actual - mean).mean()),
            moving_average_mae=float(ma_err.mean()),
            std_scale={str(k): v for k, v in scales.items()},
            model_functions=int(self.use_model_.sum()),
            periodic_functions=int(periodic.sum()),
            own_scale_functions=own,
        )

    def _own_scales(self, actual: np.ndarray, mean: np.ndarray, std: np.ndarray) -> int:
        """Give functions active in at least ``own_scale_min_active`` validation intervals their own std scale
        (their rate class's otherwise): a constant noise level fits a bursty function badly, and its own
        calibration is what keeps its 90% interval at 90% instead of pooling it with calmer functions.
        Returns how many functions got their own scale."""
        p = self.params
        rows = np.flatnonzero(np.count_nonzero(actual, axis=1) >= p.own_scale_min_active)
        for f in rows:
            self.std_scale_[f] = calibrate_scale(actual[f], mean[f], std[f], 0.9, p.coverage_tolerance)
        return int(rows.size)

    def _choose_phase_expert(self, counts: np.ndarray, train_end: int, mean: np.ndarray, var: np.ndarray) -> None:
        """Set ``period_`` (0 = no phase expert) and, where the phase expert's validation MAE beats the expert
        chosen so far, overwrite that function's rows of ``mean`` and ``var`` (validation split) in place."""
        self.period_ = detect_periods(counts[:, :train_end])
        if not self.params.phase_expert:
            self.period_[:] = 0
        origins = np.arange(train_end, counts.shape[1])
        actual = counts[:, train_end:]
        for f in np.flatnonzero(self.period_):
            pm, ps = phase_moments(counts[f], int(self.period_[f]), origins)
            if np.abs(actual[f] - pm).mean() < np.abs(actual[f] - mean[f]).mean():
                mean[f], var[f] = pm, ps**2
            else:
                self.period_[f] = 0

    def _rolling_one_step(self, counts: np.ndarray, train_end: int, start: int) -> tuple[np.ndarray, np.ndarray]:
        """Model mean and variance (count units) of every interval in ``[train_end, n_intervals)`` from its past."""
        n, t_total = counts.shape
        origins = np.arange(train_end, t_total)
        f_idx = np.repeat(np.arange(n), len(origins))
        t_idx = np.tile(origins, n)
        mean, var = self._model_moments(counts, f_idx, t_idx, 1, start)
        return mean.reshape(n, len(origins)), var.reshape(n, len(origins))

    def _fallback(self, counts: np.ndarray, reason: str) -> BayesLSTMForecaster:
        """No usable network: moving average with residual noise; the report says why."""
        w = self.params.window
        resid = (counts - rolling_trailing_mean(counts, w))[:, 1:]
        self.nets_ = nn.ModuleList()
        self.use_model_ = np.zeros(counts.shape[0], dtype=bool)
        self.period_ = np.zeros(counts.shape[0], dtype=np.int64)
        self.noise_var_ = np.mean(resid**2, axis=1)
        self.std_scale_ = np.ones(counts.shape[0])
        self.validation_report = ValidationReport(usable=False, reason=reason)
        return self

    @property
    def selectable(self) -> bool:
        """True when :meth:`select` can restrict the model: one global network (per-function networks draw their
        MC-dropout masks from one stream in network order, so a subset would not reproduce the same draws)."""
        return self.params.global_model

    def select(self, rows: np.ndarray | list[int]) -> BayesLSTMForecaster:
        """The fitted model restricted to functions ``rows`` (in that order): predictions for those functions are
        identical to this model's. Lets one global model, fitted once on many functions, serve each workflow."""
        if self.scale_ is None:
            raise InputError("bayes-lstm: call fit() before select()")
        if not self.selectable:
            raise InputError("bayes-lstm: select() needs the global model (global_model=True)", field="global_model")
        idx = np.asarray(rows, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= self.scale_.shape[0]:
            raise InputError(f"rows must index the {self.scale_.shape[0]} fitted functions", field="rows")
        out = BayesLSTMForecaster(**asdict(self.params))
        out.nets_ = self.nets_
        out.scale_ = self.scale_[idx]
        for name in ("noise_var_", "use_model_", "period_", "std_scale_", "rate_class_"):
            setattr(out, name, getattr(self, name)[idx])
        out.validation_report = self.validation_report
        return out

    # ---- predict ---------------------------------------------------------------------------------------
    def _model_moments(
        self, counts: np.ndarray, f_idx: np.ndarray, t_idx: np.ndarray, horizon: int, start: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Network mean and MC-dropout variance in count units for windows ending before ``t_idx``.

        Returns two arrays of shape ``(len(f_idx), horizon)``; the mean is clipped at 0.
        """
        p = self.params
        assert self.scale_ is not None
        z = counts / self.scale_[:, None]
        x, ma_z = encoder_inputs(z, self.scale_, f_idx, t_idx, p.window, start, p.interval_s)
        feats = target_features(t_idx, horizon, start, p.interval_s, p.k_out)
        gen = torch.Generator().manual_seed(p.seed)
        mean, var = np.zeros((len(f_idx), horizon)), np.zeros((len(f_idx), horizon))
        for g, net in enumerate(self.nets_):
            rows = np.arange(len(f_idx)) if p.global_model else np.flatnonzero(f_idx == g)
            if rows.size:
                mean[rows], var[rows] = mc_predict(net, x[rows], feats[rows], p.mc_passes, gen)  # type: ignore[arg-type]
        s = self.scale_[f_idx][:, None]
        return np.maximum(0.0, s * (ma_z[:, None] + mean)), s**2 * var

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        """Forecast of the next ``horizon`` intervals for all functions, ``(n_functions, horizon)``.

        One batched network call (all functions, all MC passes), then the phase expert for periodic functions; a
        history shorter than ``window`` is padded on the left with zeros.
        """
        check_horizon(horizon)
        counts = as_history(history)
        if self.scale_ is None:
            raise InputError("bayes-lstm: call fit() before predict()")
        n = counts.shape[0]
        if n != self.scale_.shape[0]:
            raise InputError(f"bayes-lstm: fitted on {self.scale_.shape[0]} functions, got {n}", field="history")
        w = self.params.window
        if counts.shape[1] < w:
            start_interval -= w - counts.shape[1]
            counts = np.concatenate([np.zeros((n, w - counts.shape[1])), counts], axis=1)
        ma = counts[:, -w:].mean(axis=1)
        mean = np.repeat(ma[:, None], horizon, axis=1)
        model_var = np.zeros_like(mean)
        if len(self.nets_) and self.use_model_.any():
            t_idx = np.full(n, counts.shape[1])
            m, v = self._model_moments(counts, np.arange(n), t_idx, int(horizon), start_interval)
            mean = np.where(self.use_model_[:, None], m, mean)
            model_var = np.where(self.use_model_[:, None], v, 0.0)
        targets = np.arange(counts.shape[1], counts.shape[1] + int(horizon))
        for f in np.flatnonzero(self.period_):
            pm, ps = phase_moments(counts[f], int(self.period_[f]), targets)
            mean[f], model_var[f] = pm, ps**2
        std = self.std_scale_[:, None] * np.sqrt(model_var + self.noise_var_[:, None])
        return Forecast(mean=mean, std=std)
