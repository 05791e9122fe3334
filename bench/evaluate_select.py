"""Should a candidate system replace the default? The selection rule for ``aquatope evaluate`` candidates, applied
once, on seeds no study has looked at.

A candidate (e.g. ``aquatope:keep=auto+aquatope-bo``) replaces the reference (``aquatope``) only if, over the
(workflow, seed) pairs of the given seeds (default window and knob only; every system saw the same arrivals),

1. it misses fewer one-minute windows than the reference, paired: the upper end of a one-sided bootstrap bound on
   the mean paired difference (candidate - reference, 2,000 resamples of the pairs) is below zero, at level
   ``alpha / len(candidates)`` (Bonferroni: several candidates judged at once share one error budget); and
2. it costs no more per run than the cost cap (``openwhisk``, the baseline the rule was first written against) on
   the same pairs, on the mean.

If several pass, the one with the fewest windows missed is chosen. Earlier looks at other seeds do not count: the
rule is for a single look at a fresh block of seeds (``aquatope evaluate --first-seed``).

    python bench/evaluate_select.py RUNS.jsonl [RUNS2.jsonl ...] --seeds 5-9
        [--reference aquatope] [--cap openwhisk] [--candidates A,B] [--scenario shared] [--alpha 0.05] [--json out]

Seconds. Exit code 2 with one line on a bad file, line or field.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from aquatope.errors import InputError
from aquatope.experiments.stats import resamples
from aquatope.jsonio import check_output_path, guard_inputs, note_input, write_json_atomic

Pair = tuple[str, int]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", help="runs.jsonl files of aquatope evaluate (a later file's run wins)")
    parser.add_argument("--seeds", required=True, help="the seeds judged, FIRST-LAST")
    parser.add_argument("--reference", default="aquatope")
    parser.add_argument("--cap", default="openwhisk", help="the system whose mean cost a candidate may not exceed")
    parser.add_argument("--candidates", default="aquatope:keep=auto+aquatope-bo,aquatope+aquatope-bo+live")
    parser.add_argument("--scenario", default="shared")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--json", default=None)
    return parser.parse_args(argv)


def seed_range(text: str) -> list[int]:
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[0]) > int(parts[1]):
        raise InputError(f"must be FIRST-LAST, got {text!r}", field="--seeds")
    return list(range(int(parts[0]), int(parts[1]) + 1))


def load(files: list[str], scenario: str, seeds: list[int]) -> tuple[dict[str, dict[Pair, dict[str, float]]], list]:
    """Per system, per (workflow, seed): window violations (%), cost per run ($), cold starts (%); and the errors."""
    out: dict[str, dict[Pair, dict[str, float]]] = {}
    errors = []
    for f in files:
        with open(f, encoding="utf-8") as handle:
            for n, line in enumerate(handle, 1):
                try:
                    row = json.loads(line)
                    s = row["spec"]
                    if s["scenario"] != scenario or s["seed"] not in seeds or s.get("knob") is not None:
                        continue
                    if "error" in row:
                        errors.append((s["system"], s["workflow"], s["seed"], row["error"]))
                        continue
                    m = row["metrics"]
                    out.setdefault(s["system"], {})[(s["workflow"], s["seed"])] = {
                        "windows": 100 * m["window_violation_rate"],
                        "cost": m["cost_usd"]["total"],
                        "cold": 100 * m["cold_start_rate"],
                    }
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise InputError(f"not an evaluate run ({exc})", source=f, line=n) from None
    return out, errors


def judge(data: dict[str, dict[Pair, dict[str, float]]], reference: str, cap: str, candidates: list[str],
          alpha: float) -> dict[str, Any]:  # fmt: skip
    for s in (reference, cap, *candidates):
        if s not in data:
            raise InputError(f"no runs of {s!r} on these seeds", field="--candidates/--reference/--cap")
    level = alpha / len(candidates)
    out: dict[str, Any] = {"reference": reference, "cap": cap, "level": level, "candidates": {}}
    for c in candidates:
        pairs = sorted(set(data[c]) & set(data[reference]) & set(data[cap]))
        if not pairs:
            raise InputError(f"{c!r} shares no (workflow, seed) pair with {reference!r} and {cap!r}", field="files")

        def get(s: str, k: str, pairs: list[Pair] = pairs) -> np.ndarray:
            return np.array([data[s][p][k] for p in pairs])

        diff = get(c, "windows") - get(reference, "windows")
        boots = diff[resamples(len(pairs))].mean(axis=1)
        bound = float(np.quantile(boots, 1 - level))
        cost, cap_cost = float(get(c, "cost").mean()), float(get(cap, "cost").mean())
        out["candidates"][c] = {
            "pairs": len(pairs),
            "windows": float(get(c, "windows").mean()),
            "reference_windows": float(get(reference, "windows").mean()),
            "cap_windows": float(get(cap, "windows").mean()),
            "difference": float(diff.mean()),
            "difference_ci95": [float(v) for v in np.quantile(boots, [0.025, 0.975])],
            "upper_bound": bound,
            "better_pairs": int((diff < 0).sum()),
            "worse_pairs": int((diff > 0).sum()),
            "cost": cost,
            "reference_cost": float(get(reference, "cost").mean()),
            "cap_cost": cap_cost,
            "cold": float(get(c, "cold").mean()),
            "reference_cold": float(get(reference, "cold").mean()),
            "passes_windows": bound < 0,
            "passes_cost": cost <= cap_cost,
        }
    passing = [c for c, r in out["candidates"].items() if r["passes_windows"] and r["passes_cost"]]
    out["chosen"] = min(passing, key=lambda c: out["candidates"][c]["windows"]) if passing else None
    return out


def show(result: dict[str, Any]) -> None:
    print(f"reference {result['reference']}, cost cap {result['cap']}, one-sided level {result['level']:.4f}")
    for c, r in result["candidates"].items():
        lo, hi = r["difference_ci95"]
        print(f"{c}: {r['pairs']} pairs; windows {r['windows']:.1f}% against {r['reference_windows']:.1f}% "
              f"({result['cap']} {r['cap_windows']:.1f}%); paired {r['difference']:+.1f} points [{lo:+.1f}, {hi:+.1f}], "
              f"one-sided bound {r['upper_bound']:+.1f} ({r['better_pairs']} better, {r['worse_pairs']} worse); "
              f"cost ${r['cost']:.2f} against {result['reference']} ${r['reference_cost']:.2f}, cap ${r['cap_cost']:.2f}; "
              f"cold starts {r['cold']:.2f}% against {r['reference_cold']:.2f}%: "
              f"windows {'PASS' if r['passes_windows'] else 'FAIL'}, cost {'PASS' if r['passes_cost'] else 'FAIL'}")  # fmt: skip
    print(f"chosen: {result['chosen'] or 'none (the reference stays the default)'}")
    for e in result.get("errors", []):
        print(f"run failed: {e}")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    with guard_inputs():
        try:
            if not 0 < args.alpha < 0.5:
                raise InputError(f"must be in (0, 0.5), got {args.alpha}", field="--alpha")
            seeds = seed_range(args.seeds)
            candidates = [c for c in args.candidates.split(",") if c]
            for f in args.files:
                note_input(f)
            data, errors = load(args.files, args.scenario, seeds)
            if args.json is not None:  # after reading: never over an input
                check_output_path(args.json)
            result = judge(data, args.reference, args.cap, candidates, args.alpha)
            result.update({"seeds": seeds, "scenario": args.scenario, "errors": errors, "files": args.files})
        except (InputError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        show(result)
        if args.json is not None:
            write_json_atomic(Path(args.json), result)
            print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
