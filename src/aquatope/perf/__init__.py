"""Performance models: warm latency and cold-start samples for a function at a resource configuration.

* :class:`PerfModel`: the protocol (``sample_latency_ms``, ``sample_cold_start_ms``,
  ``latency_quantile_ms``, ``fails``, ``describe``, ``to_spec``). **An out-of-memory invocation is
  ``np.nan`` in a latency sample; the simulator treats NaN as a failed invocation.**
* :class:`ParametricPerf`: Amdahl CPU scaling, I/O, memory pressure, lognormal noise, stragglers.
* :class:`EmpiricalPerf`: resamples measured latencies (SeBS result CSVs or a generic CSV).
* :func:`perf_model_from_spec`: the YAML form; :func:`fit_parametric`: a parametric model from measurements.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aquatope.perf.base import PerfModel, noise_quantile, sample_noise
from aquatope.perf.empirical import EmpiricalPerf
from aquatope.perf.measurements import FORMATS, ConfigSamples, Measurements, detect_format, load_measurements
from aquatope.perf.parametric import ParametricPerf, deterministic_latency_ms
from aquatope.perf.percentile import PercentilePerf
from aquatope.perf.spec import MODELS, perf_model_from_spec

if TYPE_CHECKING:
    from aquatope.perf.fit import ConfigFit, FitResult, fit_parametric

_FIT = ("ConfigFit", "FitResult", "fit_parametric")


def __getattr__(name: str) -> Any:
    """The fitting API is imported on first use (it needs SciPy's optimizers; loading a workflow does not)."""
    if name in _FIT:
        from aquatope.perf import fit

        return getattr(fit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "MODELS",
    "ConfigFit",
    "ConfigSamples",
    "EmpiricalPerf",
    "FitResult",
    "Measurements",
    "ParametricPerf",
    "PercentilePerf",
    "PerfModel",
    "detect_format",
    "deterministic_latency_ms",
    "fit_parametric",
    "load_measurements",
    "noise_quantile",
    "perf_model_from_spec",
    "sample_noise",
]
