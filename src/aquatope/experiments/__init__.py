"""Experiments: named evaluations over the simulator that produce tables, plots and JSON."""
