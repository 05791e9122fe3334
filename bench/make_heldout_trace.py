"""Build the held-out Azure trace: the functions of a larger invitro sample that are not in the bundled sample.

The vHive "invitro" sampler (MIT license) re-published samples of the Azure Functions 2019 trace (Microsoft Azure
Public Dataset, CC-BY 4.0) of 10 to 1,000 functions. Its 1,000-function sample (repository
``vhive-serverless/invitro``, commit ``cb0077f3a4af0142e521d47cddfd81e41a1ce170``, 2022-02-21, files
``data/traces/10-1000-10/1000_{inv,run,mem}.csv``) holds the bundled 250 functions row for row; the other 750 are
functions no constant of this project was chosen on. This script checks that containment, keeps the 750 (their
invocation, duration and memory rows, unchanged), and writes them in the bundled sample's layout::

    python bench/make_heldout_trace.py INV.csv RUN.csv MEM.csv [--out bench/data/azure2019-heldout-750]

The result is stored in ``bench/data/azure2019-heldout-750``; ``bench/forecast_eval.py --holdout-trace`` reads it.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import NoReturn

import aquatope
from aquatope.errors import InputError
from aquatope.jsonio.outputs import OutputPlan

SAMPLE = Path(aquatope.__file__).parent / "data" / "azure2019-sample-250"


def refuse(message: str) -> NoReturn:
    """One line on stderr, exit code 2 (the project's rule for bad input)."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """A CSV file's header and rows, or one line naming the file (exit 2)."""
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            return next(reader), list(reader)
    except (OSError, StopIteration, csv.Error, UnicodeDecodeError) as exc:
        refuse(f"{path}: {exc or 'empty file'}")


def as_csv(header: list[str], body: list[list[str]]) -> str:
    lines = [",".join(header)] + [",".join(r) for r in body]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("invocations", type=Path)
    ap.add_argument("durations", type=Path)
    ap.add_argument("memory", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "azure2019-heldout-750")
    args = ap.parse_args()
    plan = OutputPlan()
    plan.input(args.invocations, args.durations, args.memory)
    plan.directory(args.out, field="--out")
    try:
        plan.check()  # before any work: no output may replace an input or a non-regular file
    except InputError as exc:
        refuse(str(exc))
    inv_h, inv = rows(args.invocations)
    run_h, run = rows(args.durations)
    mem_h, mem = rows(args.memory)
    s_inv_h, s_inv = rows(SAMPLE / "invocations.csv")
    if inv_h != s_inv_h:
        refuse(f"{args.invocations}: header differs from the bundled sample's")
    bundled = {r[0]: r for r in s_inv}
    mine = {r[0]: r for r in inv}
    missing = [f for f in bundled if f not in mine]
    changed = [f for f in bundled if f in mine and mine[f] != bundled[f]]
    if missing or changed:
        refuse(f"{args.invocations}: {len(missing)} bundled functions missing, {len(changed)} differ")
    held = [r for r in inv if r[0] not in bundled]
    names = {r[0] for r in held}
    apps = {r[1] for r in held}
    held_run = [r for r in run if r[0] in names]
    held_mem = [r for r in mem if r[0] in apps]  # memory rows are per application (HashApp first)
    with plan.commit() as staged:  # the three files as a set
        staged.text(args.out / "invocations.csv", as_csv(inv_h, held))
        staged.text(args.out / "durations.csv", as_csv(run_h, held_run))
        staged.text(args.out / "memory.csv", as_csv(mem_h, held_mem))
    print(f"{args.out}: {len(held)} functions ({len(held_run)} duration rows, {len(held_mem)} memory rows)")


if __name__ == "__main__":
    main()
