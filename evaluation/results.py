"""Evaluation results: one record per frame plus a summary with pass/fail,
written as JSON lines in the shape of Autoware's driving_log_replayer
(``result.jsonl``): every line has ``Result {Success, Summary}`` and
``Stamp {ROS, System}``; frame lines add ``Frame``, the last line ``Summary``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Frame:
    """One evaluated instant: a recorded shield output (open loop) or a control tick (closed loop)."""

    index: int
    t_ns: int
    """bag time of the recorded sample, ns"""
    t: float
    """seconds since the start of the bag"""
    divergence: float
    """max |replayed - recorded| over joints, rad or m (NaN: not compared; inf: nothing comparable produced)"""
    violations: list[str] = field(default_factory=list)
    """constraint names violated in this frame (``joint_limits``, ``rate_limit``, ``non_finite``,
    ``wrong_length``, ``contact_force``)"""
    interventions: list[str] = field(default_factory=list)
    """what the replayed shield did (``clamped_to_limits``, ``effort_capped``, ...)"""
    cost_replayed: float = 0.0
    cost_recorded: float = math.nan
    latency_s: float = math.nan
    """wall time the replayed component took for this frame, s"""
    input_age_s: float = math.nan
    """recorded: time from the policy command to this output, s"""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class Summary:
    mode: str
    bag: str
    passed: bool
    reasons: list[str]
    """why it failed (empty when passed)"""
    frames: int
    recorded_duration_s: float
    replay_wall_s: float
    speed_factor: float
    """recorded duration / replay wall time (load + replay)"""
    max_divergence: float
    mean_divergence: float
    frames_diverged: int
    tolerance: float
    violations: dict[str, int]
    cost_recorded: float
    cost_replayed: float
    latency_p50_s: float
    latency_p99_s: float
    input_age_p50_s: float
    input_age_p99_s: float
    notes: list[str] = field(default_factory=list)
    outcome: dict[str, Any] = field(default_factory=dict)
    components: dict[str, Any] = field(default_factory=dict)
    """open loop: what re-running other recorded components found (``policy``, ``planner``)"""

    def headline(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        text = (f"{verdict} {self.mode}-loop: {self.frames} frames, max divergence {self.max_divergence:.3g} "
                f"(tolerance {self.tolerance:g}), {self.frames_diverged} diverged, "
                f"violations {sum(self.violations.values())}, replay {self.speed_factor:.0f}x real time")
        if "policy" in self.components:
            c = self.components["policy"]
            text += f"; policy re-run: {c['diverged']} of {c['commands']} commands diverged"
        if "planner" in self.components:
            c = self.components["planner"]
            text += (f"; planner: {c['plans']} plan(s), {c['diverged']} of {c['compared']} re-planned differ, "
                     f"{c['violations']} invalid")
        return text + ("" if self.passed else " - " + "; ".join(self.reasons))


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_jsonl(path: str | Path, frames: list[Frame], summary: Summary) -> Path:
    """Write ``result.jsonl``: one line per frame, then the summary line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wall = time.time_ns()
    with path.open("w", encoding="utf-8") as fh:
        for f in frames:
            line = {"Result": {"Success": f.ok and not (f.divergence > summary.tolerance),  # NaN: not compared
                               "Summary": ", ".join(f.violations) or "ok"},
                    "Stamp": {"ROS": f.t_ns, "System": wall}, "Frame": asdict(f)}
            fh.write(json.dumps(_clean(line), allow_nan=False) + "\n")
        last = {"Result": {"Success": summary.passed, "Summary": summary.headline()},
                "Stamp": {"ROS": frames[-1].t_ns if frames else 0, "System": wall}, "Summary": asdict(summary)}
        fh.write(json.dumps(_clean(last), allow_nan=False) + "\n")
    return path


def read_jsonl(path: str | Path) -> tuple[list[dict], dict]:
    """The frame records and the summary record of a ``result.jsonl``."""
    lines = [json.loads(x) for x in Path(path).read_text(encoding="utf-8").splitlines() if x.strip()]
    if not lines or "Summary" not in lines[-1]:
        raise ValueError(f"{path}: no summary line")
    return [x["Frame"] for x in lines[:-1]], lines[-1]["Summary"]
