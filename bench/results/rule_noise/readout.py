"""The pre-registered readout of bench/results/rule_noise/README.md: per candidate and scenario, the cost verdict's
figures (from tune_compare's JSON) and the pass probabilities of the answers (from pass_probability's rows), over
answers and over runs (no answer = 0) with 95% bootstrap intervals over runs, and the paired difference against the
default rule over the runs where both answered. Seconds.

    python bench/results/rule_noise/readout.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
NAME = ("scenario", "workflow", "seed", "sizer_seed_offset")


def rows(path: Path) -> dict[tuple, dict]:
    out = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            out[tuple(r.get(k, 0) for k in NAME)] = r
    return out


def ci(x: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    means = x[rng.integers(x.size, size=(10_000, x.size))].mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def main() -> None:
    rng = np.random.default_rng(0)
    runs = {r: rows(HERE / f"test_{r}.jsonl") for r in ("pooled", "evident-tau", "one-level")}
    passes = {r: rows(HERE / f"pass_{r}.jsonl") for r in runs}
    for scenario in ("calm", "noisy"):
        print(f"== {scenario}")
        for rule in runs:
            names = [n for n in runs[rule] if n[0] == scenario]
            p = np.array([passes[rule][n]["passed"] / passes[rule][n]["checks"] if n in passes[rule] else 0.0
                          for n in names])  # fmt: skip
            ans = np.array([runs[rule][n]["config"] is not None for n in names])
            lo, hi = ci(p, rng)
            alo, ahi = ci(p[ans], rng)
            print(f"  {rule:12s} runs {len(names)}  answered {ans.sum()}  pass over runs {p.mean():.3f} [{lo:.3f}, "
                  f"{hi:.3f}]  over answers {p[ans].mean():.3f} [{alo:.3f}, {ahi:.3f}]  answers under 0.95: "
                  f"{int((p[ans] < 0.95).sum())}")  # fmt: skip
            if rule != "pooled":
                both = [n for n in names if n in passes[rule] and n in passes["pooled"]]
                d = np.array([passes[rule][n]["passed"] / passes[rule][n]["checks"]
                              - passes["pooled"][n]["passed"] / passes["pooled"][n]["checks"] for n in both])  # fmt: skip
                same = sum(runs[rule][n]["config"] == runs["pooled"][n]["config"] for n in both)
                dlo, dhi = ci(d, rng)
                print(
                    f"  {'':12s} paired over {len(both)} runs both answered ({same} same answer): "
                    f"{d.mean():+.4f} [{dlo:+.4f}, {dhi:+.4f}]"
                )
        for rule in ("evident-tau", "one-level"):
            c = json.loads((HERE / f"compare_{rule}.json").read_text())
            sc, pooled = c["scenarios"][scenario], c["pooled"]
            print(
                f"  cost, {rule}: within 5% {sc['new']['within']} / {sc['base']['within']}, median "
                f"{sc['new']['median']:.3f} / {sc['base']['median']:.3f}, p better {sc['p_better']:.4f} "
                f"(pooled {pooled['p_better']:.4f}, verdict {c['verdict']})"
            )


if __name__ == "__main__":
    main()
