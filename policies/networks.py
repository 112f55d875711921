"""Actor-critic networks: a Gaussian policy and two value heads, reward and cost.

SafePO's defaults: MLPs of 64-64 tanh units with Kaiming-uniform weights and zero
biases; a state-independent log standard deviation initialised to ``init_log_std``.
The actor's output layer is scaled down by 0.01 so the initial policy is close to
N(0, exp(init_log_std)^2) everywhere (CleanRL's habit, it steadies early updates).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Normal

__all__ = ["ACTIVATIONS", "ActorCritic", "GaussianActor", "ValueCritic", "mlp"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def mlp(sizes: Sequence[int], activation: str = "tanh", output_scale: float = 1.0) -> nn.Sequential:
    """Linear layers ``sizes[0] -> ... -> sizes[-1]``, ``activation`` between them, none after."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        nn.init.kaiming_uniform_(linear.weight, a=5**0.5)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    with torch.no_grad():
        layers[-1].weight.mul_(output_scale)
    return nn.Sequential(*layers)


class GaussianActor(nn.Module):
    """π(a|s) = N(μ_θ(s), diag(σ²)), σ = exp(log_std), log_std a free parameter per action."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int],
        activation: str = "tanh",
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__()
        self.mean = mlp([obs_dim, *hidden_sizes, act_dim], activation, output_scale=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def distribution(self, obs: torch.Tensor) -> Normal:
        return Normal(self.mean(obs), self.log_std.exp().expand(obs.shape[0], -1), validate_args=False)

    @staticmethod
    def log_prob(dist: Normal, act: torch.Tensor) -> torch.Tensor:
        """log π(a|s), summed over action dimensions."""
        return dist.log_prob(act).sum(-1)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        dist = self.distribution(obs)
        return dist.mean if deterministic else dist.sample()


class ValueCritic(nn.Module):
    """V(s): an MLP to one number (used for both the reward and the cost value)."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int], activation: str = "tanh") -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, 1], activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


class ActorCritic(nn.Module):
    """The policy and its two critics: V_R for reward, V_C for cost (each its own network)."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "tanh",
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__()
        self.actor = GaussianActor(obs_dim, act_dim, hidden_sizes, activation, init_log_std)
        self.reward_critic = ValueCritic(obs_dim, hidden_sizes, activation)
        self.cost_critic = ValueCritic(obs_dim, hidden_sizes, activation)

    @torch.no_grad()
    def step(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample an action: returns ``(action, log π(a|s), V_R(s), V_C(s))``."""
        dist = self.actor.distribution(obs)
        act = dist.sample()
        return act, self.actor.log_prob(dist, act), self.reward_critic(obs), self.cost_critic(obs)
