"""The built-in workflows shipped as YAML in ``aquatope/workloads``, and lookup by name or path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aquatope.errors import InputError
from aquatope.workflow.loader import load_workflow_file
from aquatope.workflow.model import Workflow


def _workloads_dir() -> Path:
    return Path(str(resources.files("aquatope") / "workloads"))


def builtin_workflow_names() -> list[str]:
    """Names of the built-in workflows (their YAML file stems), sorted."""
    return sorted(p.stem for p in _workloads_dir().glob("*.yaml"))


def builtin_workflow_path(name: str) -> Path:
    """The YAML file of built-in workflow ``name``; :class:`InputError` listing the known names otherwise."""
    path = _workloads_dir() / f"{name}.yaml"
    if not path.is_file():
        raise InputError(
            f"unknown workflow {name!r}; built-in: {', '.join(builtin_workflow_names())}", field="workflow"
        )
    return path


def load_workflow(name_or_path: str | Path) -> Workflow:
    """Load a built-in workflow by name, or a workflow YAML file by path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists() or "/" in text:
        return load_workflow_file(path)
    return load_workflow_file(builtin_workflow_path(text))
