"""Reading and writing user files safely.

* Reading (:mod:`aquatope.jsonio.inputs`): :func:`read_json` and :func:`read_text` with size (and, for JSON,
  depth) limits and one clear error per problem; :func:`note_input` records what a command reads.
* Writing (:mod:`aquatope.jsonio.outputs`): :class:`OutputPlan` checks a command's outputs before it runs
  (never an input, never a device or a directory, a writable directory) and writes them all or none;
  :func:`write_json_atomic`, :func:`write_text_atomic` and :func:`save_figure_atomic` are one-file plans.
"""

from __future__ import annotations

from aquatope.jsonio.inputs import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    decode_text,
    guard_inputs,
    inputs_read,
    note_input,
    read_bytes,
    read_json,
    read_text,
)
from aquatope.jsonio.outputs import (
    FIGURE_SUFFIXES,
    OutputPlan,
    Staging,
    check_output_path,
    clean_json,
    save_figure_atomic,
    write_json_atomic,
    write_text_atomic,
)

__all__ = [
    "FIGURE_SUFFIXES",
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "OutputPlan",
    "Staging",
    "check_output_path",
    "clean_json",
    "decode_text",
    "guard_inputs",
    "inputs_read",
    "note_input",
    "read_bytes",
    "read_json",
    "read_text",
    "save_figure_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
