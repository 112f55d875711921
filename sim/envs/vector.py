"""``SafeVectorEnv``: N copies of a dexsafe task stepped in one process, batched 6-tuple API.

``step(actions)`` -> ``obs (N, ...), reward (N,), cost (N,), terminated (N,), truncated (N,), info``
with ``info['costs'][channel]`` (N,) arrays, ``info['is_success']`` (N,) and,
for copies that finished this step, ``info['final_obs'][i]`` / ``info['_final_obs'][i]``:
a finished copy is reset in the same step (its returned obs is the new episode's).
``reset(seed=s)`` seeds copy i with ``s + i``.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
from gymnasium.vector.utils import batch_space

from dexsafe.sim.costs import CHANNELS


class SafeVectorEnv:
    def __init__(self, env_fns: list[Callable[[], gym.Env]], seed: int | None = None):
        if not env_fns:
            raise ValueError("SafeVectorEnv needs at least one environment")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.single_observation_space = self.envs[0].observation_space
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._seed = seed

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        seed = self._seed if seed is None else seed
        self._seed = None
        obs, infos = [], []
        for i, env in enumerate(self.envs):
            o, info = env.reset(seed=None if seed is None else seed + i, options=options)
            obs.append(o)
            infos.append(info)
        return np.stack(obs), {"scene_seed": np.array([i["scene_seed"] for i in infos])}

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape[0] != self.num_envs:
            raise ValueError(f"expected {self.num_envs} actions, got {actions.shape[0]}")
        n = self.num_envs
        obs, rew, cost = [], np.zeros(n), np.zeros(n)
        term, trunc, success = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
        costs = {c: np.zeros(n) for c in CHANNELS}
        final_obs, final_mask = [None] * n, np.zeros(n, bool)
        for i, env in enumerate(self.envs):
            o, r, c, te, tr, info = env.step(actions[i])
            rew[i], cost[i], term[i], trunc[i] = r, c, te, tr
            success[i] = bool(info.get("is_success", False))
            for ch in CHANNELS:
                costs[ch][i] = info["costs"][ch]
            if te or tr:
                final_obs[i], final_mask[i] = o, True
                o, _ = env.reset()
            obs.append(o)
        info = {"costs": costs, "is_success": success, "final_obs": final_obs, "_final_obs": final_mask}
        return np.stack(obs), rew, cost, term, trunc, info

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def make_vec_env(env_id: str, num_envs: int, seed: int | None = None, **kwargs) -> SafeVectorEnv:
    """``num_envs`` copies of the 6-tuple task ``env_id`` (e.g. ``dexsafe/GraspLift-v0``)."""
    from dexsafe.sim.envs import SAFE_TASKS, make

    if env_id not in SAFE_TASKS:
        raise ValueError(f"make_vec_env needs a Safety-Gymnasium-API task, one of {sorted(SAFE_TASKS)}; got {env_id!r}")
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    return SafeVectorEnv([lambda: make(env_id, **kwargs) for _ in range(num_envs)], seed=seed)
