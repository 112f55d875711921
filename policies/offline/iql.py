"""Implicit Q-learning (Kostrikov et al., 2021) for offline pretraining and online finetuning.

With twin critics, a value network V and a Gaussian actor; expectile τ_e, temperature β::

    L_V = mean_B |τ_e - 1[u < 0]| u²,   u = min_i Q̄_i(s, a) - V(s)       (expectile regression)
    y   = r + γ (1 - d) V(s')
    L_Q = Σ_i mean_B (Q_i(s, a) - y)²
    L_π = -mean_B min(exp(β u), w_max) log π(a|s)                        (advantage-weighted BC)

No action outside the data is ever queried by the critic, which is why IQL is the
better start from narrow (teleoperated, scripted) logs. Online finetuning runs the
same losses on mixed offline/online data, acting with samples of π.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dexsafe.policies.offline.base import OffPolicyAgent, soft_update
from dexsafe.policies.offline.networks import EnsembleCritic, GaussianActor, ValueNetwork

__all__ = ["IQL", "IQLConfig"]


@dataclass
class IQLConfig:
    """Hyperparameters of IQL (defaults: the paper's MuJoCo setting)."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    """Width of actor, value and critics."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of Q and V."""
    gamma: float = 0.99
    """Discount γ."""
    tau: float = 5e-3
    """Polyak rate τ of the target critics."""
    expectile: float = 0.7
    """Expectile τ_e of the value regression (0.5: mean, -> 1: max)."""
    beta: float = 3.0
    """Inverse temperature β of the advantage weights."""
    max_weight: float = 100.0
    """Clip w_max of the advantage weights exp(β u)."""


class IQL(OffPolicyAgent):
    name = "iql"
    config_cls = IQLConfig

    def __init__(self, obs_dim: int, act_dim: int, config: IQLConfig | None = None, obs_mean=None,
                 obs_std=None) -> None:
        config = config or IQLConfig()
        super().__init__(obs_dim, act_dim, config, obs_mean, obs_std)
        self.actor = GaussianActor(obs_dim, act_dim, config.hidden_sizes)
        self.critic = EnsembleCritic(obs_dim, act_dim, config.hidden_sizes, 2)
        self.target_critic = self.make_target(self.critic)
        self.value = ValueNetwork(obs_dim, config.hidden_sizes)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_opt = torch.optim.Adam([*self.critic.parameters(), *self.value.parameters()], lr=config.critic_lr)

    def _policy(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return self.actor(obs, deterministic)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        obs = self.normalize(batch["observations"])
        next_obs = self.normalize(batch["next_observations"])
        act = batch["actions"]
        with torch.no_grad():
            q_target = self.target_critic(obs, act).min(dim=0).values
            y = batch["rewards"] + cfg.gamma * (1.0 - batch["terminals"]) * self.value(next_obs)
        v = self.value(obs)
        u = q_target - v
        value_loss = (torch.abs(cfg.expectile - (u < 0).float()) * u**2).mean()
        q = self.critic(obs, act)
        q_loss = ((q - y.unsqueeze(0)) ** 2).mean(dim=1).sum()
        self.critic_opt.zero_grad()
        (value_loss + q_loss).backward()
        self.critic_opt.step()
        soft_update(self.target_critic, self.critic, cfg.tau)
        self.critic_updates += 1

        weights = torch.exp(cfg.beta * u.detach()).clamp(max=cfg.max_weight)
        log_prob = self.actor.distribution(obs).log_prob(act).sum(-1)
        actor_loss = -(weights * log_prob).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        self.actor_updates += 1
        return {"critic_loss": q_loss.item(), "value_loss": value_loss.item(), "actor_loss": actor_loss.item(),
                "q_mean": float(q.detach().mean())}
