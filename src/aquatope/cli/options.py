"""Options shared by every command, declared once: ``--seed`` (one range, one message).

Use in a command::

    def command(seed: SeedOption = 0): ...
    def other(seed: Annotated[int, seed_option("Seed of the sizer.")] = 0): ...   # with its own help text

A negative or too large seed is then refused by the CLI (exit code 2, one line naming ``--seed``). Library
code that takes a seed from elsewhere (a spec string, a file) checks it with :func:`aquatope.errors.check_seed`.
Boolean flags need nothing special: the CLI shows every flag without a ``<bool>`` type.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from aquatope.errors import MAX_SEED


def seed_option(help: str = "Seed of every random draw; same seed, same result.") -> Any:
    """A ``--seed`` option limited to 0 .. 2**32 - 1."""
    return typer.Option("--seed", min=0, max=MAX_SEED, help=help)


SeedOption = Annotated[int, seed_option()]
