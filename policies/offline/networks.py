"""Networks of the offline(-to-online) algorithms: a vectorised Q-ensemble and three actors.

- :class:`EnsembleCritic`: N independent Q-heads ``Q_i(s, a)`` evaluated in one batched
  matmul per layer (EDAC/SAC-N's vectorised linear layers), output ``[N, B]``.
- :class:`TanhGaussianActor`: SAC's squashed Gaussian with state-dependent σ,
  ``a = tanh(u), u ~ N(μ(s), σ(s)²)`` and
  ``log π(a|s) = Σ_j [log N(u_j; μ_j, σ_j) - log(1 - tanh(u_j)²)]``.
- :class:`DeterministicActor`: TD3's ``a = tanh(f(s))``.
- :class:`GaussianActor`: IQL's ``N(tanh(μ(s)), diag(σ²))`` with a free log σ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DeterministicActor", "EnsembleCritic", "GaussianActor", "TanhGaussianActor", "ValueNetwork", "mlp"]

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


def mlp(sizes: Sequence[int], layer_norm: bool = False) -> nn.Sequential:
    """ReLU MLP ``sizes[0] -> ... -> sizes[-1]`` (optional LayerNorm after each hidden layer)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            if layer_norm:
                layers.append(nn.LayerNorm(sizes[i + 1]))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VectorizedLinear(nn.Module):
    """N linear layers at once: ``y[n] = x[n] @ W[n] + b[n]``, x ``[N, B, in]`` -> ``[N, B, out]``."""

    def __init__(self, in_features: int, out_features: int, ensemble_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(ensemble_size, in_features, out_features))
        self.bias = nn.Parameter(torch.empty(ensemble_size, 1, out_features))
        for i in range(ensemble_size):  # nn.Linear's default init, per head
            nn.init.kaiming_uniform_(self.weight[i].T, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleCritic(nn.Module):
    """``Q_i(s, a)`` for i = 1..N: ``forward(obs, act) -> [N, B]``.

    ``obs``/``act`` are ``[B, d]`` (the same batch for every head) or ``[N, B, d]``
    (one batch per head, used by EDAC's diversity term).
    """

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int], ensemble_size: int) -> None:
        super().__init__()
        if ensemble_size < 1:
            raise ValueError(f"ensemble_size must be >= 1, got {ensemble_size}")
        self.ensemble_size = int(ensemble_size)
        sizes = [obs_dim + act_dim, *hidden_sizes, 1]
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 1):
            layers.append(VectorizedLinear(sizes[i], sizes[i + 1], self.ensemble_size))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs, act], dim=-1)
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.ensemble_size, -1, -1)
        return self.net(x).squeeze(-1)


class ValueNetwork(nn.Module):
    """``V(s) -> [B]`` (IQL)."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, 1])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


class TanhGaussianActor(nn.Module):
    """SAC's squashed Gaussian policy with state-dependent σ (see module doc)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        self.trunk = mlp([obs_dim, *hidden_sizes])
        self.trunk.append(nn.ReLU())
        self.mu = nn.Linear(hidden_sizes[-1], act_dim)
        self.log_std = nn.Linear(hidden_sizes[-1], act_dim)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, log π(a|s))``; deterministic gives ``tanh(μ)`` and the log-density there."""
        h = self.trunk(obs)
        mu = self.mu(h)
        log_std = self.log_std(h).clamp(LOG_STD_MIN, LOG_STD_MAX)
        std = log_std.exp()
        u = mu if deterministic else mu + std * torch.randn_like(mu)
        log_prob = (-0.5 * ((u - mu) / std) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), numerically stable
        log_prob = log_prob - (2 * (math.log(2) - u - F.softplus(-2 * u))).sum(-1)
        return torch.tanh(u), log_prob


class DeterministicActor(nn.Module):
    """TD3's ``a = tanh(f(s))``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, act_dim])

    def forward(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class GaussianActor(nn.Module):
    """IQL's policy ``N(tanh(μ(s)), diag(exp(log σ)²))``, log σ a free parameter."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes: Sequence[int]) -> None:
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, act_dim])
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def distribution(self, obs: torch.Tensor) -> torch.distributions.Normal:
        mean = torch.tanh(self.net(obs))
        std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).exp().expand_as(mean)
        return torch.distributions.Normal(mean, std)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        dist = self.distribution(obs)
        a = dist.mean if deterministic else dist.sample()
        return a.clamp(-1.0, 1.0)
