"""Workflows (DAGs of functions with an end-to-end QoS target), their YAML form and the built-in catalogue."""

from __future__ import annotations

from aquatope.workflow.catalog import builtin_workflow_names, builtin_workflow_path, load_workflow
from aquatope.workflow.loader import load_workflow_file, workflow_from_dict
from aquatope.workflow.model import WORKFLOW_KINDS, FunctionSpec, QoS, Stage, Workflow, topological_order

__all__ = [
    "WORKFLOW_KINDS",
    "FunctionSpec",
    "QoS",
    "Stage",
    "Workflow",
    "builtin_workflow_names",
    "builtin_workflow_path",
    "load_workflow",
    "load_workflow_file",
    "topological_order",
    "workflow_from_dict",
]
