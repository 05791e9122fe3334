"""Writing results: JSON and figures go to a temporary file in the target directory, then an atomic rename
(never half-written)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError


def _clean(value: Any) -> Any:
    """Replace NaN and infinities (not valid JSON) by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def clean_json(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by None and numpy scalars by Python ones (valid JSON)."""
    return _clean(value)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path`` atomically; refuse a path whose directory does not exist."""
    path = check_output_path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror or exc}", source=path) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(_clean(data), handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write results: {exc.strerror or exc}", source=path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_output_path(path: str | Path) -> Path:
    """Refuse, before any work is done, an output path whose directory is missing or that is a directory."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a directory; give a file name", source=path)
    if not path.parent.is_dir():
        raise InputError(f"directory {path.parent} does not exist", source=path)
    return path


def save_figure_atomic(fig: Any, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically, then close it."""
    import matplotlib.pyplot as plt

    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return path
