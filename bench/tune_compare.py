"""Is one sizer version better than another? Pairs the runs of two ``bench/tune_eval.py`` result files and tests.

Two versions run under the same scenario, workflow, measurement seed and sizer-seed offset (and the same budget,
requests per evaluation, start and load) measure the same world, so their runs pair up; the score, the test and the
verdict are in :mod:`aquatope.experiments.paired` (a one-sided Wilcoxon signed-rank test of paired log cost over the
optimum, a run without a passing answer scoring log 2, per scenario and pooled). Use several sizer-seed offsets per
version (``tune_eval.py --sizer-seed-offset N``): one draw per version cannot tell a change from the sizer's luck.
``--null A,B`` compares two offsets of the same code in the BASE files instead: what luck alone shows.

    python bench/tune_compare.py NEW.jsonl BASE.jsonl [BASE2.jsonl ...] [--method aquatope-bo]
        [--base-method M] [--alpha 0.05] [--json out.json]
    python bench/tune_compare.py --null 0,1 bench/results/tune_eval_training_sizer_seeds.jsonl

Seconds. Exit code 2 with one line on a bad file, line or field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aquatope.errors import InputError
from aquatope.experiments.paired import by_offset, compare, load_runs
from aquatope.jsonio import check_output_path, guard_inputs, write_json_atomic


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="NEW.jsonl BASE.jsonl [BASE2.jsonl ...] (with --null: BASE files)")
    parser.add_argument("--method", default="aquatope-bo", help="the method compared (default aquatope-bo)")
    parser.add_argument("--base-method", default=None, help="the base files' method (default: --method)")
    parser.add_argument("--alpha", type=float, default=0.05, help="level of each one-sided test (default 0.05)")
    parser.add_argument("--null", default=None, metavar="A,B", help="compare sizer-seed offsets A and B of BASE")
    parser.add_argument("--json", default=None, help="write the comparison as JSON")
    return parser.parse_args(argv)


def offsets(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise InputError(f"must be two sizer-seed offsets A,B, got {text!r}", field="--null")
    return int(parts[0]), int(parts[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    if not 0 < args.alpha < 0.5:
        raise InputError(f"must be in (0, 0.5), got {args.alpha}", field="--alpha")
    base_method = args.base_method or args.method
    if args.null is not None:
        a, b = offsets(args.null)
        runs = load_runs(args.files, args.method)
        new, base, label = by_offset(runs, a), by_offset(runs, b), f"offset {a} against offset {b}"
    else:
        if len(args.files) < 2:
            raise InputError("give NEW.jsonl and at least one BASE.jsonl", field="files")
        new, base = load_runs(args.files[:1], args.method), load_runs(args.files[1:], base_method)
        label = f"{args.files[0]} ({args.method}) against {', '.join(args.files[1:])} ({base_method})"
    if args.json is not None:  # after reading: never over an input
        check_output_path(args.json)
    result = compare(new, base, args.alpha)
    result["compared"] = label
    return result


def show(result: dict[str, Any]) -> None:
    print(result["compared"])
    print(f"{'scenario':8} {'pairs':>5}  {'within 5% new/base':>18}  {'median new/base':>15}  {'answered':>9}  "
          f"{'fresh':>9}  {'mean diff':>9}  {'p better':>8}  {'p worse':>8}")  # fmt: skip
    for sc, s in result["scenarios"].items():
        n, b = s["new"], s["base"]
        print(f"{sc:8} {s['pairs']:>5}  {n['within']:>8} / {b['within']:<7}  {n['median']:>6.3f} / {b['median']:<6.3f}  "
              f"{n['answered']:>4}/{b['answered']:<4}  {n['fresh']:>4}/{b['fresh']:<4}  {s['mean_difference']:>+9.4f}  "
              f"{s['p_better']:>8.4f}  {s['p_worse']:>8.4f}")  # fmt: skip
    p = result["pooled"]
    print(f"{'pooled':8} {result['pairs']:>5}  {'':18}  {'':15}  {'':9}  {'':9}  {p['mean_difference']:>+9.4f}  "
          f"{p['p_better']:>8.4f}  {p['p_worse']:>8.4f}")  # fmt: skip
    print(f"verdict at alpha {result['alpha']}: {result['verdict']}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with guard_inputs():
        try:
            result = run(args)
        except InputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        show(result)
        if args.json is not None:
            write_json_atomic(Path(args.json), result)
            print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
