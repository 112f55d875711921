"""What every offline(-to-online) agent shares: fixed observation normalisation, target
networks, update counters, and the plain-data state that checkpoints hold.

Agents work on normalised actions in [-1, 1] and raw observations; they normalise
observations with the dataset's mean and std, frozen at construction
(``(s - μ) / (σ + 1e-3)``, as CORL does for locomotion data).
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["OffPolicyAgent", "soft_update"]


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """Polyak averaging ``θ̄ <- (1 - τ) θ̄ + τ θ``."""
    for tp, sp in zip(target.parameters(), source.parameters()):
        tp.mul_(1.0 - tau).add_(sp, alpha=tau)


class OffPolicyAgent(nn.Module):
    """Base of EDAC, TD3+BC and IQL. Subclasses set ``name``, build networks and implement
    ``update(batch) -> metrics`` and ``_policy(obs_norm, deterministic) -> action``."""

    name = "base"
    config_cls: type = object

    def __init__(self, obs_dim: int, act_dim: int, config: Any, obs_mean: np.ndarray | None = None,
                 obs_std: np.ndarray | None = None) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.config = int(obs_dim), int(act_dim), config
        mean = np.zeros(obs_dim) if obs_mean is None else np.asarray(obs_mean, dtype=np.float64)
        std = np.ones(obs_dim) if obs_std is None else np.asarray(obs_std, dtype=np.float64)
        self.register_buffer("obs_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("obs_std", torch.as_tensor(std, dtype=torch.float32))
        self.critic_updates = 0
        self.actor_updates = 0

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return (obs - self.obs_mean) / (self.obs_std + 1e-3)

    @staticmethod
    def make_target(net: nn.Module) -> nn.Module:
        target = copy.deepcopy(net)
        for p in target.parameters():
            p.requires_grad_(False)
        return target

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        raise NotImplementedError

    def _policy(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Action(s) in [-1, 1] for raw observation(s) ``[obs_dim]`` or ``[B, obs_dim]``."""
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        single = x.dim() == 1
        x = x.unsqueeze(0) if single else x
        a = self._policy(self.normalize(x), deterministic).clamp(-1.0, 1.0).numpy()
        return a[0] if single else a

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: v for k, v in vars(self).items() if isinstance(v, torch.optim.Optimizer)}

    def full_state(self) -> dict[str, Any]:
        """Weights, optimiser states and counters (plain data: loads with ``weights_only=True``)."""
        return {"modules": self.state_dict(), "optimizers": {k: o.state_dict() for k, o in self.optimizers().items()},
                "critic_updates": self.critic_updates, "actor_updates": self.actor_updates}

    def load_full_state(self, state: dict[str, Any], optimizers: bool = True) -> None:
        self.load_state_dict(state["modules"])
        if optimizers:
            for key, opt in self.optimizers().items():
                if key in state.get("optimizers", {}):
                    opt.load_state_dict(state["optimizers"][key])
        self.critic_updates = int(state.get("critic_updates", 0))
        self.actor_updates = int(state.get("actor_updates", 0))

    def config_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self.config)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
