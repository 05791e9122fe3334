"""Model files for ``bayes-lstm``: weights only, never pickled code.

A model file is ``torch.save({"header": <JSON text>, "state": <state_dict>})``. The JSON header holds
``format_version`` (:data:`FORMAT_VERSION`), the hyper-parameters, per-function normalization and noise
statistics, and the validation report. Loading uses ``torch.load(..., weights_only=True)``; a corrupt file, a
different format version or weights that do not fit the header raise :class:`~aquatope.errors.InputError`
naming the file. Writes go to a temporary file that is then renamed, so a file is never half-written.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from aquatope.errors import InputError
from aquatope.forecast.bayes import BayesLSTMForecaster, BayesParams, ValidationReport
from aquatope.forecast.lstm import BayesNet

FORMAT_VERSION = 2  # 2: per-function period of the phase expert


def _header(model: BayesLSTMForecaster) -> dict[str, Any]:
    if model.scale_ is None:
        raise InputError("bayes-lstm: cannot save a model that was not fitted")
    return {
        "format_version": FORMAT_VERSION,
        "kind": model.name,
        "params": asdict(model.params),
        "n_nets": len(model.nets_),
        "scale": model.scale_.tolist(),
        "noise_var": model.noise_var_.tolist(),
        "use_model": model.use_model_.tolist(),
        "period": model.period_.tolist(),
        "std_scale": model.std_scale_.tolist(),
        "rate_class": model.rate_class_.tolist(),
        "validation_report": model.validation_report.to_dict(),
    }


def save_model(model: BayesLSTMForecaster, path: str | Path) -> Path:
    """Write ``model`` (fitted) to ``path`` atomically; returns the path."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    payload = {"header": json.dumps(_header(model)), "state": model.nets_.state_dict()}
    try:
        torch.save(payload, tmp)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _read(path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        header = json.loads(payload["header"])
        state = payload["state"]
    except FileNotFoundError as exc:
        raise InputError("model file not found", source=path) from exc
    except Exception as exc:  # torch raises many types for corrupt or foreign files
        raise InputError(f"not a readable Aquatope model file ({type(exc).__name__})", source=path) from exc
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        found = header.get("format_version") if isinstance(header, dict) else None
        raise InputError(f"model format version {found!r}, expected {FORMAT_VERSION}", source=path)
    return header, state


def load_model(path: str | Path) -> BayesLSTMForecaster:
    """Read a model written by :func:`save_model`; predictions are identical to the saved model's."""
    source = Path(path)
    header, state = _read(source)
    try:
        params = dict(header["params"])
        params["rate_bounds"] = tuple(params["rate_bounds"])
        model = BayesLSTMForecaster(**params)
        cfg = BayesParams(**params).net_config()
        model.nets_ = nn.ModuleList([BayesNet(cfg) for _ in range(int(header["n_nets"]))])
        model.nets_.load_state_dict(state, strict=True)
        model.scale_ = np.asarray(header["scale"], dtype=float)
        model.noise_var_ = np.asarray(header["noise_var"], dtype=float)
        model.use_model_ = np.asarray(header["use_model"], dtype=bool)
        model.period_ = np.asarray(header["period"], dtype=np.int64)
        model.std_scale_ = np.asarray(header["std_scale"], dtype=float)
        model.rate_class_ = np.asarray(header["rate_class"], dtype=int)
        model.validation_report = ValidationReport.from_dict(header["validation_report"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(f"model file does not match its header: {exc}", source=source) from exc
    return model
