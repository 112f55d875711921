"""Scripted behaviour policies that make datasets of a known, limited quality without training.

Each factory takes the env and returns ``policy(obs) -> action`` (env action box).
Use them by name in a dataset config: ``behaviour: dexsafe.policies.offline.behaviours:slow_to_goal``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["slow_to_goal"]


def slow_to_goal(env: Any, speed: float = 0.3):
    """Heads straight for the goal at ``speed`` of full speed: a 'medium' driver.

    Works with observations holding ``goal - position`` at indices ``[2:4]``
    (``toy/PointGoalHazard2D-v0``) or ``[3:6]`` (``dexsafe/SafeReach-v0``). Slow enough,
    it often does not reach the goal within the horizon (toy: 0.3; SafeReach: about 0.12),
    so a finetuned policy has room to improve: the return is the distance covered.
    """
    dim = int(env.action_space.shape[0])
    sl = slice(2, 4) if dim == 2 else slice(3, 6)

    def policy(obs: np.ndarray) -> np.ndarray:
        d = np.asarray(obs, dtype=np.float64)[sl]
        n = np.linalg.norm(d)
        return speed * (d / n if n > 1e-9 else np.zeros_like(d))

    return policy
