"""TD3+BC (Fujimoto & Gu, 2021), its online finetuning, and naive TD3 finetuning (``bc=False``).

Twin critics Q_1, Q_2, a deterministic actor π. Critic target with target-policy smoothing::

    ã' = clip(π̄(s') + clip(N(0, σ²), -c, c), -1, 1)       (σ = policy_noise, c = noise_clip)
    y  = r + γ (1 - d) min(Q̄_1(s', ã'), Q̄_2(s', ã'))
    L_Q = Σ_i mean_B (Q_i(s, a) - y)²

Actor, every ``policy_freq``-th critic update, with ``λ = α / mean_B |Q_1(s, π(s))|``::

    L_π = -λ mean_B Q_1(s, π(s)) + mean_B |π(s) - a|²      (bc=True, TD3+BC)
    L_π = -mean_B Q_1(s, π(s))                            (bc=False, plain TD3: the collapse control)

Targets of actor and critics follow by Polyak averaging after each actor update.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dexsafe.policies.offline.base import OffPolicyAgent, soft_update
from dexsafe.policies.offline.edac import perturb_target_action
from dexsafe.policies.offline.networks import DeterministicActor, EnsembleCritic

__all__ = ["TD3BC", "TD3BCConfig"]


@dataclass
class TD3BCConfig:
    """Hyperparameters of TD3+BC (defaults: the paper's)."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    """Width of actor and both critics."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the twin critics."""
    gamma: float = 0.99
    """Discount γ."""
    tau: float = 5e-3
    """Polyak rate τ of the targets."""
    policy_noise: float = 0.2
    """σ of the target-policy smoothing noise."""
    noise_clip: float = 0.5
    """c, the clip of that noise."""
    policy_freq: int = 2
    """Actor (and target) update every this many critic updates."""
    alpha: float = 2.5
    """α of λ = α / mean|Q|, the weight of the Q term against the BC term."""
    bc: bool = True
    """Keep the behaviour-cloning term (False: plain TD3, naive finetuning)."""
    exploration_noise: float = 0.1
    """Std of the Gaussian noise on online actions (normalised action units)."""


class TD3BC(OffPolicyAgent):
    name = "td3_bc"
    config_cls = TD3BCConfig

    def __init__(self, obs_dim: int, act_dim: int, config: TD3BCConfig | None = None, obs_mean=None,
                 obs_std=None) -> None:
        config = config or TD3BCConfig()
        super().__init__(obs_dim, act_dim, config, obs_mean, obs_std)
        self.actor = DeterministicActor(obs_dim, act_dim, config.hidden_sizes)
        self.target_actor = self.make_target(self.actor)
        self.critic = EnsembleCritic(obs_dim, act_dim, config.hidden_sizes, 2)
        self.target_critic = self.make_target(self.critic)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)

    def _policy(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        a = self.actor(obs)
        if not deterministic and self.config.exploration_noise > 0:
            a = a + self.config.exploration_noise * torch.randn_like(a)
        return a.clamp(-1.0, 1.0)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        cfg = self.config
        obs = self.normalize(batch["observations"])
        next_obs = self.normalize(batch["next_observations"])
        with torch.no_grad():
            next_action = perturb_target_action(self.target_actor(next_obs), cfg.policy_noise, cfg.noise_clip)
            q_next = self.target_critic(next_obs, next_action).min(dim=0).values
            y = batch["rewards"] + cfg.gamma * (1.0 - batch["terminals"]) * q_next
        q = self.critic(obs, batch["actions"])
        critic_loss = ((q - y.unsqueeze(0)) ** 2).mean(dim=1).sum()
        self.critic_opt.zero_grad()
        critic_loss.backward()
        self.critic_opt.step()
        self.critic_updates += 1
        metrics = {"critic_loss": critic_loss.item(), "q_mean": float(q.detach().mean())}
        if self.critic_updates % cfg.policy_freq == 0:
            pi = self.actor(obs)
            q1 = self.critic(obs, pi)[0]
            if cfg.bc:
                lam = cfg.alpha / q1.abs().mean().detach().clamp_min(1e-6)
                bc_loss = ((pi - batch["actions"]) ** 2).mean()
                actor_loss = -lam * q1.mean() + bc_loss
                metrics["bc_loss"] = bc_loss.item()
            else:
                actor_loss = -q1.mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            soft_update(self.target_actor, self.actor, cfg.tau)
            soft_update(self.target_critic, self.critic, cfg.tau)
            self.actor_updates += 1
            metrics["actor_loss"] = actor_loss.item()
        return metrics
