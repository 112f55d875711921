"""``dexsafe eval-bag`` as a function: read a bag, replay it open or closed
loop, write ``result.jsonl``, ``report.png`` and ``report.html``.

Bag problems raise :class:`~dexsafe.evaluation.errors.BagError`; everything
else about the run is in the returned summary (``passed``, ``reasons``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dexsafe.evaluation.recorded_run import RecordedRun, load_run
from dexsafe.evaluation.results import Frame, Summary, write_jsonl
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.topics import TopicMap

MODES = ("open", "closed")


@dataclass
class Evaluation:
    run: RecordedRun
    frames: list[Frame]
    summary: Summary
    files: dict[str, Path] = field(default_factory=dict)


class _Bar:
    """A tqdm progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool, desc: str, total: int, unit: str) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=False, mininterval=0.2)
        self.n = 0

    def update_to(self, n: int, *_) -> None:
        if self.bar is not None:
            self.bar.update(n - self.n)
        self.n = n

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def evaluate_bag(path: str | Path, mode: str = "open", out_dir: str | Path | None = None,
                 tolerance: float | None = None, topics: TopicMap | None = None, progress: bool = False,
                 report: bool = True, policy: str | None = None) -> Evaluation:
    """Evaluate the bag at ``path``; see the module docstring. ``out_dir`` None writes nothing.

    ``tolerance`` None: open loop uses 1e-6 for runs recorded by ``sim_loop`` (they replay exactly)
    and 0.05 (rad or m) for live or foreign recordings; closed loop uses 0.05. ``policy``: closed
    loop feeds the ``recorded`` commands (the default) or re-plans the ``scripted`` grasp
    (``closed_loop``); open loop also re-runs ``scripted`` on the recorded observations and compares
    it with the recorded commands (``policy_replay``; the default when the run says it was
    scripted), or with ``recorded`` replays the shield only.
    """
    from dexsafe.evaluation import closed_loop, open_loop
    from dexsafe.evaluation.bag_reader import open_bag
    from dexsafe.evaluation.plan_replay import recorded_plans

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    topics = topics or TopicMap()
    t0 = time.perf_counter()
    need = ("policy_commands", "hand_commands", "joint_states") if mode == "open" else \
        (("policy_commands", "joint_states") if policy in (None, "recorded") else ("joint_states",))
    with open_bag(path) as reader:
        from dexsafe.evaluation.policy_replay import POLICIES

        recorded_policy = (reader.info.run_info() or RunInfo()).policy
        # Open loop re-runs the policy the run names (if it can), unless told otherwise.
        rerun = (recorded_policy if recorded_policy in POLICIES else None) if policy is None else \
            (None if policy == "recorded" else policy)
        roles = set(vars(topics).values())
        bar = _Bar(progress, "reading", sum(t.count for t in reader.info.topics.values() if t.name in roles), "msg")
        try:
            # Object poses: closed loop resets the scene to them; a re-run policy plans from them.
            run = load_run(reader, topics, need=need, with_objects=mode == "closed" or bool(rerun),
                           progress=bar.update_to)
        finally:
            bar.close()
        plans = recorded_plans(reader, topics.plans) if mode == "open" else []
    load_wall = time.perf_counter() - t0
    if mode == "open":
        bar = _Bar(progress, "open-loop replay", len(run.hand_commands), "frame")
        try:
            frames, summary = open_loop.replay_open_loop(
                run, open_loop.default_tolerance(run) if tolerance is None else tolerance, bar.update_to, load_wall,
                policy=rerun, plans=plans)
        finally:
            bar.close()
    else:
        ticks = int(round(run.duration_s * run.info.control_rate))
        bar = _Bar(progress, "closed-loop replay", ticks, "tick")
        try:
            frames, summary = closed_loop.replay_closed_loop(
                run, closed_loop.DEFAULT_TOLERANCE if tolerance is None else tolerance, bar.update_to, load_wall,
                policy=policy or "recorded")
        finally:
            bar.close()
    result = Evaluation(run, frames, summary)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result.files["jsonl"] = write_jsonl(out / "result.jsonl", frames, summary)
        if report:
            from dexsafe.evaluation.report import plot, write_html

            png = plot(run, frames, summary, out / "report.png")
            result.files["png"] = png
            result.files["html"] = write_html(summary, png, out / "report.html")
    return result
