"""Saute-PPO: PPO on the budget-augmented CMDP (Sootla et al., 2022)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dexsafe.policies.algorithms.ppo import PPO, PPOConfig
from dexsafe.policies.envs import SauteWrapper

__all__ = ["SautePPO", "SautePPOConfig"]


@dataclass
class SautePPOConfig(PPOConfig):
    saute_gamma: float = 0.999
    """γ_s: discount of the safety budget."""
    unsafe_reward: float = -0.2
    """Reward given on every step once the budget is spent."""


class SautePPO(PPO):
    """PPO on the Saute-augmented env (:class:`~dexsafe.policies.envs.SauteWrapper`).

    The state carries the remaining normalised budget z (z_0 = 1,
    z ← (z - c/D)/γ_s); once z <= 0 every reward becomes ``unsafe_reward``. The
    actor and critics see ``[obs, z]``; the update is plain PPO-clip on A_R of
    the reshaped reward, so the constraint is enforced through the state, not a
    multiplier. A deployed Saute policy needs z appended to its observation
    (checkpoints record ``obs_augmentation: saute``).
    """

    name = "saute_ppo"
    config_class = SautePPOConfig
    constrained = True
    obs_augmentation = "saute"

    @classmethod
    def wrap_env(cls, env: Any, config: SautePPOConfig) -> Any:
        return SauteWrapper(
            env,
            cost_limit=config.cost_limit,
            saute_gamma=config.saute_gamma,
            unsafe_reward=config.unsafe_reward,
            max_episode_steps=config.max_episode_steps,
        )
