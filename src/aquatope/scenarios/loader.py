"""Reading scenarios: the named ones shipped with the package (``scenarios/data/*.yaml``) or a YAML/JSON file.

``load_scenario("shared")`` or ``load_scenario("path/to/mine.yaml")``. A file may ``extends:`` a named scenario (or
another file, relative to itself) and override any field; unknown keys and bad values are refused with the file and
the field named.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aquatope.errors import InputError
from aquatope.scenarios.model import ClusterSpec, Scenario, StepSpec, TenantSpec

MAX_BYTES = 256 * 1024
"""A scenario file is a page of YAML; anything larger is refused before parsing."""
MAX_EXTENDS = 8

_SECTIONS: dict[str, set[str] | None] = {
    "name": None,
    "description": None,
    "extends": None,
    "cluster": {"invokers", "invoker_cpu", "invoker_memory_mb", "cpu_overcommit", "peak_utilisation", "placement"},
    "tenants": {"functions", "scale", "keep_alive_s"},
    "interference": {"cpu", "memory"},
    "cold_start_storm": None,
    "transfer": {"latency_ms", "inline_mb", "storage_ms", "mb_per_s"},
    "drift": {"steps", "diurnal"},
    "noise": {"neighbours", "heavy_tail"},
    "measurement": {"where"},
    "arrival_mode": None,
    "pricing": None,
}
_NESTED = {
    ("drift", "diurnal"): {"amplitude", "period_h", "peak_h"},
    ("noise", "neighbours"): {"rate_per_h", "duration_s", "cpu_share"},
    ("noise", "heavy_tail"): {"prob", "alpha"},
}


def _builtin_dir() -> Path:
    return Path(str(resources.files("aquatope.scenarios") / "data"))


def scenario_names() -> tuple[str, ...]:
    """The named scenarios shipped with the package, in a stable order (calm first)."""
    names = sorted(p.stem for p in _builtin_dir().glob("*.yaml"))
    order = ["calm", "shared", "noisy", "drift"]
    return tuple([n for n in order if n in names] + [n for n in names if n not in order])


def _read(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"a scenario file must be under {MAX_BYTES // 1024} KiB, got {size:,} bytes", source=path)
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a UTF-8 text file"
        raise InputError(f"cannot read scenario: {reason}", source=path) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(f"malformed YAML: {getattr(exc, 'problem', None) or exc}", source=path, line=line) from None
    if not isinstance(data, dict):
        raise InputError("a scenario file must be a mapping", source=path, line=1)
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _resolve(spec: str, relative_to: Path | None, depth: int) -> tuple[dict[str, Any], str]:
    if depth > MAX_EXTENDS:
        raise InputError(f"'extends' is nested more than {MAX_EXTENDS} deep (a loop?)", field="extends")
    if spec in scenario_names():
        path = _builtin_dir() / f"{spec}.yaml"
        shown = spec
    else:
        path = Path(spec) if relative_to is None else relative_to / spec
        shown = str(path)
        if not path.is_file():
            known = ", ".join(scenario_names())
            raise InputError(
                f"no scenario named {spec!r} and no such file; named scenarios: {known}", field="--scenario"
            )
    data = _read(path)
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise InputError(f"must be a scenario name or path, got {parent!r}", source=path, field="extends")
        base, _ = _resolve(parent, path.parent, depth + 1)
        data = _merge(base, {k: v for k, v in data.items() if k != "extends"})
    return data, shown


def _check_keys(data: dict[str, Any], source: str) -> None:
    for key, value in data.items():
        if key not in _SECTIONS:
            raise InputError(f"unknown key; known: {', '.join(_SECTIONS)}", source=source, field=str(key))
        allowed = _SECTIONS[key]
        if allowed is None:
            continue
        if not isinstance(value, dict):
            raise InputError("expected a mapping", source=source, field=key)
        for sub, inner in value.items():
            if sub not in allowed:
                raise InputError(
                    f"unknown key; known: {', '.join(sorted(allowed))}", source=source, field=f"{key}.{sub}"
                )
            nested = _NESTED.get((key, sub))
            if nested is not None:
                if not isinstance(inner, dict):
                    raise InputError("expected a mapping", source=source, field=f"{key}.{sub}")
                for k in inner:
                    if k not in nested:
                        raise InputError(
                            f"unknown key; known: {', '.join(sorted(nested))}", source=source, field=f"{key}.{sub}.{k}"
                        )


def _count_or_all(value: Any, word: str) -> Any:
    return None if value == word else value


def scenario_from_dict(data: dict[str, Any], source: str) -> Scenario:
    """Build a :class:`Scenario` from the nested mapping of a file (after ``extends`` is merged)."""
    _check_keys(data, source)
    c, t = data.get("cluster", {}), data.get("tenants", {})
    drift, noise = data.get("drift", {}), data.get("noise", {})
    diurnal, neigh, tail = drift.get("diurnal", {}), noise.get("neighbours", {}), noise.get("heavy_tail", {})
    steps = drift.get("steps", [])
    try:
        if not isinstance(steps, list) or not all(
            isinstance(s, dict) and set(s) == {"at", "function", "factor"} for s in steps
        ):
            raise InputError("must be a list of {at, function, factor}", field="drift.steps")
        cluster_defaults = ClusterSpec()
        return Scenario(
            name=str(data.get("name", Path(source).stem)),
            description=str(data.get("description", "")).strip(),
            cluster=ClusterSpec(
                invokers=_count_or_all(c.get("invokers", cluster_defaults.invokers), "auto"),
                invoker_cpu=c.get("invoker_cpu", cluster_defaults.invoker_cpu),
                invoker_memory_mb=c.get("invoker_memory_mb", cluster_defaults.invoker_memory_mb),
                cpu_overcommit=c.get("cpu_overcommit", cluster_defaults.cpu_overcommit),
                peak_utilisation=c.get("peak_utilisation", cluster_defaults.peak_utilisation),
                placement=c.get("placement", cluster_defaults.placement),
            ),
            tenants=TenantSpec(
                functions=_count_or_all(t.get("functions", 0), "all"),
                scale=t.get("scale", 1.0),
                keep_alive_s=t.get("keep_alive_s", 600.0),
            ),
            interference_cpu=data.get("interference", {}).get("cpu", 0.0),
            interference_memory=data.get("interference", {}).get("memory", 0.0),
            cold_start_storm=data.get("cold_start_storm", 0.0),
            transfer_latency_ms=data.get("transfer", {}).get("latency_ms", 0.0),
            transfer_inline_mb=data.get("transfer", {}).get("inline_mb", 0.25),
            transfer_storage_ms=data.get("transfer", {}).get("storage_ms", 0.0),
            transfer_mb_per_s=data.get("transfer", {}).get("mb_per_s", 0.0),
            steps=tuple(StepSpec(**s) for s in steps),
            diurnal_amplitude=diurnal.get("amplitude", 0.0),
            diurnal_period_h=diurnal.get("period_h", 24.0),
            diurnal_peak_h=diurnal.get("peak_h", 14.0),
            neighbour_rate_per_h=neigh.get("rate_per_h", 0.0),
            neighbour_duration_s=neigh.get("duration_s", 300.0),
            neighbour_cpu_share=neigh.get("cpu_share", 0.5),
            heavy_tail_prob=tail.get("prob", 0.0),
            heavy_tail_alpha=tail.get("alpha", 2.0),
            measurement=data.get("measurement", {}).get("where", "staging"),
            arrival_mode=data.get("arrival_mode", "poisson"),
            pricing=data.get("pricing", "cloud-run"),
            source=source,
        )
    except InputError as exc:
        raise InputError(exc.message, source=source, field=_file_field(exc.field)) from None
    except TypeError as exc:
        raise InputError(f"bad value: {exc}", source=source) from None


_SIM_TO_FILE = {
    "invoker_cpu": "cluster.invoker_cpu",
    "invoker_memory_mb": "cluster.invoker_memory_mb",
    "cpu_overcommit": "cluster.cpu_overcommit",
    "placement": "cluster.placement",
    "transfer_ms": "transfer.latency_ms",
    "transfer_inline_mb": "transfer.inline_mb",
    "transfer_storage_ms": "transfer.storage_ms",
    "transfer_mb_per_s": "transfer.mb_per_s",
    "interference": "interference.cpu",
    "interference_memory": "interference.memory",
    "diurnal_amplitude": "drift.diurnal.amplitude",
    "diurnal_period_s": "drift.diurnal.period_h",
    "neighbour_rate_per_h": "noise.neighbours.rate_per_h",
    "neighbour_duration_s": "noise.neighbours.duration_s",
    "neighbour_cpu_share": "noise.neighbours.cpu_share",
    "heavy_tail_prob": "noise.heavy_tail.prob",
    "heavy_tail_alpha": "noise.heavy_tail.alpha",
}


def _file_field(field: str | None) -> str | None:
    """A SimConfig field named as the scenario file spells it."""
    return _SIM_TO_FILE.get(field or "", field)


def load_scenario(spec: str | Scenario | None) -> Scenario:
    """A named scenario or a file (``None``: ``calm``); a Scenario passes through."""
    if isinstance(spec, Scenario):
        return spec
    data, shown = _resolve(spec or "calm", None, 0)
    return scenario_from_dict(data, shown)
