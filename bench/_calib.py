"""Shared pieces of the calibration scripts: robust summaries, least-squares fits with standard errors, the
machine's state (load average, cores) and the JSON output.

Every fit is ordinary least squares (``scipy.optimize.curve_fit``); the standard errors are the square roots of the
diagonal of its covariance (residual variance scaled, i.e. not assuming the noise level is known). ``r2`` is
``1 - SS_res / SS_tot`` on the fitted quantity.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Median and interquartile range of ``n`` values."""

    n: int
    median: float
    q25: float
    q75: float

    @property
    def iqr(self) -> float:
        return self.q75 - self.q25


def summary(values: Sequence[float]) -> Summary:
    v = np.asarray(values, dtype=float)
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return Summary(int(v.size), float(med), float(q25), float(q75))


@dataclass(frozen=True)
class Fit:
    """Fitted parameters with standard errors; ``r2`` and the residual RMS on the fitted quantity."""

    model: str
    params: dict[str, float]
    stderr: dict[str, float]
    r2: float
    rms: float
    points: int

    def text(self, fmt: str = ".3f") -> str:
        ps = ", ".join(f"{k} = {v:{fmt}} +/- {self.stderr[k]:{fmt}}" for k, v in self.params.items())
        return f"{self.model}: {ps}  (R^2 {self.r2:.3f}, rms {self.rms:.3g}, {self.points} points)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def least_squares(
    model: str,
    f: Callable[..., np.ndarray],
    x: Sequence[float],
    y: Sequence[float],
    names: Sequence[str],
    p0: Sequence[float],
    bounds: tuple[Sequence[float], Sequence[float]] | None = None,
) -> Fit:
    """Fit ``y ~ f(x, *params)`` by least squares (see the module docstring)."""
    from scipy.optimize import curve_fit

    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if ya.size <= len(names):
        raise ValueError(f"{model}: {ya.size} points cannot fit {len(names)} parameters")
    kwargs: dict[str, Any] = {"p0": list(p0), "maxfev": 20000}
    if bounds is not None:
        kwargs["bounds"] = bounds
    popt, pcov = curve_fit(f, xa, ya, **kwargs)
    resid = ya - f(xa, *popt)
    ss_res = float(resid @ resid)
    ss_tot = float(((ya - ya.mean()) ** 2).sum())
    se = np.sqrt(np.clip(np.diag(pcov), 0.0, None))
    return Fit(
        model,
        {k: float(v) for k, v in zip(names, popt, strict=True)},
        {k: float(v) for k, v in zip(names, se, strict=True)},
        1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        float(np.sqrt(ss_res / ya.size)),
        int(ya.size),
    )


def machine_state() -> dict[str, Any]:
    """Cores, load average and time: printed and saved before and after a run."""
    one, five, fifteen = os.getloadavg()
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cores": os.cpu_count(),
        "loadavg_1_5_15": [round(one, 2), round(five, 2), round(fifteen, 2)],
        "machine": platform.processor() or platform.machine(),
    }


def print_state(label: str, state: dict[str, Any]) -> None:
    la = state["loadavg_1_5_15"]
    print(f"{label}: {state['time']}, {state['cores']} cores, load average {la[0]} / {la[1]} / {la[2]} (1/5/15 min)")


def write_json(path: str | None, data: dict[str, Any]) -> None:
    """Write ``data`` atomically with :mod:`aquatope.jsonio` when ``--json`` was given."""
    if path is None:
        return
    from aquatope.jsonio import write_json_atomic

    write_json_atomic(path, data)
    print(f"wrote {path}")


def check_json_path(path: str | None) -> None:
    """Refuse a bad ``--json`` path before the (long) run, not after."""
    if path is not None:
        from aquatope.errors import InputError
        from aquatope.jsonio import check_output_path

        try:
            check_output_path(path)
        except InputError as exc:
            print(f"error: --json: {exc}", file=sys.stderr)
            raise SystemExit(2) from None


def calibration_parser(doc: str | None, repeats: int, quick_help: str, wait_help: str) -> argparse.ArgumentParser:
    """The options both calibration scripts share: repetitions, quick mode, seed, quiet wait, JSON output."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=repeats, help=f"repetitions (default {repeats})")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--seed", type=int, default=0, help="seed of the order (and of any bootstrap)")
    parser.add_argument("--quiet-below", type=float, default=0.5, help="background demand (CPUs) to wait for")
    parser.add_argument("--max-wait-s", type=float, default=8.0, help=wait_help)
    parser.add_argument("--json", help="write the points, fits and recommended defaults here")
    parser.add_argument("--levels", type=_floats, help="comma-separated levels instead of the defaults")
    return parser


def _floats(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or any(not v > 0 for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers > 0, got {text!r}")
    return values


def load_saved(paths: Sequence[str], key: str) -> tuple[list[list[dict[str, Any]]], dict[str, Any], dict[str, Any]]:
    """The ``key`` records of runs saved with ``--json``, one list per file; the machine state before the first run
    and after the last (both printed for every file)."""
    runs = []
    states = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        print_state(f"{path}: before", data["machine_before"])
        print_state(f"{path}: after", data["machine_after"])
        states.append((data["machine_before"], data["machine_after"]))
        runs.append(list(data[key]))
    return runs, states[0][0], states[-1][1]
