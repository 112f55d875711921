"""The standard Gymnasium view of a dexsafe task: 5-tuple ``step`` with ``info['cost']``.

Safety-Gymnasium does the same for its ``...Gymnasium-v0`` twins; this is what
``gymnasium.utils.env_checker.check_env`` and off-the-shelf RL code expect.
"""

from __future__ import annotations

import gymnasium as gym


class SafetyGymnasiumToGymnasium(gym.Wrapper):
    """``obs, reward, cost, terminated, truncated, info`` -> ``obs, reward, terminated, truncated, info``
    with ``info['cost']`` (the summed cost) next to ``info['costs']`` (the channels)."""

    def step(self, action):
        obs, reward, cost, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        info["cost"] = cost
        return obs, reward, terminated, truncated, info
