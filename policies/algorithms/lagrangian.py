"""The Lagrangian part every multiplier-based method shares (PPO-Lag, TRPO-Lag, RCPO, FOCOPS, CUP)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dexsafe.policies.buffer import RolloutBatch
from dexsafe.policies.lagrange import LagrangeMultiplier, mix_advantages

__all__ = ["LagrangianConfig", "LagrangianMixin"]


@dataclass
class LagrangianConfig:
    """The Lagrange multiplier's settings (SafePO defaults)."""

    lagrangian_multiplier_init: float = 0.001
    """λ_0."""
    lambda_lr: float = 0.035
    """Learning rate of λ. Scale it up for short runs: λ only moves once per epoch."""
    lambda_optimizer: str = "Adam"
    """Adam or SGD."""
    lagrangian_upper_bound: float | None = None
    """Largest λ (None: unbounded)."""


class LagrangianMixin:
    """λ by dual ascent on the epoch's mean episode cost, and the mixed advantage.

    Once per epoch ``λ ← clip(λ + η (Ĵ_C - d), 0, λ_max)`` (one optimiser step of
    :class:`~dexsafe.policies.lagrange.LagrangeMultiplier`); the actor then follows
    ``Â = (A_R - λ A_C) / (1 + λ)``. Put it before the base algorithm in the bases.
    """

    constrained = True

    def setup(self) -> None:
        cfg = self.config
        self.lagrange = LagrangeMultiplier(
            cfg.cost_limit,
            cfg.lagrangian_multiplier_init,
            cfg.lambda_lr,
            cfg.lambda_optimizer,
            cfg.lagrangian_upper_bound,
        )

    def update_multipliers(self, mean_episode_cost: float) -> dict[str, float]:
        return {"lagrange_multiplier": self.lagrange.update(mean_episode_cost)}

    def policy_advantage(self, batch: RolloutBatch) -> torch.Tensor:
        return mix_advantages(batch.reward_advantages, batch.cost_advantages, self.lagrange.value)

    def extra_state(self) -> dict[str, Any]:
        return {"lagrange": self.lagrange.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.lagrange.load_state_dict(state["lagrange"])
