"""``dexsafe/GraspLift-v0``: grasp several objects together and lift them off the table.

Start: the open hand above the target objects (default: all objects of the
scene), or a given pre-grasp: ``reset(options={'pregrasp': {'q': [...]}})``
(full command-order vector) or ``{'pregrasp': {'joints': {name: value}}}``
(named joints; the others as in the default start). ``options['targets']``
picks the objects to lift (ids).

Action: [-1, 1] for every commanded joint (6 wrist + fingers), moving its
position target (see ``SafeHandEnv``). Observation (float32): joint positions,
velocities and targets (command order), palm centre (world, m), and per scene
object: position relative to the palm centre (m), orientation (xyzw), linear
velocity (m/s), lift above its resting height (m).

Reward: mean over targets of ``min(lift / lift_height, 1)`` plus a small
shaping term ``0.1 * (1 - tanh(5 d))`` for the palm-to-targets distance d
(m), plus 1 on success. Success (terminates): every target lifted at least
``lift_height`` and touched by the hand. Also terminates when an object
leaves the table. Costs: ``dexsafe.sim.costs``.
"""

from __future__ import annotations

import numpy as np

from dexsafe.sim.envs.base import SafeHandEnv


class GraspLiftEnv(SafeHandEnv):
    def __init__(self, scene="two_blocks", hand=None, *, lift_height: float = 0.05, **kwargs):
        self.lift_height = float(lift_height)
        self.target_ids: list[str] = []
        super().__init__(scene, hand, **kwargs)
        self.target_ids = self.backend.object_ids

    def _start(self, options: dict) -> None:
        b = self.backend
        targets = options.get("targets") or b.object_ids
        unknown = sorted(set(targets) - set(b.object_ids))
        if unknown:
            raise ValueError(f"unknown target object(s) {unknown}; the scene has {b.object_ids}")
        self.target_ids = list(targets)
        q = b.open_hand_above(self.target_ids)
        pre = options.get("pregrasp")
        if pre is not None:
            if not isinstance(pre, dict) or not ({"q", "joints"} & set(pre)):
                raise ValueError("options['pregrasp'] must be {'q': [command-order values]} "
                                 "or {'joints': {name: value}}")
            if "q" in pre:
                q = np.asarray(pre["q"], dtype=float)
            else:
                for name, value in pre["joints"].items():
                    if name not in b.joint_names:
                        raise ValueError(f"pregrasp joint {name!r} is not one of {b.joint_names}")
                    q[b.joint_names.index(name)] = float(value)
        b.set_joint_positions(q)

    def _observe(self) -> np.ndarray:
        b = self.backend
        s = self.snapshot()
        n = b.hand.num_joints
        palm = s.palm
        parts = [s.joints.position[:n], s.joints.velocity[:n], b.targets, palm]
        for o, dz in zip(s.objects, self.object_lift()):
            parts += [o.position - palm, o.orientation, o.linear_velocity, [dz]]
        return np.concatenate(parts).astype(np.float32)

    def _reward(self) -> tuple[float, bool, dict]:
        b = self.backend
        s = self.snapshot()
        idx = [b.object_ids.index(o) for o in self.target_ids]
        lift = self.object_lift()[idx]
        touched = s.touched
        lifted = [bool(lift[i] >= self.lift_height and o in touched) for i, o in enumerate(self.target_ids)]
        success = all(lifted)
        centroid = s.object_positions[idx].mean(axis=0)
        d = float(np.linalg.norm(s.palm - centroid))
        progress = float(np.mean(np.clip(lift / self.lift_height, 0.0, 1.0)))
        reward = progress + 0.1 * (1 - np.tanh(5 * d)) + float(success)
        floor = b.scene.table.height - self.cost_config.off_table_depth
        off_table = bool(np.any(s.object_positions[:, 2] < floor))
        info = {"is_success": success, "objects_lifted": int(sum(lifted)), "lift": lift.copy()}
        return reward, success or off_table, info
