"""Aquatope: QoS- and uncertainty-aware resource management for serverless workflows."""

from __future__ import annotations

__version__ = "0.1.0"
