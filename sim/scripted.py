"""A scripted multi-object grasp for the dexsafe hand: a baseline and a physics check.

``plan_row_grasp`` grasps objects standing in a row along world +x (as in
``two_blocks``): the palm faces down over them, the thumb hangs behind the
nearest object, the fingers in front of the farthest; closing squeezes the
row together and the wrist lifts it. It only knows the dexsafe hand's joint
names; other hands get a ``ValueError``. ``run_plan`` executes a plan on a
backend with interpolated position targets (slow enough for the speed limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from dexsafe.sim.mujoco_backend import MujocoBackend

FINGERS = ("index", "middle", "ring")


@dataclass(frozen=True)
class GraspPlan:
    """Command-order targets (rad / m) for the phases of a grasp."""

    approach: np.ndarray
    """pre-shaped hand straight above the grasp pose"""
    pregrasp: np.ndarray
    """pre-shaped hand around the objects, fingertips ``tip_clearance`` above the table"""
    closed: np.ndarray
    """fingers and thumb closed at the grasp pose"""
    lifted: np.ndarray
    """closed, wrist raised by the lift height"""


def _set(q: np.ndarray, names: tuple[str, ...], values: dict[str, float]) -> np.ndarray:
    q = q.copy()
    for joint, v in values.items():
        q[names.index(joint + "_joint")] = v
    return q


def _lowest_tip_depth(b: MujocoBackend, q: np.ndarray) -> float:
    """How far the lowest fingertip sphere reaches below the wrist flange at targets ``q``, m."""
    m = b.model
    d = mujoco.MjData(m)
    d.qpos[:] = b.data.qpos
    d.qpos[b.sm.qpos_adr] = q
    mujoco.mj_kinematics(m, d)
    tips = [g for g in range(m.ngeom) if m.geom(g).name.endswith("_tip") and b.sm.hand_body_mask[m.geom_bodyid[g]]]
    return float(q[2] - min(d.geom_xpos[g, 2] - m.geom_size[g, 0] for g in tips))


def plan_row_grasp(b: MujocoBackend, object_ids: list[str] | None = None, *, tip_clearance: float = 0.03,
                   thumb_gap: float = 0.012, lift_height: float = 0.12) -> GraspPlan:
    """Plan a grasp of ``object_ids`` (default: all) standing in a row along +x; see the module docstring."""
    if b.hand.name != "dexsafe_hand":
        raise ValueError(f"plan_row_grasp knows the dexsafe_hand only, not {b.hand.name!r}")
    ids = list(object_ids or b.object_ids)
    pos = b.object_positions()[[b.object_ids.index(o) for o in ids]]
    near = int(np.argmin(pos[:, 0]))
    near_face = pos[near, 0] - b.sm.geometry[ids[near]].footprint_radius * 0.6
    names = b.joint_names
    pre = b.home_targets()
    pre = _set(pre, names, {f"{f}_{j}": v for f in FINGERS for j, v in (("proximal", 1.2), ("middle", 0.2),
                                                                        ("distal", 0.1))})
    pre = _set(pre, names, {"thumb_rotation": 1.57, "thumb_abduction": 0.0, "thumb_proximal": 0.0,
                            "thumb_distal": 0.0})
    # thumb link radius + fingertip radius behind the near face, plus a gap
    pre[0] = near_face - 0.012 - 0.012 - thumb_gap
    pre[1] = float(pos[near, 1]) + 0.03  # thumb (0.035 m to the -y side of the wrist) behind the near object
    pre[2] = b.scene.table.height + tip_clearance + _lowest_tip_depth(b, pre)
    approach = pre.copy()
    approach[2] = min(pre[2] + 0.12, b.ctrl_upper[2])
    closed = _set(pre, names, {f"{f}_{j}": v for f in FINGERS for j, v in (("proximal", 1.5), ("middle", 1.2),
                                                                           ("distal", 1.0))})
    closed = _set(closed, names, {"thumb_proximal": 0.9, "thumb_distal": 0.7})
    lifted = closed.copy()
    lifted[2] = min(closed[2] + lift_height, b.ctrl_upper[2])
    clip = lambda q: np.clip(q, b.ctrl_lower, b.ctrl_upper)  # noqa: E731
    return GraspPlan(clip(approach), clip(pre), clip(closed), clip(lifted))


def move(b: MujocoBackend, target: np.ndarray, duration: float, hold: float = 0.0) -> None:
    """Interpolate the targets linearly from the current ones to ``target`` over ``duration`` s."""
    start = b.targets
    n = max(1, int(round(duration / (10 * b.timestep))))
    for a in np.linspace(0.0, 1.0, n + 1)[1:]:
        b.set_joint_targets(start + a * (target - start))
        b.step(10)
    if hold > 0:
        b.step(max(1, int(round(hold / b.timestep))))


def run_plan(b: MujocoBackend, plan: GraspPlan) -> np.ndarray:
    """Execute ``plan`` from the current state; returns each object's rise above its start height, m."""
    z0 = b.object_positions()[:, 2].copy()
    b.set_joint_positions(plan.approach)
    move(b, plan.pregrasp, 0.9, hold=0.2)
    move(b, plan.closed, 0.5, hold=0.4)
    move(b, plan.lifted, 1.0, hold=1.0)
    return b.object_positions()[:, 2] - z0
