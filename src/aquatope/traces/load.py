"""One entry point for every trace source: a path (Azure 2019 or 2021) or a ``synthetic:...`` spec."""

from __future__ import annotations

from pathlib import Path

from aquatope.errors import InputError
from aquatope.traces.azure import load_azure2019
from aquatope.traces.azure2021 import is_azure2021, load_azure2021
from aquatope.traces.model import InvocationTrace
from aquatope.traces.synthetic import PREFIX, parse_synthetic_spec


def load_trace(spec_or_path: str | Path, *, seed: int = 0) -> InvocationTrace:
    """Load a trace.

    * ``synthetic:KIND:key=value,...`` — generated (see :mod:`aquatope.traces.synthetic`); ``seed`` is
      used unless the spec gives its own ``seed=``.
    * a file whose header has ``end_timestamp,duration`` — Azure 2021 per-invocation rows.
    * any other file or a directory — Azure 2019 per-minute counts (either layout, one or more days).

    Bad input raises :class:`InputError` naming the file, line and column.
    """
    if isinstance(spec_or_path, str) and spec_or_path.strip().startswith(PREFIX):
        return parse_synthetic_spec(spec_or_path, seed=seed)
    path = Path(spec_or_path)
    if not path.exists():
        raise InputError("no such file or directory", source=path)
    if is_azure2021(path):
        return load_azure2021(path)
    return load_azure2019(path)
