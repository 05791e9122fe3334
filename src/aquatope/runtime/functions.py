"""Binding a workflow's functions to Python code: ``module:function`` references or callables.

A function runs as ``handler(payload)`` or ``handler(payload, ctx)`` (when the handler takes a second positional
parameter), ``ctx`` being an :class:`Invocation`. An optional ``init()`` runs once when a container starts (imports,
model loading: the real cold start); what it returns is ``ctx.state`` in every invocation of that container.

What a stage's ``payload`` is:

* a source stage (no predecessors): the request's input (``RayPlatform.submit(..., inputs=...)``), by default the
  request id (an ``int``);
* one predecessor: its output; when the predecessor has fan-out and the edge is a fan-in, the list of its copies'
  outputs (in copy order); inside a map group (element-wise edge), copy ``k``'s output;
* several predecessors: a dict ``{stage name: output as above}``.

References in YAML (``handler: image_pipeline:classify``) are imported with the workflow file's directory first on
``sys.path``. Modules found there are not installed on the workers of a Ray cluster, so they are shipped *by value*
(cloudpickle) with the callables; installed packages are imported by name on the workers as usual.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aquatope.errors import InputError
from aquatope.workflow import Workflow


@dataclass(frozen=True)
class Invocation:
    """What a handler knows about the invocation it runs: the request, the stage, which fan-out copy, and the state
    its container's ``init`` returned."""

    request_id: int
    stage: str
    copy: int
    fanout: int
    state: Any = None


@dataclass(frozen=True)
class BoundFunction:
    """A function's code: the handler, the optional init, and whether the handler wants an :class:`Invocation`."""

    name: str
    handler: Callable[..., Any]
    init: Callable[[], Any] | None = None
    wants_ctx: bool = False


def takes_context(handler: Callable[..., Any]) -> bool:
    """True if ``handler`` accepts a second positional argument (the :class:`Invocation`)."""
    try:
        params = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)


def bind(name: str, handler: Callable[..., Any], init: Callable[[], Any] | None = None) -> BoundFunction:
    """Bind callables to function ``name`` (the Python API)."""
    if not callable(handler):
        raise InputError(f"handler of {name!r} is not callable: {handler!r}", field=f"functions.{name}.handler")
    if init is not None and not callable(init):
        raise InputError(f"init of {name!r} is not callable: {init!r}", field=f"functions.{name}.init")
    return BoundFunction(name, handler, init, takes_context(handler))


def resolve_reference(ref: str, *, search_dir: Path | None, source: str | None, field: str) -> Callable[..., Any]:
    """Import ``module:attr.path`` and return the callable, with ``search_dir`` first on ``sys.path``; modules found
    under ``search_dir`` are registered to be pickled by value (shipped to remote workers with the code)."""
    module_name, _, attr_path = ref.partition(":")
    if not module_name or not attr_path:
        raise InputError(f"expected 'module:function', got {ref!r}", source=source, field=field)
    added = False
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
        added = True
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or any error raised by the module's own top-level code
        raise InputError(
            f"cannot import module {module_name!r}: {type(exc).__name__}: {exc}", source=source, field=field
        ) from None
    finally:
        if added:
            sys.path.remove(str(search_dir))
    obj: Any = module
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise InputError(f"module {module_name!r} has no attribute {attr_path!r}", source=source, field=field)
        obj = getattr(obj, part)
    if not callable(obj):
        raise InputError(f"{ref!r} is not callable", source=source, field=field)
    if search_dir is not None and _is_under(module, search_dir):
        _register_by_value(module)
    return obj


def _is_under(module: Any, directory: Path) -> bool:
    path = getattr(module, "__file__", None)
    if not path:
        return False
    try:
        return Path(path).resolve().is_relative_to(directory.resolve())
    except OSError:
        return False


def _register_by_value(module: Any) -> None:
    try:
        from ray import cloudpickle
    except ImportError:  # pragma: no cover - ray is required to run anyway
        return
    top = sys.modules.get(module.__name__.split(".")[0], module)
    with contextlib.suppress(ValueError):  # already registered
        cloudpickle.register_pickle_by_value(top)


def bind_workflow(workflow: Workflow, overrides: Mapping[str, BoundFunction] | None = None) -> dict[str, BoundFunction]:
    """The code of every function of ``workflow``: ``overrides`` (the Python API) or the YAML's ``handler``/``init``.

    A function with neither cannot run on a real platform: :class:`InputError` naming the file and field.
    """
    overrides = overrides or {}
    source = str(workflow.source) if workflow.source else None
    search_dir = workflow.source.parent if workflow.source else None
    out: dict[str, BoundFunction] = {}
    for name in workflow.function_names:
        if name in overrides:
            out[name] = overrides[name]
            continue
        spec = workflow.functions[name]
        if spec.handler is None:
            raise InputError(
                "no handler: add 'handler: module:function' to run this workflow on Ray "
                "(or bind one with RayPlatform.bind)",
                source=source,
                field=f"functions.{name}.handler",
            )
        handler = resolve_reference(
            spec.handler, search_dir=search_dir, source=source, field=f"functions.{name}.handler"
        )
        init = None
        if spec.init is not None:
            init = resolve_reference(spec.init, search_dir=search_dir, source=source, field=f"functions.{name}.init")
        out[name] = BoundFunction(name, handler, init, takes_context(handler))
    return out


def assemble_payload(shape: list[tuple[str, int, bool]], values: tuple[Any, ...]) -> Any:
    """Rebuild a stage's payload from the flat values of its inputs (see the module docstring).

    ``shape`` lists ``(predecessor, number of values, as a list)``; an empty name marks the request input.
    """
    parts: dict[str, Any] = {}
    i = 0
    for pred, n, as_list in shape:
        chunk = values[i : i + n]
        i += n
        parts[pred] = list(chunk) if as_list else chunk[0]
    if len(shape) == 1:
        return parts[shape[0][0]]
    return parts
