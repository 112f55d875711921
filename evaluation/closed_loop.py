"""Closed-loop replay: reset the sim to the recorded initial scene, feed the
recorded policy commands through a fresh shield into it, and compare the
resulting run with the recorded one.

The sim is reset with the run's scene and seed (``RunInfo``); the objects and
the hand are then placed where the first recorded ``/dexsafe/objects`` and
``/joint_states`` put them, so a run recorded from a live graph (whose sim had
already been running) starts from the same state. Recorded policy commands
are replayed at their bag times relative to the first joint state (the sim
runs in sim time; the bag's clock is mapped onto it). ``sim_loop`` does the
stepping: the same loop the nodes implement.

Compared per control tick: the replayed measured joint positions against the
recorded ``/joint_states`` interpolated at the same time (divergence, rad or m),
and the replayed shield outputs against the constraints. The outcome is each
object's final rise above its start height; an object counts as lifted at
``LIFT_HEIGHT``. The run passes when every object's lifted/not-lifted outcome
matches, no tick diverges beyond ``tolerance`` and no constraint is violated.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from dexsafe.evaluation import topics as T
from dexsafe.evaluation.errors import RunContentError
from dexsafe.evaluation.open_loop import ConstraintChecker, summarize
from dexsafe.evaluation.recorded_run import RecordedRun
from dexsafe.evaluation.results import Frame, Summary
from dexsafe.evaluation.sim_loop import POLICY_DELAY_NS, SimStackLoop, finger_forces

LIFT_HEIGHT = 0.10  # m: an object raised this much above its start counts as lifted (as in `dexsafe demo`)
DEFAULT_TOLERANCE = 0.05  # rad or m: joint-trajectory divergence allowed per tick


def _restore_initial_state(loop: SimStackLoop, run: RecordedRun, notes: list[str]) -> None:
    b = loop.backend
    if run.objects is not None and len(run.objects) and run.object_ids:
        first = run.objects.values[0].reshape(-1, 3)
        moved = 0.0
        for oid, pos in zip(run.object_ids, first):
            if oid in b.object_ids and np.all(np.isfinite(pos)):
                now = next(s for s in b.object_states() if s.id == oid).position
                moved = max(moved, float(np.max(np.abs(now - pos))))
                b.set_object_pose(oid, pos)
        if moved > 1e-6:
            notes.append(f"objects placed at their recorded initial positions (moved up to {moved * 1000:.1f} mm "
                         "from the seeded reset)")
    if len(run.joint_states):
        q0 = run.joint_states.values[0]
        if np.max(np.abs(loop.measured() - q0)) > 1e-6:
            b.set_joint_positions(q0)
            notes.append("hand placed at its recorded initial posture")


POLICIES = ("recorded", "scripted")


def replay_closed_loop(run: RecordedRun, tolerance: float = DEFAULT_TOLERANCE,
                       progress: Callable[[int, int], None] | None = None, load_wall_s: float = 0.0,
                       policy: str = "recorded") -> tuple[list[Frame], Summary]:
    """Re-run ``run`` in sim; see the module docstring.

    ``policy``: ``recorded`` feeds the recorded policy commands (the policy's decisions are kept,
    the physics and the shield run again); ``scripted`` re-plans the scripted row grasp
    (``dexsafe.sim.scripted``) from the restored initial scene for the run's goal and runs it
    for the recorded duration, so the whole decision chain runs again.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, not {policy!r}")
    if policy == "recorded" and not len(run.policy_commands):
        raise RunContentError(f"{run.path}: no policy commands to replay in closed loop")
    if not len(run.joint_states):
        raise RunContentError(f"{run.path}: no joint states: the recorded trajectory is unknown")
    t_start = time.perf_counter()
    notes: list[str] = []
    if not run.has_run_info:
        notes.append(f"the bag has no dexsafe run info: default scene {run.info.scene!r} and shield settings used")
    loop = SimStackLoop(run.info, origin_ns=int(run.joint_states.t_ns[0]))
    try:
        _restore_initial_state(loop, run, notes)
        z0 = {s.id: float(s.position[2]) for s in loop.backend.object_states()}
        t0_ns = int(run.joint_states.t_ns[0])
        pol_t = run.policy_commands.t_ns - t0_ns  # ns after the first state
        state = {"next": 0}

        def recorded_policy(t: float, q: np.ndarray):
            """The latest recorded command due by sim time ``t`` (None: nothing new)."""
            due = int(round(t * 1e9)) + POLICY_DELAY_NS
            j = int(np.searchsorted(pol_t, due, side="right"))
            if j <= state["next"]:
                return None
            state["next"] = j
            cmd = run.policy_raw[j - 1]
            return cmd if cmd.shape == (len(run.joint_names),) and np.isfinite(cmd).all() else None

        replayed_q: list[np.ndarray] = []
        outputs: dict[int, np.ndarray] = {}
        forces: dict[int, dict] = {}
        tick = {"k": -1}

        def sink(topic: str, t_ns: int, msg) -> None:
            if topic == T.CLOCK:  # first message of a tick
                tick["k"] += 1
                replayed_q.append(loop.measured())
            elif topic == T.CONTACTS:
                forces[tick["k"]] = finger_forces(msg, loop.finger_of_body)
            elif topic == T.HAND_COMMANDS:
                outputs[tick["k"]] = np.asarray(msg.data, dtype=float)

        duration = max(run.duration_s, (int(run.joint_states.t_ns[-1]) - t0_ns) * 1e-9)
        if policy == "recorded":
            result = loop.run(recorded_policy, duration, sink, policy_every=1, progress=progress,
                              topics={T.CLOCK, T.CONTACTS, T.HAND_COMMANDS})
        else:
            from dexsafe.evaluation.sim_loop import scripted_policy

            try:
                scripted, _ = scripted_policy(loop)
            except ValueError as exc:
                raise RunContentError(f"{run.path}: the scripted grasp cannot run here: {exc}") from None
            notes.append("policy re-run: the scripted row grasp, re-planned from the initial scene")
            result = loop.run(scripted, duration, sink, progress=progress,
                              topics={T.CLOCK, T.CONTACTS, T.HAND_COMMANDS})
        rise_replayed = {oid: float(s.position[2]) - z0[s.id] for s in loop.backend.object_states()
                         for oid in [s.id]}
        checker = ConstraintChecker(loop.limits)
        js_t = (run.joint_states.t_ns - t0_ns) * 1e-9
        frames = []
        for k, q in enumerate(replayed_q):
            t = k / run.info.control_rate
            if t > js_t[-1]:
                break
            rec = np.array([np.interp(t, js_t, run.joint_states.values[:, j]) for j in range(q.size)])
            out = outputs.get(k)
            violations = checker.check(out, forces.get(k)) if out is not None else []
            frames.append(Frame(index=k, t_ns=t0_ns + int(round(t * 1e9)), t=t,
                                divergence=float(np.max(np.abs(q - rec))), violations=violations))
    finally:
        loop.close()
    outcome, reasons = _outcome(run, rise_replayed)
    outcome["shield_cost_replayed"] = result.shield_cost
    wall = time.perf_counter() - t_start + load_wall_s
    return frames, summarize("closed", run, frames, tolerance, wall, notes, outcome, reasons)


def _outcome(run: RecordedRun, rise_replayed: dict[str, float]) -> tuple[dict, list[str]]:
    reasons: list[str] = []
    outcome: dict = {"lift_height_m": LIFT_HEIGHT, "objects": {}}
    if run.objects is None or len(run.objects) < 2:
        reasons.append("the bag has no /dexsafe/objects: outcomes cannot be compared")
        return outcome, reasons
    first = run.objects.values[0].reshape(-1, 3)
    last = run.objects.values[-1].reshape(-1, 3)
    for i, oid in enumerate(run.object_ids):
        rec = float(last[i, 2] - first[i, 2])
        rep = rise_replayed.get(oid, math.nan)
        same = (rec >= LIFT_HEIGHT) == (rep >= LIFT_HEIGHT)
        outcome["objects"][oid] = {"rise_recorded_m": rec, "rise_replayed_m": rep,
                                   "lifted_recorded": rec >= LIFT_HEIGHT, "lifted_replayed": rep >= LIFT_HEIGHT}
        if not same:
            reasons.append(f"outcome differs for {oid}: recorded rise {rec * 100:.1f} cm, replayed {rep * 100:.1f} cm")
    return outcome, reasons
