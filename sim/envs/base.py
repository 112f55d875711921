"""``SafeHandEnv``: the shared core of the dexsafe Gymnasium tasks (Safety-Gymnasium step API).

``step(action) -> obs, reward, cost, terminated, truncated, info``: ``cost`` is
the sum of the indicator channels of ``dexsafe.sim.costs`` and
``info['costs']`` holds each channel. ``dexsafe.sim.envs.wrappers`` turns it
into the standard 5-tuple API with ``info['cost']``.

Actions are in [-1, 1] per controlled joint and move that joint's position
target by ``action * action_speed * velocity_limit * control_dt`` (rad or m):
``action_speed`` > 1 lets a policy command faster than the velocity limit,
which is what the ``speed_limit`` channel is there to discourage. One env step
is ``frame_skip`` physics steps (control period ``control_dt`` s). Episodes are
truncated after ``max_episode_steps`` steps inside the env (gymnasium's
TimeLimit expects 5-tuples).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from dexsafe.sim.backend import Contact, JointState, ObjectState
from dexsafe.sim.costs import CHANNELS, CostConfig, LimitArrays, compute_costs
from dexsafe.sim.hands import HandDescription
from dexsafe.sim.mujoco_backend import MujocoBackend
from dexsafe.sim.scene_spec import SceneSpec


def checked_action(action, space: gym.spaces.Box) -> np.ndarray:
    """``action`` as a float64 vector clipped to ``space``; ValueError for a wrong shape or NaN/inf."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != space.shape:
        raise ValueError(f"action has shape {a.shape}, expected {space.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"action has non-finite values: {a}")
    return np.clip(a, space.low, space.high)


@dataclass(frozen=True)
class Snapshot:
    """Everything the reward, costs and observation read from the simulator after a step (read once)."""

    joints: JointState
    objects: list[ObjectState]
    contacts: list[Contact]
    object_positions: np.ndarray
    palm: np.ndarray

    @property
    def touched(self) -> set[str]:
        """Names of everything a hand body touches (object ids, ``table``, ...)."""
        return {c.other for c in self.contacts}


class SafeHandEnv(gym.Env):
    """Base class: a ``MujocoBackend``, position-target actions, cost channels, time limit."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, scene: SceneSpec | str = "two_blocks", hand: HandDescription | str | None = None, *,
                 frame_skip: int = 10, max_episode_steps: int = 200, action_speed: float = 1.5,
                 cost_config: CostConfig | None = None, render_mode: str | None = None,
                 width: int = 320, height: int = 240, camera: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}")
        if frame_skip < 1 or max_episode_steps < 1 or not action_speed > 0:
            raise ValueError("frame_skip and max_episode_steps must be >= 1 and action_speed > 0")
        self.backend = MujocoBackend(scene, hand)
        self.frame_skip = int(frame_skip)
        self.max_episode_steps = int(max_episode_steps)
        self.cost_config = cost_config or CostConfig()
        self.render_mode = render_mode
        self.width, self.height, self.camera = width, height, camera
        self.limits = LimitArrays.from_description(self.backend.hand, self.backend.scene, self.cost_config)
        self.control_dt = self.frame_skip * self.backend.timestep
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.control_dt))}
        self.controlled = self._controlled_joints()
        self.max_delta = action_speed * self.limits.velocity[self.controlled] * self.control_dt
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(len(self.controlled),), dtype=np.float32)
        self._targets = self.backend.targets
        self._steps = 0
        self._snap: Snapshot | None = None
        obs_dim = self._observe().shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)

    # --- to be specialised --------------------------------------------------------------
    def _controlled_joints(self) -> np.ndarray:
        """Indices (command order) of the joints the action moves; default: all."""
        return np.arange(self.backend.hand.num_joints)

    def _start(self, options: dict) -> None:
        """Put the hand where the episode starts (the backend has just been reset)."""

    def _observe(self) -> np.ndarray:
        raise NotImplementedError

    def _reward(self) -> tuple[float, bool, dict]:
        """``(reward, terminated, extra info)`` for the state after a step."""
        raise NotImplementedError

    # --- Gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        scene_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.backend.reset(scene_seed)
        self._start(dict(options or {}))
        self._snap = None
        self._targets = self.backend.targets
        self._steps = 0
        info = {"costs": {c: 0.0 for c in CHANNELS}, "scene_seed": scene_seed}
        return self._observe(), info

    def step(self, action) -> tuple[np.ndarray, float, float, bool, bool, dict[str, Any]]:
        a = checked_action(action, self.action_space)
        targets = self._targets.copy()
        targets[self.controlled] += a * self.max_delta
        self._targets = np.clip(targets, self.backend.ctrl_lower, self.backend.ctrl_upper)
        self.backend.set_joint_targets(self._targets)
        self.backend.step(self.frame_skip)
        self._steps += 1
        self._snap = None
        s = self.snapshot()
        costs = compute_costs(s.joints, s.objects, s.contacts, self.backend.scene, self.limits, self.cost_config)
        reward, terminated, extra = self._reward()
        truncated = self._steps >= self.max_episode_steps and not terminated
        info = {"costs": costs, **extra}
        return self._observe(), float(reward), float(sum(costs.values())), bool(terminated), bool(truncated), info

    def render(self):
        if self.render_mode == "rgb_array":
            return self.backend.render(self.camera, self.width, self.height)[0]
        return None

    def close(self) -> None:
        self.backend.close()

    # --- helpers --------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The simulator state read once per step (cached until the next step or reset)."""
        if self._snap is None:
            b = self.backend
            self._snap = Snapshot(b.joint_state(), b.object_states(), b.contacts(), b.object_positions(),
                                  b.palm_position())
        return self._snap

    def object_lift(self) -> np.ndarray:
        """Height of each object's centre above its resting height on the table, m."""
        b = self.backend
        rest = np.array([b.sm.geometry[o].half_height for o in b.object_ids])
        return self.snapshot().object_positions[:, 2] - b.scene.table.height - rest
