"""The benchmark harness behind ``make bench`` / ``dexsafe bench``.

A benchmark *group* is a function ``run(progress) -> list[BenchRow]`` in some
module, listed in ``GROUPS`` as ``"module:function"``. Rows are measured, each
next to a reference figure (a goal from an issue, a paper's number, or raw
MuJoCo as the physical limit) so the ratio says how far off it is.

Later issues add groups here; a group may import anything its rows measure
(rclpy for DDS rows), but this module imports nothing heavy.
"""

from __future__ import annotations

import importlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

GROUPS: dict[str, str] = {
    "dds": "dexsafe.ros_nodes.benchmarks:run_dds",
    "sim": "dexsafe.sim.benchmarks:run_sim",
    "planning": "dexsafe.planning.benchmarks:run_planning",
    "planning_services": "dexsafe.ros_nodes.benchmarks:run_planning_services",
    "shield": "dexsafe.policies.benchmarks:run_shield",
    "rl_throughput": "dexsafe.policies.benchmarks:run_training_throughput",
    "rl_constrained": "dexsafe.policies.benchmarks:run_constrained",
    "sim_node": "dexsafe.ros_nodes.benchmarks:run_sim_node",
    "mission": "dexsafe.ros_nodes.benchmarks:run_mission",
    "replay": "dexsafe.evaluation.benchmarks:run_replay",
    "grasp_exec": "dexsafe.evaluation.benchmarks:run_grasp_exec",
    "so2": "dexsafe.policies.offline.benchmarks:run_so2",
    "grasping": "dexsafe.grasping.benchmarks:run_grasping",
}


@dataclass
class BenchRow:
    """One measured number.

    ``reference`` is the figure to compare with (``None`` when there is none);
    ``higher_is_better`` tells how to read the ratio.
    """

    group: str
    name: str
    value: float
    unit: str
    reference: float | None = None
    reference_note: str = ""
    higher_is_better: bool = False
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference in (None, 0) or not math.isfinite(self.value):
            return None
        return self.value / self.reference

    @property
    def meets_reference(self) -> bool | None:
        if self.reference is None:
            return None
        return self.value >= self.reference if self.higher_is_better else self.value <= self.reference

    def as_dict(self) -> dict:
        d = asdict(self)
        d["ratio"] = self.ratio
        d["meets_reference"] = self.meets_reference
        return d


def percentile(samples: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]; NaN for no samples."""
    xs = sorted(samples)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def load_group(name: str) -> Callable[..., list[BenchRow]]:
    if name not in GROUPS:
        raise KeyError(f"unknown benchmark group {name!r}; known: {', '.join(GROUPS)}")
    module, func = GROUPS[name].split(":")
    return getattr(importlib.import_module(module), func)


def run_groups(names: Iterable[str], progress: Callable[[str], None] = print) -> list[BenchRow]:
    rows: list[BenchRow] = []
    for name in names:
        progress(f"[bench] {name} ...")
        t0 = time.perf_counter()
        rows.extend(load_group(name)(progress))
        progress(f"[bench] {name} done in {time.perf_counter() - t0:.1f} s")
    return rows


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.4g}"


def format_table(rows: list[BenchRow]) -> str:
    header = ("group", "name", "value", "unit", "reference", "ratio", "ok")
    body = [
        (r.group, r.name, _fmt(r.value), r.unit,
         _fmt(r.reference) + (f" ({r.reference_note})" if r.reference_note else ""),
         _fmt(r.ratio), {None: "-", True: "yes", False: "NO"}[r.meets_reference])
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_json(rows: list[BenchRow], path: str | Path) -> None:
    Path(path).write_text(json.dumps([r.as_dict() for r in rows], indent=2) + "\n")
