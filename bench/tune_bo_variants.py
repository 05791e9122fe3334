"""Aquatope BO variants against each other (and the design alone) on TRAINING seeds, to choose the default.

The variants (:mod:`aquatope.sizing.bo`): surrogate ``dag`` or ``e2e``, candidate region ``trust`` or ``global``,
noise ``het`` or ``homo``. They run exactly as ``bench/tune_eval.py`` runs its methods (same budget, samples,
start, scenarios, scoring), on seeds 100.. by default, which ``tune_eval.py``'s reported seeds (0..4) never use:
the default variant is chosen on these, the figures are reported on those.

    python bench/tune_bo_variants.py [--seeds 2] [--scenarios calm,noisy] [--jobs 2]
        [--methods aquatope-bo:dag-trust-het,aquatope-bo:dag-global-het,...] [--out bench/results/variants.jsonl]
"""

from __future__ import annotations

import sys

from tune_eval import parse, run_all, summarize

VARIANTS = (
    "aquatope-bo:dag-trust-het",
    "aquatope-bo:dag-global-het",
    "aquatope-bo:e2e-trust-het",
    "aquatope-bo:dag-trust-homo",
    "aquatope-design",
)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv, methods=VARIANTS, first_seed=100)
    if "--out" not in (argv or sys.argv):
        args.out = "bench/results/variants.jsonl"
    runs = run_all(args)
    summarize(runs, args.methods)


if __name__ == "__main__":
    sys.exit(main())
