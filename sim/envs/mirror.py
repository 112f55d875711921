"""A task's observation and action semantics, driven by measured state instead of physics.

A controller trained in a ``dexsafe/`` task must see, on the robot or through
ROS, exactly the observation the task computed in training, and its action
must move the targets exactly as the task's ``step`` did. ``TaskMirror`` keeps
an instance of the task as a kinematic model: ``observe`` writes measured joint
positions/velocities and object poses into it (``mj_forward``, no stepping) and
calls the task's own ``_observe``; ``targets`` applies an action the way the
task's ``step`` does (``targets[controlled] += clip(a, -1, 1) * max_delta``,
clipped to the actuator ranges). No physics is simulated here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import mujoco
import numpy as np


class TaskMirror:
    def __init__(self, env_id: str, **env_kwargs) -> None:
        from dexsafe.sim.envs import make

        env = make(env_id, **env_kwargs)
        self.env = getattr(env, "unwrapped", env)
        self.env.reset(seed=0)
        b = self.env.backend
        self.joint_names = list(b.joint_names)
        self.control_dt = float(self.env.control_dt)
        self.observation_dim = int(self.env.observation_space.shape[0])
        self.action_dim = int(self.env.action_space.shape[0])

    def set_goal(self, goal: Sequence[float]) -> None:
        """Tasks with a goal point (SafeReach): world coordinates, m."""
        if not hasattr(self.env, "goal"):
            raise ValueError(f"{type(self.env).__name__} has no goal")
        g = np.asarray(goal, dtype=float).reshape(3)
        if not np.all(np.isfinite(g)):
            raise ValueError(f"goal {g} is not finite")
        self.env.goal = g

    def observe(self, positions: Mapping[str, float], velocities: Mapping[str, float] | None = None,
                objects: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None) -> np.ndarray:
        """The task's observation for measured joint values (by name; rad, m, rad/s, m/s) and object
        poses (id -> (xyz, quat_xyzw) in world)."""
        b = self.env.backend
        missing = [n for n in self.joint_names if n not in positions]
        if missing:
            raise ValueError(f"no measured position for {missing}")
        q = np.array([positions[n] for n in self.joint_names], dtype=float)
        if not np.all(np.isfinite(q)):
            raise ValueError("measured joint positions are not finite")
        b.data.qpos[b.sm.qpos_adr] = q
        v = velocities or {}
        b.data.qvel[b.sm.dof_adr] = [float(v.get(n, 0.0)) for n in self.joint_names]
        for oid, (xyz, quat) in (objects or {}).items():
            if oid in b.sm.object_qpos_adr:
                adr = b.sm.object_qpos_adr[oid]
                b.data.qpos[adr:adr + 3] = xyz
                x, y, z, w = quat
                b.data.qpos[adr + 3:adr + 7] = (w, x, y, z)
        mujoco.mj_forward(b.model, b.data)
        self.env._snap = None
        return self.env._observe()

    def targets(self, action: Sequence[float], current: Sequence[float]) -> np.ndarray:
        """New position targets (command order) after ``action`` from ``current`` targets."""
        a = np.clip(np.asarray(action, dtype=float).reshape(-1), -1.0, 1.0)
        if a.shape != (self.action_dim,) or not np.all(np.isfinite(a)):
            raise ValueError(f"action must be {self.action_dim} finite values, got {action}")
        out = np.asarray(current, dtype=float).copy()
        out[self.env.controlled] += a * self.env.max_delta
        b = self.env.backend
        return np.clip(out, b.ctrl_lower, b.ctrl_upper)

    def close(self) -> None:
        self.env.close()
