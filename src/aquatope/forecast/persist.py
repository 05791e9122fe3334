"""Model files for ``bayes-lstm``: weights and a JSON header, never pickled code, checked before use.

Layout (the safetensors layout, so other tools can read the weights): an 8-byte little-endian header length
``N``, ``N`` bytes of JSON mapping each tensor name to ``{"dtype": "F32", "shape", "data_offsets"}`` plus
``"__metadata__": {"format": "aquatope-bayes-lstm", "aquatope": <header JSON text>, "sha256": <hex>}``, then the
float32 weights. The Aquatope header holds ``format_version`` (:data:`FORMAT_VERSION`), the hyper-parameters, the
per-function state (normalization, components, periods, noise, calibration, validation figures), the model-wide
facts and, when known, the names of the functions the model was fitted on, in row order. ``sha256`` covers the
Aquatope header text and the weight bytes.

:func:`load_model` refuses, with an :class:`~aquatope.errors.InputError` naming the file and the field, before
any expensive work: a file over :data:`MAX_FILE_BYTES`; anything that is not this layout; a checksum mismatch (a
bit-flipped or edited file); a header value out of its range (:data:`~aquatope.forecast.params.LIMITS`, periods,
calibration factors, per-function arrays of the wrong length or non-finite); a model whose forecast would cost
more than :data:`MAX_PREDICT_FLOPS`; weights that do not fit the header or are not finite. Writes go to a
temporary file in the same directory that is then renamed, so a file is never half-written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.forecast.bayes import BayesLSTMForecaster
from aquatope.forecast.calibration import FACTOR_BOUNDS, saturated_class
from aquatope.forecast.features import N_INPUTS
from aquatope.forecast.metrics import RATE_CLASSES
from aquatope.forecast.params import BayesParams
from aquatope.forecast.periodic import MAX_PERIOD
from aquatope.forecast.validation import COMPONENTS, FIGURES, FittedState

OPTIONAL_FIGURES = ("interval_vetoed",)
"""Figures added after format 3 was fixed: a file without them loads with zeros."""
FORMAT_VERSION = 3  # 3: safetensors layout with a checksum; components, own scales, per-function figures, names
FORMAT_NAME = "aquatope-bayes-lstm"
MAX_FILE_BYTES = 256 * 2**20
MAX_HEADER_BYTES = 64 * 2**20
MAX_FUNCTIONS = 1_000_000
MAX_PREDICT_FLOPS = 2e10  # one forecast of every function; the default model needs about 4e5 per function
STD_SCALE_BOUNDS = FACTOR_BOUNDS  # the calibration's bisection range


def predict_flops(params: BayesParams, n_functions: int) -> float:
    """Approximate floating-point operations of one forecast of ``n_functions`` functions (encoder over the window,
    then ``mc_passes`` prediction passes, for each network of the ensemble)."""
    h, w = params.hidden, params.width
    encoder = params.window * 8.0 * h * (N_INPUTS + h)
    head = params.mc_passes * 2.0 * ((h + 5) * w + w * w + 3 * w)
    return float(n_functions) * (encoder + head) * params.n_nets


def save_model(model: BayesLSTMForecaster, path: str | Path, functions: Sequence[str] | None = None) -> Path:
    """Write ``model`` (fitted) to ``path`` atomically; ``functions``: the names of its rows (stored, so that a
    trace can be matched by name later; default: the model's own ``function_names_`` if set). Returns the path."""
    st = model.state_
    if st is None:
        raise InputError("bayes-lstm: cannot save a model that was not fitted")
    names = list(functions) if functions is not None else model.function_names_
    if names is not None and len(names) != model.n_functions:
        raise InputError(f"{len(names)} function names for {model.n_functions} functions", field="functions")
    header = json.dumps(_header(model, st, names))
    tensors = {
        f"{i}.{k}": v.detach().float().contiguous().numpy()
        for i, n in enumerate(model.nets_)
        for k, v in n.state_dict().items()
    }
    blob = _encode(header, tensors)
    target = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise InputError(f"cannot write the model here: {exc.strerror or exc}", source=target) from None
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # mkstemp makes 0600; a model file gets the normal mode, as other outputs
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, target)
    except OSError as exc:
        raise InputError(f"cannot write the model: {exc.strerror or exc}", source=target) from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _header(model: BayesLSTMForecaster, st: FittedState, names: Sequence[str] | None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "kind": model.name,
        "params": asdict(model.params),
        "n_nets": len(model.nets_),
        "functions": None if names is None else [str(n) for n in names],
        "scale": st.scale.tolist(),
        "rate_class": st.rate_class.tolist(),
        "components": [str(c) for c in st.components],
        "period": st.period.tolist(),
        "noise_var": st.noise_var.tolist(),
        "std_scale": st.std_scale.tolist(),
        "own_scale": st.own_scale.tolist(),
        "figures": {k: v.tolist() for k, v in st.figures.items()},
        "model_wide": st.model_wide,
    }


def _digest(header: str, data: bytes) -> str:
    return hashlib.sha256(header.encode() + b"\0" + data).hexdigest()


def _encode(header: str, tensors: Mapping[str, np.ndarray]) -> bytes:
    index: dict[str, Any] = {}
    chunks, offset = [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        index[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    data = b"".join(chunks)
    index["__metadata__"] = {"format": FORMAT_NAME, "aquatope": header, "sha256": _digest(header, data)}
    meta = json.dumps(index).encode()
    meta += b" " * (-len(meta) % 8)
    return struct.pack("<Q", len(meta)) + meta + data


def _decode(raw: bytes, source: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Header dict and float32 tensors of a model file's bytes; checksum verified."""
    bad = lambda why: InputError(f"not an Aquatope model file ({why})", source=source)  # noqa: E731
    if len(raw) < 8:
        raise bad("too short")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > min(MAX_HEADER_BYTES, len(raw) - 8):
        raise bad("bad header length")
    try:
        index = json.loads(raw[8 : 8 + n])
        meta = index.pop("__metadata__")
        header_text = meta["aquatope"]
    except (ValueError, KeyError, TypeError, RecursionError, AttributeError):
        raise bad("unreadable header") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME or not isinstance(header_text, str):
        raise bad(f"format {meta.get('format') if isinstance(meta, dict) else None!r}")
    data = raw[8 + n :]
    if meta.get("sha256") != _digest(header_text, data):
        raise InputError("checksum mismatch: the file is corrupt or was edited", source=source, field="sha256")
    try:
        header = json.loads(header_text)
    except (ValueError, RecursionError):
        raise bad("unreadable Aquatope header") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        found = header.get("format_version") if isinstance(header, dict) else None
        raise InputError(f"model format version {found!r}, expected {FORMAT_VERSION}", source=source)
    return header, _tensors(index, data, source)


def _tensors(index: Mapping[str, Any], data: bytes, source: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    end = 0
    for name, spec in index.items():
        try:
            lo, hi = (int(v) for v in spec["data_offsets"])
            shape = tuple(int(s) for s in spec["shape"])
            ok = spec["dtype"] == "F32" and lo == end and hi - lo == 4 * math.prod(shape) and hi <= len(data)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise InputError("tensor index does not fit the data", source=source, field=str(name))
        out[name] = np.frombuffer(data[lo:hi], dtype="<f4").reshape(shape)
        end = hi
    if end != len(data):
        raise InputError("tensor index does not fit the data", source=source)
    return out


def load_model(path: str | Path) -> BayesLSTMForecaster:
    """Read and check a model written by :func:`save_model`; predictions are identical to the saved model's."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if not source.is_file():
            raise InputError("not a regular file", source=source)
        if size > MAX_FILE_BYTES:
            raise InputError(f"{size:,} bytes, more than a model file can have ({MAX_FILE_BYTES:,})", source=source)
        raw = source.read_bytes()
    except FileNotFoundError:
        raise InputError("model file not found", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read the model file: {exc.strerror or exc}", source=source) from None
    header, tensors = _decode(raw, source)
    model = _model_from_header(header, source)
    n_nets = _get(header, "n_nets", source)
    if isinstance(n_nets, bool) or not isinstance(n_nets, int):
        raise InputError("must be an integer", source=source, field="n_nets")
    _load_weights(model, n_nets, tensors, source)
    return model


def _get(header: Mapping[str, Any], key: str, source: Path) -> Any:
    if key not in header:
        raise InputError("missing from the model header", source=source, field=key)
    return header[key]


def _model_from_header(header: Mapping[str, Any], source: Path) -> BayesLSTMForecaster:
    if _get(header, "kind", source) != BayesLSTMForecaster.name:
        raise InputError(f"must be {BayesLSTMForecaster.name!r}", source=source, field="kind")
    raw_params = _get(header, "params", source)
    if not isinstance(raw_params, dict):
        raise InputError("must be an object", source=source, field="params")
    try:
        params = BayesParams(**{**raw_params, "rate_bounds": tuple(raw_params.get("rate_bounds", ()))})
    except InputError as exc:
        raise InputError(exc.message, source=source, field=f"params.{exc.field}") from None
    except TypeError as exc:
        raise InputError(f"unexpected parameters: {exc}", source=source, field="params") from None
    scale = _array(header, "scale", float, source)
    n = scale.shape[0]
    if not 1 <= n <= MAX_FUNCTIONS:
        raise InputError(f"must list 1 to {MAX_FUNCTIONS:,} functions, got {n}", source=source, field="scale")
    flops = predict_flops(params, n)
    if flops > MAX_PREDICT_FLOPS:
        raise InputError(
            f"a forecast would take about {flops:.1e} operations (limit {MAX_PREDICT_FLOPS:.0e})",
            source=source,
            field="params",
        )
    model = BayesLSTMForecaster(**asdict(params))
    model.state_ = _state(header, n, source)
    names = header.get("functions")
    if names is not None:
        if not (isinstance(names, list) and len(names) == n and all(isinstance(x, str) for x in names)):
            raise InputError(f"must be {n} function names", source=source, field="functions")
        if len(set(names)) != n:
            raise InputError("function names must be unique", source=source, field="functions")
        model.function_names_ = tuple(names)
    model.validation_report = model.state_.report()
    return model


def _array(header: Mapping[str, Any], key: str, kind: type, source: Path, n: int | None = None) -> np.ndarray:
    value = _get(header, key, source)
    try:
        arr: np.ndarray = np.asarray(value, dtype=kind)
    except (TypeError, ValueError):
        raise InputError("must be a list of numbers", source=source, field=key) from None
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        raise InputError(f"must be a list of {n if n is not None else 'per-function'} values", source=source, field=key)
    if kind is float and not np.all(np.isfinite(arr)):
        raise InputError("must be finite numbers", source=source, field=key)
    return arr


_LO, _HI = STD_SCALE_BOUNDS
RANGES: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {  # per-function arrays of the header
    "scale": (lambda a: a >= 1.0, "must be >= 1"),
    "rate_class": (lambda a: np.isin(a, range(len(RATE_CLASSES))), "must be 0, 1 or 2"),
    "period": (
        lambda a: (a == np.round(a)) & (a >= 0) & (a <= MAX_PERIOD),
        f"must be whole numbers in [0, {MAX_PERIOD}]",
    ),
    "noise_var": (lambda a: a >= 0, "must be >= 0"),
    "std_scale": (lambda a: (a >= _LO) & (a <= _HI), f"must be in [{_LO}, {_HI}]"),
    "own_scale": (lambda a: np.isin(a, (0, 1)), "must be booleans"),
}
WIDE_KEYS = {"usable": bool, "reason": str, "std_scale": dict, "final_loss": float, "train_time_s": float}


def _state(header: Mapping[str, Any], n: int, source: Path) -> FittedState:
    """The per-function state, each array checked for its length and range (:data:`RANGES`)."""
    arrays = {}
    for key, (ok, what) in RANGES.items():
        arrays[key] = _array(header, key, float, source, n)
        if not np.all(ok(arrays[key])):
            raise InputError(what, source=source, field=key)
    comps = _get(header, "components", source)
    if not (isinstance(comps, list) and len(comps) == n and all(c in COMPONENTS for c in comps)):
        raise InputError(f"must be {n} of {', '.join(COMPONENTS)}", source=source, field="components")
    if not np.array_equal(arrays["period"] >= 2, np.array([c == "phase" for c in comps])):
        raise InputError("must be >= 2 exactly for the phase component", source=source, field="period")
    return FittedState(
        scale=arrays["scale"],
        rate_class=arrays["rate_class"].astype(np.int64),
        components=np.array(comps, dtype=object),
        period=arrays["period"].astype(np.int64),
        noise_var=arrays["noise_var"],
        std_scale=arrays["std_scale"],
        own_scale=arrays["own_scale"].astype(bool),
        figures=_figures(header, n, source),
        model_wide=_model_wide(header, source),
    )


def _figures(header: Mapping[str, Any], n: int, source: Path) -> dict[str, np.ndarray]:
    figures = _get(header, "figures", source)
    if isinstance(figures, dict) and set(FIGURES) - set(figures) <= set(OPTIONAL_FIGURES):
        figures = {**{k: [0.0] * n for k in OPTIONAL_FIGURES}, **figures}  # files written before these existed
    if not (isinstance(figures, dict) and set(figures) == set(FIGURES)):
        raise InputError(f"must hold {', '.join(FIGURES)}", source=source, field="figures")
    out = {}
    for key in FIGURES:
        values = figures[key]
        try:
            out[key] = np.asarray([np.nan if v is None else v for v in values], dtype=float)
        except (TypeError, ValueError):
            raise InputError("must be lists of numbers", source=source, field=f"figures.{key}") from None
        if out[key].shape != (n,):
            raise InputError(f"must hold {n} values", source=source, field=f"figures.{key}")
    return out


def _model_wide(header: Mapping[str, Any], source: Path) -> dict[str, Any]:
    wide = _get(header, "model_wide", source)
    if not isinstance(wide, dict) or not {"usable", "reason"} <= set(wide):
        raise InputError("must be an object with usable and reason", source=source, field="model_wide")
    for key, value in wide.items():
        kind = WIDE_KEYS.get(key)
        if kind is None or not isinstance(value, kind if kind is not float else (int, float)):
            raise InputError("unexpected content", source=source, field=f"model_wide.{key}")
    scales = wide.get("std_scale", {})
    if not all(k in RATE_CLASSES and isinstance(v, int | float) and math.isfinite(v) for k, v in scales.items()):
        raise InputError("must map rate classes to numbers", source=source, field="model_wide.std_scale")
    cls = saturated_class(scales)
    if wide["usable"] and cls is not None:  # fit() no longer accepts this: the file was trained before it did
        raise InputError(
            f"the {cls} class's calibration reached its bound {FACTOR_BOUNDS[1]:g}, so this model is not "
            "usable (it was trained before fit refused that); retrain it",
            source=source,
            field="model_wide.std_scale",
        )
    return dict(wide)


def _load_weights(model: BayesLSTMForecaster, n_nets: int, tensors: Mapping[str, np.ndarray], source: Path) -> None:
    import torch

    from aquatope.forecast.lstm import seeded_net

    p = model.params
    expected = (p.n_nets if p.global_model else model.n_functions) if tensors else 0
    if n_nets != expected:
        raise InputError(f"must be {expected} for these parameters, got {n_nets}", source=source, field="n_nets")
    nets = [seeded_net(p.net_config(), 0) for _ in range(n_nets)]
    for i, net in enumerate(nets):
        want = net.state_dict()
        got = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.split(".", 1)[0] == str(i)}
        if set(got) != set(want) or any(got[k].shape != tuple(want[k].shape) for k in want):
            raise InputError("weights do not fit the header's network", source=source, field=f"weights.{i}")
        if not all(np.all(np.isfinite(v)) for v in got.values()):
            raise InputError("weights must be finite", source=source, field=f"weights.{i}")
        net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in got.items()}, strict=True)
    if sum(len(net.state_dict()) for net in nets) != len(tensors):
        raise InputError("weights do not fit the header's network", source=source, field="weights")
    model.nets_ = nets


def match_functions(
    model: BayesLSTMForecaster, names: Sequence[str], source: str | Path | None = None
) -> BayesLSTMForecaster:
    """The model for a trace's functions ``names`` (in that order).

    A model that knows its functions' names serves them by name (rows are selected and reordered with
    :meth:`~aquatope.forecast.bayes.BayesLSTMForecaster.select`); every name must be known to it. A model without
    names serves a trace row by row, so the numbers of functions must be equal.
    """
    known = model.function_names_
    if known is None:
        if len(names) != model.n_functions:
            raise InputError(
                f"the model was fitted on {model.n_functions} functions and has no function names; the trace has "
                f"{len(names)}",
                source=source,
                field="functions",
            )
        return model
    if list(known) == list(names):
        return model
    index = {f: i for i, f in enumerate(known)}
    missing = [f for f in names if f not in index]
    if missing:
        raise InputError(
            f"{len(missing)} of the trace's {len(names)} functions are not in the model ({len(known)} functions), "
            f"e.g. {missing[0]!r}",
            source=source,
            field="functions",
        )
    if not model.selectable:
        raise InputError("a per-function model serves only the functions it was fitted on, in order", source=source)
    return model.select([index[f] for f in names])
