"""The YAML form of a performance model, as written under a function's ``perf:`` key.

Parametric (field names and meaning: :class:`~aquatope.perf.ParametricPerf`)::

    perf: {model: parametric, serial_ms: 120, parallel_ms: 400, max_parallelism: 4, io_ms: 30,
           working_set_mb: 512, min_memory_mb: 256, cv: 0.15, cold_start_ms: 800}

Empirical (:class:`~aquatope.perf.EmpiricalPerf`; ``file`` relative to the YAML file's directory)::

    perf: {model: empirical, file: measurements/sebs-120.csv, format: sebs, scale: 1.0}

``format`` (``sebs`` or ``generic``) defaults to detection from the CSV header, ``scale`` to 1, and the
optional ``min_memory_mb`` overrides the OOM threshold inferred from the data.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aquatope.errors import InputError, brief
from aquatope.perf.base import PerfModel
from aquatope.perf.empirical import EmpiricalPerf
from aquatope.perf.measurements import FORMATS, load_measurements
from aquatope.perf.parametric import ParametricPerf
from aquatope.perf.percentile import PercentilePerf

MODELS = ("parametric", "empirical", "percentiles")
_PARAMETRIC_ALL = tuple(f.name for f in dataclasses.fields(ParametricPerf))
_PARAMETRIC_REQUIRED = tuple(f.name for f in dataclasses.fields(ParametricPerf) if f.default is dataclasses.MISSING)
_EMPIRICAL_ALL = ("file", "format", "scale", "min_memory_mb")


def _check_keys(
    spec: Mapping[str, Any], allowed: Iterable[str], required: Iterable[str], source: str | None, field: str
) -> None:
    allowed_set = {"model", *allowed}
    for key in spec:
        if key not in allowed_set:
            raise InputError(
                f"unknown field {brief(key)}; allowed: {sorted(allowed_set)}", source=source, field=f"{field}.{key}"
            )
    for key in required:
        if key not in spec:
            raise InputError("missing", source=source, field=f"{field}.{key}")


def _number(value: Any, *, minimum: float, source: str | None, field: str, strict: bool = False) -> float:
    bad_type = isinstance(value, bool) or not isinstance(value, int | float)
    if bad_type or not math.isfinite(value) or value < minimum or (strict and value == minimum):
        relation = ">" if strict else ">="
        raise InputError(f"must be a number {relation} {minimum:g}, got {brief(value)}", source=source, field=field)
    return float(value)


def _parametric(spec: Mapping[str, Any], source: str | None, field: str) -> ParametricPerf:
    _check_keys(spec, _PARAMETRIC_ALL, _PARAMETRIC_REQUIRED, source, field)
    values = {key: spec[key] for key in _PARAMETRIC_ALL if key in spec}
    try:
        return ParametricPerf(**values)
    except InputError as exc:
        sub = f"{field}.{exc.field}" if exc.field else field
        raise InputError(exc.message, source=source, field=sub) from None


def _empirical(spec: Mapping[str, Any], base_dir: Path, source: str | None, field: str) -> EmpiricalPerf:
    _check_keys(spec, _EMPIRICAL_ALL, ("file",), source, field)
    file = spec["file"]
    if not isinstance(file, str) or not file.strip():
        raise InputError(f"must be a file path, got {brief(file)}", source=source, field=f"{field}.file")
    path = Path(base_dir) / file
    if not path.is_file():
        raise InputError(f"file not found: {path}", source=source, field=f"{field}.file")
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise InputError(
            f"unknown format {brief(fmt)}; choose one of {list(FORMATS)}", source=source, field=f"{field}.format"
        )
    scale = _number(spec.get("scale", 1.0), minimum=0.0, strict=True, source=source, field=f"{field}.scale")
    min_mem = spec.get("min_memory_mb")
    if min_mem is not None:
        min_mem = _number(min_mem, minimum=0.0, source=source, field=f"{field}.min_memory_mb")
    return EmpiricalPerf(load_measurements(path, format=fmt), scale=scale, min_memory_mb=min_mem, file=file)


def _percentiles(spec: Mapping[str, Any], source: str | None, field: str) -> PercentilePerf:
    _check_keys(
        spec,
        ("percents", "latencies_ms", "cold_start_ms", "cold_start_cv"),
        ("percents", "latencies_ms"),
        source,
        field,
    )
    for key in ("percents", "latencies_ms"):
        if not isinstance(spec[key], list) or not all(isinstance(v, int | float) for v in spec[key]):
            raise InputError("must be a list of numbers", source=source, field=f"{field}.{key}")
    extra = {
        k: _number(spec[k], minimum=0.0, source=source, field=f"{field}.{k}")
        for k in ("cold_start_ms", "cold_start_cv")
        if k in spec
    }
    try:
        return PercentilePerf(tuple(spec["percents"]), tuple(spec["latencies_ms"]), **extra)
    except InputError as exc:
        raise InputError(exc.message, source=source, field=f"{field}.{exc.field}") from None


def perf_model_from_spec(
    spec: Mapping[str, Any], *, base_dir: Path, source: str | None = None, field: str = "perf"
) -> PerfModel:
    """Build a :class:`~aquatope.perf.PerfModel` from its YAML mapping (module docstring: the forms).

    ``base_dir`` resolves an empirical model's ``file``; ``source`` (the YAML file) and ``field`` (where the
    mapping sits in it) locate errors: an unknown model, an unknown or missing field, a bad value or a
    missing file raise :class:`~aquatope.errors.InputError` with ``field=f"{field}.<name>"``. Errors inside a
    measurement CSV name the CSV's own line and column. ``model.to_spec()`` round-trips through this function.
    """
    if not isinstance(spec, Mapping):
        raise InputError(f"expected a mapping with a 'model' key, got {brief(spec)}", source=source, field=field)
    model = spec.get("model")
    if model is None:
        raise InputError(f"missing; choose one of {list(MODELS)}", source=source, field=f"{field}.model")
    if model == "parametric":
        return _parametric(spec, source, field)
    if model == "empirical":
        return _empirical(spec, base_dir, source, field)
    if model == "percentiles":
        return _percentiles(spec, source, field)
    raise InputError(
        f"unknown model {brief(model)}; choose one of {list(MODELS)}", source=source, field=f"{field}.model"
    )
