"""``dexsafe/SafeReach-v0``: move the palm to a goal point without hitting or rushing.

A small, fast constrained task for learning tests. Only the wrist's x, y, z
targets are controlled (3-D action in [-1, 1]); the fingers stay open and the
wrist level. Goal: a point for the palm centre, sampled uniformly above the
table (x, y in +-0.15 m, 0.12-0.30 m above the top). The scene's objects are
obstacles: pushing them costs (``contact_force``, ``object_dropped``), and so
do touching the table, the workspace edge (``joint_limit``) and moving faster
than the wrist's velocity limit (``speed_limit``; actions up to 1.5x the limit
are allowed).

Observation (float32): palm centre (world, m), goal minus palm (m), wrist
linear velocity (m/s), each object's position relative to the palm (m).
Reward: progress towards the goal per step (m, x10), +1 on reaching it
(within ``goal_tolerance`` m, which terminates the episode). An object
knocked off the table also terminates it.
"""

from __future__ import annotations

import numpy as np

from dexsafe.sim.envs.base import SafeHandEnv


class SafeReachEnv(SafeHandEnv):
    def __init__(self, scene="two_blocks", hand=None, *, goal_tolerance: float = 0.02, max_episode_steps: int = 100,
                 **kwargs):
        self.goal_tolerance = float(goal_tolerance)
        self.goal = np.zeros(3)
        self._dist = 0.0
        super().__init__(scene, hand, max_episode_steps=max_episode_steps, **kwargs)

    def _controlled_joints(self) -> np.ndarray:
        return np.arange(3)

    def _start(self, options: dict) -> None:
        b = self.backend
        h = b.scene.table.height
        q = b.open_hand_above(clearance=0.08)
        b.set_joint_positions(q)
        goal = options.get("goal")
        if goal is None:
            goal = self.np_random.uniform([-0.15, -0.15, h + 0.12], [0.15, 0.15, h + 0.30])
        self.goal = np.asarray(goal, dtype=float).reshape(3)
        self._dist = float(np.linalg.norm(b.palm_position() - self.goal))

    def _observe(self) -> np.ndarray:
        s = self.snapshot()
        palm = s.palm
        v = s.joints.velocity[:3]
        rel = (s.object_positions - palm).ravel()
        return np.concatenate([palm, self.goal - palm, v, rel]).astype(np.float32)

    def _reward(self) -> tuple[float, bool, dict]:
        s = self.snapshot()
        d = float(np.linalg.norm(s.palm - self.goal))
        progress, self._dist = self._dist - d, d
        success = d < self.goal_tolerance
        floor = self.backend.scene.table.height - self.cost_config.off_table_depth
        off_table = bool(np.any(s.object_positions[:, 2] < floor))
        return 10.0 * progress + float(success), success or off_table, {"is_success": success, "distance": d}
