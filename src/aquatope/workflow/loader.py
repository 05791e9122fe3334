"""Workflow YAML: parse, validate and refuse bad input with the file, line and field named.

Schema (see ``src/aquatope/workloads/*.yaml`` for complete examples)::

    name: ml-pipeline                 # required, the workflow's name
    kind: analytics                   # analytics | interactive
    description: free text
    qos: {latency_ms: 4000, percentile: 95}
    functions:                        # every function the stages invoke
      detect-objects:
        description: free text
        resources: {cpu: 2.0, memory_mb: 2048}   # default configuration (what a user deploys)
        perf: {model: parametric, serial_ms: ..., ...}   # or {model: empirical, file: measurements/x.csv}
        handler: my_module:detect     # optional: the code that runs it on a real platform (Ray)
        init: my_module:load_model    # optional: run once per container (imports, model loading)
        output_mb: 0.5                # optional: payload an invocation passes on (transfer delays), default 0
        bound: cpu                    # optional: cpu | memory (how contention slows it), default cpu
        timeout_s: 30                 # optional: time limit of one invocation on Ray, default 60 (OpenWhisk's)
    maps:                             # optional map groups: N element-wise parallel pipelines
      chunks: {fanout: 8}
    stages:                           # the DAG; a stage invokes `function` (default: its own name)
      split: {}
      watermark: {after: [split], map: chunks}
      merge: {after: [watermark]}
      detect: {function: detect-objects, after: [merge], fanout: 4}

Hostile files are refused with a message naming the line (see :func:`parse_yaml`): more than
:data:`MAX_YAML_BYTES`, nesting deeper than :data:`MAX_YAML_DEPTH`, and anchors and aliases that expand to
more than :data:`MAX_YAML_NODES` nodes (a "billion laughs" file is 1 KB and expands to 10^9 nodes) or refer
to themselves. Only plain YAML types are built (no ``!!python/...`` or custom tags).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from aquatope.errors import InputError, brief
from aquatope.jsonio import read_text
from aquatope.resources import ResourceConfig
from aquatope.workflow.model import DEFAULT_TIMEOUT_S, MAX_FANOUT, WORKFLOW_KINDS, FunctionSpec, QoS, Stage, Workflow

_TOP_KEYS = {"name", "kind", "description", "qos", "functions", "maps", "stages"}
_FUNCTION_KEYS = {"perf", "resources", "description", "handler", "init", "output_mb", "bound", "timeout_s"}
_CODE_REF = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
MAX_YAML_BYTES = 2**20
"""Largest workflow file (1 MiB); the built-in ones are 2-5 KB."""
MAX_YAML_DEPTH = 32
"""Deepest nesting of a workflow file; the schema needs 4 levels."""
MAX_YAML_NODES = 100_000
"""Most YAML nodes a workflow file may expand to once aliases are followed; the built-in ones have ~300."""


class _LineDict(dict[str, Any]):
    """A mapping that remembers the 1-based line of itself and of each of its values."""

    line: int | None = None
    lines: dict[str, int]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are :class:`_LineDict` (so errors can name lines) and whose composer refuses
    nesting deeper than :data:`MAX_YAML_DEPTH`."""

    depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise InputError(f"nested deeper than {MAX_YAML_DEPTH} levels", line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        if key in out:
            raise InputError(f"duplicate key {brief(key)}", line=key_node.start_mark.line + 1, field=key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Ctx:
    """Where we are while reading: the file, for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, message: str, node: Any, key: str | None, field: str) -> InputError:
        line = None
        if isinstance(node, _LineDict):
            line = node.lines.get(key, node.line) if key is not None else node.line
        return InputError(message, source=self.source, line=line, field=field)

    def mapping(self, node: Any, key: str, parent: Any, field: str, required: bool = True) -> _LineDict:
        value = parent.get(key) if isinstance(parent, dict) else None
        if value is None:
            if required:
                raise self.error("missing (a mapping is required)", parent, None, field)
            empty = _LineDict()
            empty.line, empty.lines = getattr(parent, "line", None), {}
            return empty
        if not isinstance(value, _LineDict):
            raise self.error(f"expected a mapping, got {type(value).__name__}", parent, key, field)
        return value


def load_workflow_file(path: str | Path) -> Workflow:
    """Load and validate a workflow YAML file; raises :class:`InputError` naming file, line and field."""
    path = Path(path)
    source = str(path)
    text = read_text(path, max_bytes=MAX_YAML_BYTES, what="workflow file")
    return workflow_from_dict(parse_yaml(text, source), base_dir=path.parent, source=source)


def parse_yaml(text: str, source: str) -> Any:
    """Parse one YAML document with line numbers, refusing malformed YAML, unknown tags, deep nesting and
    alias expansions beyond :data:`MAX_YAML_NODES` (module doc)."""
    loader = _LineLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), source)
        return loader.construct_document(node)
    except InputError as exc:
        raise InputError(exc.message, source=source, line=exc.line, field=exc.field) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        context, problem = getattr(exc, "context", None), getattr(exc, "problem", None) or str(exc)
        what = f"{context}, {problem}" if context else problem
        raise InputError(f"malformed YAML: {what}", source=source, line=line) from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], source: str) -> int:
    """Nodes under ``node`` with every alias followed (memoized: a shared node is counted per reference)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise InputError("an alias refers to the node that contains it", line=node.start_mark.line + 1)
    open_nodes.add(key)
    total = 1
    if isinstance(node, yaml.SequenceNode):
        total += sum(_expanded_size(child, sizes, open_nodes, source) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, sizes, open_nodes, source) + _expanded_size(v, sizes, open_nodes, source)
    if total > MAX_YAML_NODES:
        raise InputError(
            f"expands to more than {MAX_YAML_NODES:,} nodes through anchors and aliases", line=node.start_mark.line + 1
        )
    open_nodes.discard(key)
    sizes[key] = total
    return total


def workflow_from_dict(data: Any, *, base_dir: Path, source: str = "<workflow>") -> Workflow:
    """Build a :class:`Workflow` from parsed YAML (see the module docstring for the schema)."""
    ctx = _Ctx(source)
    if not isinstance(data, dict):
        raise InputError("a workflow file must be a YAML mapping", source=source, line=1)
    if not isinstance(data, _LineDict):  # built in code rather than parsed: no line numbers to report
        data = _with_no_lines(data)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ctx.error(f"unknown keys {unknown}; allowed: {sorted(_TOP_KEYS)}", data, unknown[0], unknown[0])
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ctx.error("missing or empty (a string is required)", data, "name" if "name" in data else None, "name")
    kind = data.get("kind", "analytics")
    if kind not in WORKFLOW_KINDS:
        raise ctx.error(f"must be one of {list(WORKFLOW_KINDS)}, got {brief(kind)}", data, "kind", "kind")
    qos = _read_qos(ctx, data)
    functions = _read_functions(ctx, data, base_dir)
    stages = _read_stages(ctx, data)
    try:
        return Workflow(
            name=name,
            kind=kind,
            description=str(data.get("description", "")).strip(),
            qos=qos,
            functions=functions,
            stages=stages,
            source=Path(source) if source and not source.startswith("<") else None,
        )
    except InputError as exc:
        stages_node = data.get("stages")
        stage_name = exc.field.split(".")[1] if exc.field and exc.field.startswith("stages.") else None
        line = None
        if isinstance(stages_node, _LineDict):
            line = stages_node.lines.get(stage_name, stages_node.line) if stage_name else stages_node.line
        raise InputError(exc.message, source=source, line=line, field=exc.field) from None


def _with_no_lines(data: dict[str, Any]) -> _LineDict:
    out = _LineDict()
    out.line, out.lines = None, {}
    for key, value in data.items():
        out[str(key)] = _with_no_lines(value) if isinstance(value, dict) else value
    return out


def _read_qos(ctx: _Ctx, data: _LineDict) -> QoS:
    node = ctx.mapping(data, "qos", data, "qos")
    unknown = sorted(set(node) - {"latency_ms", "percentile"})
    if unknown:
        raise ctx.error(
            f"unknown keys {unknown}; allowed: latency_ms, percentile", node, unknown[0], f"qos.{unknown[0]}"
        )
    values: dict[str, float] = {}
    for key, default in (("latency_ms", None), ("percentile", 95.0)):
        value = node.get(key, default)
        if value is None:
            raise ctx.error("missing", node, None, f"qos.{key}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ctx.error(f"must be a number, got {brief(value)}", node, key, f"qos.{key}")
        values[key] = float(value)
    try:
        return QoS(latency_ms=values["latency_ms"], percentile=values["percentile"])
    except InputError as exc:
        key = (exc.field or "qos.latency_ms").split(".")[-1]
        raise ctx.error(exc.message, node, key, f"qos.{key}") from None


def _read_functions(ctx: _Ctx, data: _LineDict, base_dir: Path) -> dict[str, FunctionSpec]:
    from aquatope.perf import perf_model_from_spec

    node = ctx.mapping(data, "functions", data, "functions")
    if not node:
        raise ctx.error("at least one function is required", data, "functions", "functions")
    functions: dict[str, FunctionSpec] = {}
    for fname, spec in node.items():
        where = f"functions.{fname}"
        if not isinstance(spec, _LineDict):
            raise ctx.error("expected a mapping with perf and resources", node, fname, where)
        unknown = sorted(set(spec) - _FUNCTION_KEYS)
        if unknown:
            allowed = ", ".join(sorted(_FUNCTION_KEYS))
            raise ctx.error(f"unknown keys {unknown}; allowed: {allowed}", spec, unknown[0], where)
        if "perf" not in spec:
            raise ctx.error("missing performance model", node, fname, f"{where}.perf")
        if "resources" not in spec:
            raise ctx.error("missing default resources {cpu, memory_mb}", node, fname, f"{where}.resources")
        try:
            resources = ResourceConfig.from_dict(spec["resources"], field=f"{where}.resources")
        except InputError as exc:
            key = (exc.field or "").split(".")[-1]
            res_node = spec["resources"]
            raise ctx.error(
                exc.message, res_node if isinstance(res_node, _LineDict) else spec, key, exc.field or where
            ) from None
        if not isinstance(spec["perf"], dict):
            raise ctx.error("expected a mapping (model: parametric|empirical, ...)", spec, "perf", f"{where}.perf")
        try:
            perf = perf_model_from_spec(spec["perf"], base_dir=base_dir, source=ctx.source, field=f"{where}.perf")
        except InputError as exc:
            if exc.line is not None or exc.source not in (None, ctx.source):
                raise
            key = (exc.field or "").split(".")[-1]
            raise ctx.error(exc.message, spec["perf"], key, exc.field or f"{where}.perf") from None
        code = {key: _code_ref(ctx, spec, key, f"{where}.{key}") for key in ("handler", "init")}
        try:
            functions[str(fname)] = FunctionSpec(
                str(fname),
                perf,
                resources,
                str(spec.get("description", "")).strip(),
                code["handler"],
                code["init"],
                output_mb=spec.get("output_mb", 0.0),
                bound=spec.get("bound", "cpu"),
                timeout_s=spec.get("timeout_s", DEFAULT_TIMEOUT_S),
            )
        except InputError as exc:
            key = exc.field or "output_mb"
            raise ctx.error(exc.message, spec, key, f"{where}.{key}") from None
    return functions


def _code_ref(ctx: _Ctx, spec: _LineDict, key: str, field: str) -> str | None:
    """An optional ``module:function`` reference (checked for shape only; the runtime imports it)."""
    value = spec.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not _CODE_REF.fullmatch(value.strip()):
        raise ctx.error(f"expected 'module:function' (e.g. my_pkg.stages:resize), got {brief(value)}", spec, key, field)
    return value.strip()


def _read_maps(ctx: _Ctx, data: _LineDict) -> dict[str, int]:
    node = ctx.mapping(data, "maps", data, "maps", required=False)
    fanouts: dict[str, int] = {}
    for gname, spec in node.items():
        where = f"maps.{gname}"
        if not isinstance(spec, _LineDict) or set(spec) != {"fanout"}:
            raise ctx.error("expected {fanout: N}", node, gname, where)
        fanout = spec["fanout"]
        if isinstance(fanout, bool) or not isinstance(fanout, int) or not 1 <= fanout <= MAX_FANOUT:
            message = f"fanout must be an integer in 1..{MAX_FANOUT:,}, got {brief(fanout)}"
            raise ctx.error(message, spec, "fanout", f"{where}.fanout")
        fanouts[str(gname)] = fanout
    return fanouts


def _read_stages(ctx: _Ctx, data: _LineDict) -> tuple[Stage, ...]:
    maps = _read_maps(ctx, data)
    node = ctx.mapping(data, "stages", data, "stages")
    stages = [_read_stage(ctx, node, str(sname), spec, maps) for sname, spec in node.items()]
    return tuple(stages)


def _read_stage(ctx: _Ctx, node: _LineDict, sname: str, spec: Any, maps: Mapping[str, int]) -> Stage:
    where = f"stages.{sname}"
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise ctx.error("expected a mapping (function, after, fanout, map)", node, sname, where)
    unknown = sorted(set(spec) - {"function", "after", "fanout", "map"})
    if unknown:
        raise ctx.error(
            f"unknown keys {unknown}; allowed: function, after, fanout, map",
            node,
            sname,
            f"{where}.{unknown[0]}",
        )
    after = spec.get("after", [])
    if isinstance(after, str):
        after = [after]
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):
        raise ctx.error("after must be a list of stage names", node, sname, f"{where}.after")
    group = spec.get("map")
    fanout = spec.get("fanout", 1)
    if group is not None:
        if group not in maps:
            raise ctx.error(
                f"unknown map group {brief(group)}; declared: {brief(sorted(maps))}", node, sname, f"{where}.map"
            )
        if "fanout" in spec and spec["fanout"] != maps[group]:
            raise ctx.error(
                f"fanout {brief(spec['fanout'])} differs from map group {brief(group)}", node, sname, f"{where}.fanout"
            )
        fanout = maps[group]
    if isinstance(fanout, bool) or not isinstance(fanout, int) or not 1 <= fanout <= MAX_FANOUT:
        message = f"fanout must be an integer in 1..{MAX_FANOUT:,}, got {brief(fanout)}"
        raise ctx.error(message, node, sname, f"{where}.fanout")
    if group is None and fanout > 1:
        group = f"stage:{sname}"
    function = spec.get("function", sname)
    if not isinstance(function, str):
        raise ctx.error("function must be a function name", node, sname, f"{where}.function")
    return Stage(name=sname, function=function, after=tuple(after), fanout=fanout, map_group=group)
