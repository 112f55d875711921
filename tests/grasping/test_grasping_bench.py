"""The grasping benchmark group runs end to end (shortened: batches of 5, a few seconds per pair)."""

from __future__ import annotations

import math

from dexsafe.grasping.benchmarks import PAIRS, run_grasping


def test_grasping_benchmark_rows():
    lines = []
    rows = run_grasping(lines.append, scale=0.04)
    names = [r.name for r in rows]
    assert names[:len(PAIRS)] == [f"{a}+{b} accepted" for _, a, b in PAIRS]
    assert {"seconds per proposal", "seconds per accepted grasp", "gravity test pass rate",
            "close-and-lift pass rate"} <= set(names)
    assert all(r.group == "grasping" for r in rows)
    assert all(0.0 <= r.value <= 100.0 for r in rows[:len(PAIRS)])
    per_proposal = rows[names.index("seconds per proposal")].value
    assert math.isfinite(per_proposal) and per_proposal > 0
    assert len(lines) == len(PAIRS)  # one progress line per pair
