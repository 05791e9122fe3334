"""``bayes-lstm``: Aquatope's hybrid Bayesian forecaster (LSTM encoder-decoder + MC-dropout prediction network),
with two named companions: the phase expert and the moving-average fallback.

Fit: the last ``val_fraction`` of the history is held back. On the rest, windows of ``window`` intervals
(features: :mod:`aquatope.forecast.features`) train one global network across functions (or one per function with
``global_model=False``; ``n_nets`` independently seeded networks form a deep ensemble) to predict the next
``k_out`` intervals as a residual, in the working space, on the window's level. On the validation split (rolling
one-step forecasts, :mod:`aquatope.forecast.validation`):

* each function gets a component (``components_``): the network (``lstm``) unless the moving average or, for a
  function with a detected short period (:mod:`aquatope.forecast.periodic`), the phase expert (``phase``) has an
  evidently better median and, each calibrated on the function alone, no worse a 90% interval
  (:func:`~aquatope.forecast.validation.choose_components`);
* forecasts are normal in the working space: the network's median, with the MC-dropout variance over
  ``mc_passes`` passes (epistemic) plus a noise variance (aleatoric: the function's mean squared validation
  residual, or the quantile head's own spread); the phase expert's spread of same-phase values, at least a
  Poisson count's at the same-phase rate (:func:`aquatope.forecast.periodic.phase_forecast`); the moving
  average's residual noise or, if larger, its window's spread
  (:func:`~aquatope.forecast.validation.component_variance`);
* the std is multiplied by a factor found by bisection so that the 90% interval covers 90% of validation
  intervals (in the sense of the randomized PIT of counts, ``calibration="pit"``, or plainly): one factor per rate
  class (mean rate < 1, 1-100, > 100 per interval), or the function's own when it is active in at least
  ``own_scale_min_active`` validation intervals and its own factor lies strictly inside the bisection's bounds.

``validation_report`` records the outcome per rate class and per component (``select`` recomputes it on the
selected functions). When the history is too short, training diverged, the calibrated 90% interval still
under-covers by more than twice ``coverage_tolerance``, or a rate class's factor ended at the bisection's upper
bound (20: no factor widens its intervals enough), the model is not usable (``usable=False`` with a ``reason``):
the moving average then serves every function with its residual noise over the whole history or its window's
spread. A factor at the lower bound is kept: intervals that still over-cover at a twentieth of their width (a
clean periodic signal) are conservative, not wrong. torch is imported only when a network is trained or run.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.base import Forecast
from aquatope.forecast.baselines import as_history, check_horizon, rolling_trailing_mean
from aquatope.forecast.calibration import (
    FACTOR_BOUNDS,
    bisect_factor,
    calibrate_scale,
    saturated_class,
    working_pit_coverage,
)
from aquatope.forecast.features import (
    encoder_inputs,
    from_working,
    function_scale,
    target_features,
    targets,
    to_working,
)
from aquatope.forecast.metrics import RATE_CLASSES, rate_classes
from aquatope.forecast.params import BayesParams
from aquatope.forecast.periodic import detect_periods, phase_forecast
from aquatope.forecast.validation import (
    COMPONENTS,
    FittedState,
    ValidationReport,
    candidates_as_served,
    choose_components,
    component_variance,
    served_figures,
    window_variance,
)

if TYPE_CHECKING:
    from aquatope.forecast.lstm import BayesNet

MIN_VALIDATION = 10  # intervals held back at least, for noise variance and calibration


class BayesLSTMForecaster:
    """Hybrid Bayesian LSTM forecaster; keyword arguments are the fields of :class:`BayesParams`."""

    name = "bayes-lstm"

    def __init__(self, **params: object) -> None:
        try:
            self.params = BayesParams(**params)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InputError(f"bayes-lstm: {exc}") from exc
        self.nets_: list[BayesNet] = []
        self.state_: FittedState | None = None
        self.function_names_: tuple[str, ...] | None = None  # names of the fitted rows, where known (model files)
        self.validation_report = ValidationReport(usable=False, reason="not fitted")

    @property
    def components_(self) -> tuple[str, ...]:
        """The component serving each fitted function (``lstm``, ``phase`` or ``moving-average``), in row order."""
        return () if self.state_ is None else tuple(str(c) for c in self.state_.components)

    @property
    def n_functions(self) -> int:
        return 0 if self.state_ is None else int(self.state_.scale.shape[0])

    # ---- fit -------------------------------------------------------------------------------------------
    def fit(
        self, history: np.ndarray, start_interval: int = 0, *, train_functions: np.ndarray | None = None
    ) -> BayesLSTMForecaster:
        """Train, validate and calibrate on ``history`` (n_functions, n_intervals); see the module docstring.

        ``train_functions`` (row indices) restricts the network's training windows to those functions; every
        function still gets its own scale, component choice and calibration from its own validation split. The
        rows left out are then forecast by a network that never saw them: held-out functions
        (``bench/forecast_eval.py --holdout-folds``)."""
        from aquatope.forecast.lstm import torch_threads

        counts = as_history(history, min_intervals=2)
        rows = np.arange(counts.shape[0]) if train_functions is None else np.unique(np.asarray(train_functions))
        if rows.size == 0 or rows[0] < 0 or rows[-1] >= counts.shape[0]:
            raise InputError(
                f"bayes-lstm: train_functions must be row indices in [0, {counts.shape[0]})", field="train_functions"
            )
        if train_functions is not None and not self.params.global_model:
            raise InputError("bayes-lstm: train_functions needs the global model", field="global_model")
        p = self.params
        n_val = max(1, round(counts.shape[1] * p.val_fraction))
        train_end = counts.shape[1] - n_val
        scale = function_scale(counts[:, : max(train_end, 1)])
        self.nets_ = []
        if train_end < p.window + p.k_out + 1 or n_val < MIN_VALIDATION:
            need = p.window + p.k_out + 1 + max(MIN_VALIDATION, n_val)
            reason = f"too little history: {counts.shape[1]} intervals, need at least {need}"
            return self._fallback(counts, scale, n_val, reason)
        began = time.perf_counter()
        with torch_threads(p.n_threads):
            losses = self._train(counts, scale, train_end, start_interval, rows)
            train_time_s = time.perf_counter() - began
            if not np.all(np.isfinite(losses)) or not self._finite_weights():
                return self._fallback(counts, scale, n_val, "training diverged (non-finite loss or weights)")
            self._validate(counts, scale, train_end, start_interval)
        assert self.state_ is not None
        self.state_.model_wide.update(
            final_loss=float(losses[-1]) if losses else float("nan"), train_time_s=train_time_s
        )
        report = self.validation_report
        cov90 = report.pit_coverage_90 if p.calibration == "pit" else report.coverage.get(0.9, float("nan"))
        if not cov90 >= 0.9 - 2 * p.coverage_tolerance:
            return self._fallback(counts, scale, n_val, f"90% {p.calibration} coverage {cov90:.3f} after calibration")
        cls = saturated_class(self.state_.model_wide["std_scale"])
        if cls is not None:  # even 20x wider intervals under-cover: no factor calibrates them
            bound = FACTOR_BOUNDS[1]
            return self._fallback(counts, scale, n_val, f"the {cls} class's calibration reached its bound {bound:g}")
        self.validation_report = self.state_.report()
        return self

    def _train(
        self, counts: np.ndarray, scale: np.ndarray, train_end: int, start: int, rows: np.ndarray
    ) -> list[float]:
        from aquatope.forecast.lstm import seeded_net, train_net

        p = self.params
        rng = np.random.default_rng(p.seed)
        part = counts[:, :train_end]
        w = to_working(part, scale, p.space)
        groups = [rows] * p.n_nets if p.global_model else [np.array([f]) for f in rows]
        losses: list[float] = []
        for g, funcs in enumerate(groups):
            f_idx, t_idx = self._draw_windows(part, funcs, rng)
            x, wmean = encoder_inputs(part, scale, f_idx, t_idx, p.window, start, p.interval_s)
            feats = target_features(t_idx, p.k_out, start, p.interval_s, p.k_out)
            y = targets(w, f_idx, t_idx, to_working(wmean, scale[f_idx], p.space), p.k_out)
            net = seeded_net(p.net_config(), p.seed + g)
            losses += train_net(net, x, feats, y, p.net_config(), p.seed + g)
            self.nets_.append(net)
        return losses

    def _draw_windows(self, part: np.ndarray, funcs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """``n_windows`` (function, origin) pairs: uniform over pairs, or equally from each rate class present."""
        p = self.params
        n_origins = part.shape[1] - p.k_out - p.window + 1
        if p.balance_classes and len(funcs) > 1:
            cls = rate_classes(part[funcs], p.rate_bounds)
            weight = 1.0 / np.bincount(cls, minlength=len(RATE_CLASSES))[cls]
            f_idx = funcs[rng.choice(len(funcs), size=p.n_windows, p=weight / weight.sum())]
            return f_idx, rng.integers(0, n_origins, size=p.n_windows) + p.window
        n_pairs = len(funcs) * n_origins  # subsample, or oversample a short history to n_windows
        pairs = rng.choice(n_pairs, size=p.n_windows, replace=p.n_windows > n_pairs)
        return funcs[pairs // n_origins], pairs % n_origins + p.window

    def _finite_weights(self) -> bool:
        import torch

        return all(bool(torch.isfinite(t).all()) for net in self.nets_ for t in net.state_dict().values())

    def _candidates(
        self, counts: np.ndarray, scale: np.ndarray, train_end: int, start: int
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
        """Rolling one-step forecasts of the validation split by every component, in the working space:
        ``(centers, spread variances, periods)``; the phase expert's rows are NaN where no period was found."""
        p, n, sp = self.params, counts.shape[0], self.params.space
        origins = np.arange(train_end, counts.shape[1])
        f_idx, t_idx = np.repeat(np.arange(n), len(origins)), np.tile(origins, n)
        net_c, net_mvar, net_noise = (
            a.reshape(n, -1) for a in self._network_moments(counts, scale, f_idx, t_idx, 1, start)
        )
        periods = detect_periods(counts[:, :train_end]) if p.phase_expert else np.zeros(n, dtype=np.int64)
        ph_c, ph_std = np.full_like(net_c, np.nan), np.zeros_like(net_c)
        for f in np.flatnonzero(periods):
            ph_c[f], ph_std[f] = phase_forecast(counts[f], int(periods[f]), origins, float(scale[f]), sp)
        ma_c = to_working(rolling_trailing_mean(counts, p.window)[:, train_end:], scale, sp)
        ma_var = window_variance(counts, scale, p.window, sp)[:, train_end:]
        centers = {"lstm": net_c, "phase": ph_c, "moving-average": ma_c}
        return centers, {"lstm": net_mvar + net_noise, "phase": ph_std**2, "moving-average": ma_var}, periods

    def _validate(self, counts: np.ndarray, scale: np.ndarray, train_end: int, start: int) -> None:
        """Choose components, estimate noise, calibrate; sets ``state_`` and ``validation_report``."""
        p, sp = self.params, self.params.space
        actual = counts[:, train_end:]
        centers, spreads, periods = self._candidates(counts, scale, train_end, start)
        noise, raw, own, loss = candidates_as_served(
            actual, centers, spreads, scale, sp, p.calibration, p.quantile_head
        )
        medians = {k: from_working(v, scale, sp) for k, v in centers.items()}
        comp = choose_components(actual, medians, loss)
        vetoed = choose_components(actual, medians) != comp  # the median alone would have chosen otherwise
        conditions = [comp[:, None] == k for k in COMPONENTS]
        center = np.select(conditions, [centers[k] for k in COMPONENTS])
        noise_var = np.select([comp == k for k in COMPONENTS], [noise[k] for k in COMPONENTS])
        raw_std = np.select(conditions, [raw[k] for k in COMPONENTS])
        own_factor = np.select([comp == k for k in COMPONENTS], [own[k] for k in COMPONENTS])
        rate_class = rate_classes(counts, p.rate_bounds)
        std_scale, own_flag, class_scales = self._calibrate(actual, center, raw_std, scale, rate_class, own_factor)
        ma = from_working(centers["moving-average"], scale, sp)
        self.state_ = FittedState(
            scale=scale,
            rate_class=rate_class,
            components=comp,
            period=np.where(comp == "phase", periods, 0),
            noise_var=noise_var,
            std_scale=std_scale,
            own_scale=own_flag,
            figures={
                **served_figures(actual, center, std_scale[:, None] * raw_std, raw_std, ma, scale, sp),
                "interval_vetoed": vetoed.astype(float),
            },
            model_wide={"usable": True, "reason": "", "std_scale": class_scales},
        )
        self.validation_report = self.state_.report()

    def _calibrate(
        self,
        actual: np.ndarray,
        center: np.ndarray,
        std: np.ndarray,
        scale: np.ndarray,
        rate_class: np.ndarray,
        own_factor: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Std factor per function: its rate class's, or its own (``own_factor``, from :func:`own_factors`) for
        functions active in at least ``own_scale_min_active`` validation intervals (a constant noise level fits a
        bursty function badly, and pooling it with calmer functions would misstate both). Returns (factors, own
        flags, factor per class)."""
        p = self.params

        def factor(rows: np.ndarray) -> float:
            a, c, sd, sc = actual[rows], center[rows], std[rows], scale[rows]
            if p.calibration == "plain":
                return calibrate_scale(to_working(a, sc, p.space), c, sd, 0.9, 0.0)
            return bisect_factor(lambda f: float(np.mean(working_pit_coverage(a, c, f * sd, sc, p.space))), 0.9)

        factors = np.ones(actual.shape[0])
        class_scales: dict[str, float] = {}
        for k in np.unique(rate_class):
            rows = rate_class == k
            class_scales[RATE_CLASSES[int(k)]] = factors[rows] = factor(rows)
        own = np.count_nonzero(actual > 0, axis=1) >= p.own_scale_min_active
        own &= (FACTOR_BOUNDS[0] < own_factor) & (own_factor < FACTOR_BOUNDS[1])  # at a bound it failed: the class's
        factors[own] = own_factor[own]
        return factors, own, class_scales

    def _fallback(self, counts: np.ndarray, scale: np.ndarray, n_val: int, reason: str) -> BayesLSTMForecaster:
        """No usable network: every function is served by the moving average with its residual noise (working
        space, over the whole history); the report gives its validation-split figures and says why."""
        p, n = self.params, counts.shape[0]
        ma = rolling_trailing_mean(counts, p.window)
        resid = (to_working(counts, scale, p.space) - to_working(ma, scale, p.space))[:, 1:]
        noise_var = np.mean(resid**2, axis=1)
        self.nets_ = []
        tail = slice(counts.shape[1] - n_val, counts.shape[1])
        local = window_variance(counts, scale, p.window, p.space)[:, tail]
        center = to_working(ma[:, tail], scale, p.space)
        std = np.sqrt(component_variance("moving-average", local, noise_var))
        self.state_ = FittedState(
            scale=scale,
            rate_class=rate_classes(counts, p.rate_bounds),
            components=np.full(n, "moving-average", dtype=object),
            period=np.zeros(n, dtype=np.int64),
            noise_var=noise_var,
            std_scale=np.ones(n),
            own_scale=np.zeros(n, dtype=bool),
            figures={
                **served_figures(counts[:, tail], center, std, std, ma[:, tail], scale, p.space),
                "interval_vetoed": np.zeros(n),
            },
            model_wide={"usable": False, "reason": reason, "std_scale": {}},
        )
        self.validation_report = self.state_.report()
        return self

    @property
    def selectable(self) -> bool:
        """True when :meth:`select` can restrict the model: one global network (or ensemble). Per-function
        networks are tied to their row."""
        return self.params.global_model

    def select(self, rows: np.ndarray | list[int]) -> BayesLSTMForecaster:
        """The fitted model restricted to functions ``rows`` (in that order): predictions for those functions are
        identical to this model's (MC-dropout masks are shared by all rows of a pass), and ``validation_report``
        and ``components_`` are those of these functions. Lets one global model, fitted once on many functions,
        serve each workflow."""
        if self.state_ is None:
            raise InputError("bayes-lstm: call fit() before select()")
        if not self.selectable:
            raise InputError("bayes-lstm: select() needs the global model (global_model=True)", field="global_model")
        idx = np.asarray(rows, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= self.n_functions:
            raise InputError(f"rows must index the {self.n_functions} fitted functions", field="rows")
        out = BayesLSTMForecaster(**asdict(self.params))
        out.nets_ = self.nets_
        out.state_ = self.state_.rows(idx)
        out.function_names_ = None if self.function_names_ is None else tuple(self.function_names_[i] for i in idx)
        out.validation_report = out.state_.report()
        return out

    # ---- predict ---------------------------------------------------------------------------------------
    def _network_moments(
        self, counts: np.ndarray, scale: np.ndarray, f_idx: np.ndarray, t_idx: np.ndarray, horizon: int, start: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Working-space center, MC-dropout (and ensemble) variance and head noise variance of the network for
        windows ending before ``t_idx``; three arrays ``(len(f_idx), horizon)``."""
        import torch

        from aquatope.forecast.lstm import mc_predict

        p = self.params
        x, wmean = encoder_inputs(counts, scale, f_idx, t_idx, p.window, start, p.interval_s)
        feats = target_features(t_idx, horizon, start, p.interval_s, p.k_out)
        gen = torch.Generator().manual_seed(p.seed)
        draws = []
        for g, net in enumerate(self.nets_):
            rows = np.arange(len(f_idx)) if p.global_model else np.flatnonzero(f_idx == g)
            if rows.size:
                draws.append((rows, mc_predict(net, x[rows], feats[rows], p.mc_passes, gen)))
        n = len(f_idx)
        med, mvar, noise, seen = np.zeros((n, horizon)), np.zeros((n, horizon)), np.zeros((n, horizon)), np.zeros(n)
        for rows, (m, v, e) in draws:  # ensemble: mixture of the members' predictive distributions
            med[rows] += m
            mvar[rows] += v + m**2
            noise[rows] += e
            seen[rows] += 1
        k = np.maximum(seen, 1)[:, None]
        med, mvar, noise = med / k, mvar / k - (med / k) ** 2, noise / k
        center = to_working(wmean, scale[f_idx], p.space)[:, None] + med
        if p.space == "linear":
            center = np.maximum(center, 0.0)
        return center, np.maximum(mvar, 0.0), noise

    def predict(self, history: np.ndarray, horizon: int = 1, start_interval: int = 0) -> Forecast:
        """Forecast of the next ``horizon`` intervals for all functions, ``(n_functions, horizon)``.

        One batched network call for the functions the network serves (all MC passes), the phase expert for
        ``phase`` functions, the moving average for the rest; a history shorter than ``window`` is padded on the
        left with zeros.
        """
        check_horizon(horizon)
        counts = as_history(history)
        st = self.state_
        if st is None:
            raise InputError("bayes-lstm: call fit() before predict()")
        n, h, sp = counts.shape[0], int(horizon), self.params.space
        if n != self.n_functions:
            raise InputError(f"bayes-lstm: fitted on {self.n_functions} functions, got {n}", field="history")
        w = self.params.window
        if counts.shape[1] < w:
            start_interval -= w - counts.shape[1]
            counts = np.concatenate([np.zeros((n, w - counts.shape[1])), counts], axis=1)
        center = np.repeat(to_working(counts[:, -w:].mean(axis=1), st.scale, sp)[:, None], h, axis=1)
        var = np.repeat(st.noise_var[:, None], h, axis=1)
        ma_rows = np.flatnonzero(st.components == "moving-average")
        if ma_rows.size:
            last = np.pad(counts[ma_rows, -w:], ((0, 0), (0, 1)))  # the window before a next interval
            local = window_variance(last, st.scale[ma_rows], w, sp)[:, -1:]
            var[ma_rows] = component_variance("moving-average", local, st.noise_var[ma_rows])
        net_rows = np.flatnonzero(st.components == "lstm")
        if net_rows.size and self.nets_:
            from aquatope.forecast.lstm import torch_threads

            with torch_threads(self.params.n_threads):
                t_idx = np.full(net_rows.size, counts.shape[1])
                c, mv, e = self._network_moments(counts, st.scale, net_rows, t_idx, h, start_interval)
            center[net_rows], var[net_rows] = c, var[net_rows] + mv + e
        future = np.arange(counts.shape[1], counts.shape[1] + h)
        for f in np.flatnonzero(st.components == "phase"):
            pm, ps = phase_forecast(counts[f], int(st.period[f]), future, float(st.scale[f]), sp)
            center[f], var[f] = pm, ps**2
        std = st.std_scale[:, None] * np.sqrt(var)
        if sp == "log":
            return Forecast.log1p_normal(center, std)
        return Forecast(mean=from_working(center, st.scale, sp), std=st.scale[:, None] * std)
