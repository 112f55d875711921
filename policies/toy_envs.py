"""Tiny constrained MDPs (CMDPs) for tests and examples: numpy only, no gymnasium needed.

They follow the Safety-Gymnasium step API that every dexsafe task uses::

    obs, info = env.reset(seed=None)
    obs, reward, cost, terminated, truncated, info = env.step(action)

and expose ``observation_space`` / ``action_space`` objects with ``shape``,
``low``, ``high`` and ``sample()`` (a minimal :class:`Box`, compatible with what
``gymnasium.spaces.Box`` offers for these uses), plus ``max_episode_steps``.

Use them by factory path anywhere an env id is accepted, e.g.
``dexsafe train ppo_lag --env dexsafe.policies.toy_envs:PointLineCost``, or by
their short ids in :data:`TOY_ENVS` (``toy/PointLine-v0``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TOY_ENVS", "Box", "PointGoalHazard2D", "PointLineCost", "RandomCMDP"]


@dataclass
class Box:
    """A bounded box of float vectors (the part of ``gymnasium.spaces.Box`` we use)."""

    low: np.ndarray
    high: np.ndarray

    def __post_init__(self) -> None:
        self.low = np.asarray(self.low, dtype=np.float32)
        self.high = np.asarray(self.high, dtype=np.float32)
        if self.low.shape != self.high.shape:
            raise ValueError(f"low {self.low.shape} and high {self.high.shape} differ in shape")
        self._rng = np.random.default_rng()

    @property
    def shape(self) -> tuple[int, ...]:
        return self.low.shape

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def seed(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def sample(self) -> np.ndarray:
        low = np.where(np.isfinite(self.low), self.low, -1.0)
        high = np.where(np.isfinite(self.high), self.high, 1.0)
        return self._rng.uniform(low, high).astype(np.float32)

    def contains(self, x: np.ndarray) -> bool:
        x = np.asarray(x)
        return x.shape == self.shape and bool(np.all(x >= self.low) and np.all(x <= self.high))


class PointLineCost:
    """A point on a line that is paid to move right and charged for entering x > hazard_x.

    State x in [-1, 1], start near 0, action a in [-1, 1], ``horizon`` steps (10)::

        x' = clip(x + step_size * a, -1, 1)
        reward = x' - x                     (progress to the right; return = final x)
        cost   = 1[x' > hazard_x]           (Safety-Gymnasium style indicator)

    Observation ``[x, t / horizon]``. The greedy policy runs to x = 1 and pays
    about 7 cost per episode for a return of 1; the best policy with episode
    cost 0 parks at ``hazard_x`` for a return of 0.5. The trade-off is the
    smallest one a Lagrangian method must learn: a few thousand steps suffice.
    """

    def __init__(self, horizon: int = 10, step_size: float = 0.2, hazard_x: float = 0.5) -> None:
        self.horizon = int(horizon)
        self.max_episode_steps = self.horizon
        self.step_size = float(step_size)
        self.hazard_x = float(hazard_x)
        self.observation_space = Box(low=[-1.0, 0.0], high=[1.0, 1.0])
        self.action_space = Box(low=[-1.0], high=[1.0])
        self._rng = np.random.default_rng()
        self._x = 0.0
        self._t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self._x, self._t / self.horizon], dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        self._x = float(self._rng.uniform(-0.05, 0.05))
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        x_old = self._x
        self._x = float(np.clip(self._x + self.step_size * a, -1.0, 1.0))
        self._t += 1
        reward = self._x - x_old
        cost = float(self._x > self.hazard_x)
        truncated = self._t >= self.horizon
        return self._obs(), reward, cost, False, truncated, {"x": self._x}

    def close(self) -> None:
        pass


class PointGoalHazard2D:
    """A 2-D point that must reach a goal past a round hazard (a tiny Safety-Gymnasium Goal).

    Start near (0, 0), goal at (1, 0), hazard disc of radius 0.3 at (0.5, 0);
    velocity actions in [-1, 1]^2 scaled by ``step_size``; ``horizon`` steps (20)::

        reward = |p - goal| - |p' - goal|  (+1 and termination on reaching the goal)
        cost   = 1[|p' - hazard| < radius]

    Observation ``[p, goal - p, hazard - p, t / horizon]`` (7 numbers). Going
    straight costs about 3 per episode; going around costs 0 and a few steps.
    """

    def __init__(self, horizon: int = 20, step_size: float = 0.1) -> None:
        self.horizon = int(horizon)
        self.max_episode_steps = self.horizon
        self.step_size = float(step_size)
        self.goal = np.array([1.0, 0.0])
        self.hazard = np.array([0.5, 0.0])
        self.hazard_radius = 0.3
        self.goal_radius = 0.1
        self.observation_space = Box(low=[-np.inf] * 7, high=[np.inf] * 7)
        self.action_space = Box(low=[-1.0, -1.0], high=[1.0, 1.0])
        self._rng = np.random.default_rng()
        self._p = np.zeros(2)
        self._t = 0

    def _obs(self) -> np.ndarray:
        p = self._p
        return np.concatenate([p, self.goal - p, self.hazard - p, [self._t / self.horizon]]).astype(
            np.float32
        )

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        self._p = self._rng.uniform(-0.05, 0.05, size=2)
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[:2], -1.0, 1.0)
        d_old = np.linalg.norm(self._p - self.goal)
        self._p = np.clip(self._p + self.step_size * a, -2.0, 2.0)
        self._t += 1
        d_new = np.linalg.norm(self._p - self.goal)
        reached = d_new < self.goal_radius
        reward = float(d_old - d_new) + (1.0 if reached else 0.0)
        cost = float(np.linalg.norm(self._p - self.hazard) < self.hazard_radius)
        truncated = (not reached) and self._t >= self.horizon
        return self._obs(), reward, cost, bool(reached), truncated, {"goal_reached": bool(reached)}

    def close(self) -> None:
        pass


class RandomCMDP:
    """OmniSafe's ``Test-v0`` idea: random observations, reward and cost, ten steps.

    Nothing to learn; it exercises every code path (terminations and time-limit
    truncations both happen) with large, noisy rewards and costs.
    """

    def __init__(self, obs_dim: int = 3, act_dim: int = 2, horizon: int = 10) -> None:
        self.horizon = int(horizon)
        self.max_episode_steps = self.horizon
        self.observation_space = Box(low=[-1.0] * obs_dim, high=[1.0] * obs_dim)
        self.action_space = Box(low=[-2.0] * act_dim, high=[3.0] * act_dim)
        self._rng = np.random.default_rng()
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            self.action_space.seed(seed)
        self._t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64)
        if not self.action_space.contains(a.astype(np.float32)):
            raise ValueError(f"action {a} outside {self.action_space}")
        self._t += 1
        obs = self._rng.uniform(-1, 1, size=self.observation_space.shape).astype(np.float32)
        reward = float(self._rng.normal(scale=10.0))
        cost = float(self._rng.normal(loc=1.0, scale=10.0))
        terminated = bool(self._rng.random() < 0.05)
        truncated = (not terminated) and self._t >= self.horizon
        return obs, reward, cost, terminated, truncated, {}

    def close(self) -> None:
        pass


#: Short ids accepted by :func:`dexsafe.policies.envs.make_env` without gymnasium.
TOY_ENVS = {
    "toy/PointLine-v0": PointLineCost,
    "toy/PointGoalHazard2D-v0": PointGoalHazard2D,
    "toy/RandomCMDP-v0": RandomCMDP,
}


class TwoPointLineCost:
    """Two agents, each a :class:`PointLineCost` point, seeing both positions (a toy two-hand CMDP).

    Multi-agent CMDP API (Safety-Gymnasium ``make_ma`` / PettingZoo parallel style),
    every return a dict keyed by agent::

        obs, info = env.reset(seed=None)
        obs, rewards, costs, terminations, truncations, infos = env.step({agent: action})

    Agent ``i`` observes ``[x_i, x_other, t / horizon]``, earns its own progress
    ``x_i' - x_i`` and pays ``cost_i = 1[x_i' > hazard_x]``.
    """

    possible_agents = ("hand_0", "hand_1")

    def __init__(self, horizon: int = 10, step_size: float = 0.2, hazard_x: float = 0.5) -> None:
        self.horizon = int(horizon)
        self.max_episode_steps = self.horizon
        self.step_size = float(step_size)
        self.hazard_x = float(hazard_x)
        self.agents = list(self.possible_agents)
        self.observation_spaces = {a: Box(low=[-1.0, -1.0, 0.0], high=[1.0, 1.0, 1.0]) for a in self.agents}
        self.action_spaces = {a: Box(low=[-1.0], high=[1.0]) for a in self.agents}
        self._rng = np.random.default_rng()
        self._x = np.zeros(2)
        self._t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        x, t = self._x, self._t / self.horizon
        return {
            "hand_0": np.array([x[0], x[1], t], dtype=np.float32),
            "hand_1": np.array([x[1], x[0], t], dtype=np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self._x = self._rng.uniform(-0.05, 0.05, size=2)
        self._t = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        a = np.array([float(np.clip(np.asarray(actions[k]).reshape(-1)[0], -1, 1)) for k in self.agents])
        x_old = self._x.copy()
        self._x = np.clip(self._x + self.step_size * a, -1.0, 1.0)
        self._t += 1
        truncated = self._t >= self.horizon
        rewards = {k: float(self._x[i] - x_old[i]) for i, k in enumerate(self.agents)}
        costs = {k: float(self._x[i] > self.hazard_x) for i, k in enumerate(self.agents)}
        return (
            self._obs(),
            rewards,
            costs,
            {k: False for k in self.agents},
            {k: truncated for k in self.agents},
            {k: {} for k in self.agents},
        )

    def close(self) -> None:
        pass


#: Multi-agent toy ids accepted by :func:`dexsafe.policies.envs.make_multi_agent_env`.
TOY_MULTI_AGENT_ENVS = {"toy/TwoPointLine-v0": TwoPointLineCost}
