"""The evaluation's setup summary: which arithmetic its runs were computed with, as a resumed study can mix them."""

from __future__ import annotations

from aquatope.experiments.evaluate import numerics_of


def test_numerics_of_counts_each_arithmetic_and_the_rows_that_predate_the_record() -> None:
    avx2 = {"torch": "2.13.0+cpu", "cpu_capability": "AVX512", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    wide = {**avx2, "ONEDNN_MAX_CPU_ISA": None}
    records = [{"numerics": avx2}, {"numerics": dict(reversed(avx2.items()))}, {"numerics": wide}, {"key": "old"}]
    summary = numerics_of(records)
    assert sorted((s["runs"], s["numerics"] is None) for s in summary) == [(1, False), (1, True), (2, False)]
    assert {"numerics": avx2, "runs": 2} in summary and {"numerics": wide, "runs": 1} in summary
