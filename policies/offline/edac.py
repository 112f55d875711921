"""EDAC / SAC-N with SO2's perturbed value update: one agent for the offline and online phases.

SAC with an ensemble of N critics (An et al., 2021). With ``s' ~ D``,
``a' ~ π(·|s')`` (squashed sample, log-density ``log π(a'|s')``):

Critic target, per head i (``per_head_targets=True``, SO2's code) or shared (``False``,
SAC-N/EDAC: the minimum over heads)::

    ε   ~ clip(N(0, σ_t²), -c, c)  per action dimension   (σ_t = target_noise, c = target_noise_clip)
    ã'  = clip(a' + ε, -1, 1)                             (ε = 0 when σ_t = 0)
    y_i = r + γ (1 - d) [Q̄_i(s', ã') - α log π(a'|s')]      per-head
    y   = r + γ (1 - d) [min_j Q̄_j(s', ã') - α log π(a'|s')]  shared

The entropy term uses the log-density of the *un-noised* a' (SO2, "perturbed value
update", PVU). Critic loss: ``Σ_i mean_B (Q_i(s, a) - y_i)² + η L_div``, where
EDAC's diversity term (η > 0, offline only) is, with unit action-gradients
``g_i = ∇_a Q_i(s, a) / |∇_a Q_i(s, a)|``::

    L_div = mean_B [ Σ_{i≠j} <g_i, g_j> ] / (N - 1)

Actor (every ``actor_update_freq``-th critic update): ``E_s[α log π(â|s) - min_i Q_i(s, â)]``,
â ~ π(·|s) reparameterised. Temperature: fixed ``alpha``, or learned (``alpha=None``)
with ``L(α) = -log α · E[log π(â|s) + H̄]``, target entropy ``H̄ = -act_dim``.
Targets: Polyak ``Q̄ <- (1 - τ) Q̄ + τ Q`` after each critic update.

SO2's finetuning is this agent with ``eta=0``, ``alpha=0.2`` fixed, ``target_noise=0.3``,
``target_noise_clip=0.6``, ``per_head_targets=True`` and ``actor_update_freq`` equal to
the update-to-data ratio (:mod:`dexsafe.policies.offline.so2`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dexsafe.policies.offline.base import OffPolicyAgent, soft_update
from dexsafe.policies.offline.networks import EnsembleCritic, TanhGaussianActor

__all__ = ["EDAC", "EDACConfig", "perturb_target_action"]


@dataclass
class EDACConfig:
    """Hyperparameters of EDAC / SAC-N / SO2 (defaults: EDAC's offline MuJoCo setting, CORL)."""

    hidden_sizes: tuple[int, ...] = (256, 256, 256)
    """Width of actor and every critic head (SO2/EDAC: 3 x 256)."""
    ensemble_size: int = 10
    """Number of Q-heads N (SO2: 10 for halfcheetah/walker2d, 50 for hopper)."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 3e-4
    """Adam learning rate of the critic ensemble."""
    alpha_lr: float = 3e-4
    """Adam learning rate of log α when α is learned."""
    alpha: float | None = None
    """Fixed entropy weight α; None learns it towards entropy -act_dim (EDAC)."""
    gamma: float = 0.99
    """Discount γ."""
    tau: float = 5e-3
    """Polyak rate τ of the target critics."""
    eta: float = 1.0
    """EDAC's gradient-diversity weight η (0: plain SAC-N; SO2 online: 0)."""
    target_noise: float = 0.0
    """σ of the Gaussian noise on the target action (SO2's PVU: 0.3; 0: none)."""
    target_noise_clip: float = 0.0
    """c, the clip of that noise (SO2: 0.6)."""
    per_head_targets: bool = False
    """True: each head regresses to its own target head (SO2's code); False: min over heads (SAC-N)."""
    actor_update_freq: int = 1
    """Update the actor (and α) once every this many critic updates (SO2: = updates per env step)."""


def perturb_target_action(action: torch.Tensor, sigma: float, clip: float,
                          generator: torch.Generator | None = None) -> torch.Tensor:
    """SO2's PVU perturbation: ``clip(a + clip(N(0, σ²), -c, c), -1, 1)`` (identity when σ = 0)."""
    if sigma <= 0:
        return action
    eps = torch.randn(action.shape, generator=generator, dtype=action.dtype) * sigma
    return (action + eps.clamp(-clip, clip)).clamp(-1.0, 1.0)


class EDAC(OffPolicyAgent):
    name = "edac"
    config_cls = EDACConfig

    def __init__(self, obs_dim: int, act_dim: int, config: EDACConfig | None = None, obs_mean=None,
                 obs_std=None) -> None:
        config = config or EDACConfig()
        super().__init__(obs_dim, act_dim, config, obs_mean, obs_std)
        if config.ensemble_size < 2 and config.eta > 0:
            raise ValueError("EDAC's diversity term needs ensemble_size >= 2 (or eta = 0)")
        if config.actor_update_freq < 1:
            raise ValueError(f"actor_update_freq must be >= 1, got {config.actor_update_freq}")
        self.actor = TanhGaussianActor(obs_dim, act_dim, config.hidden_sizes)
        self.critic = EnsembleCritic(obs_dim, act_dim, config.hidden_sizes, config.ensemble_size)
        self.target_critic = self.make_target(self.critic)
        init_alpha = config.alpha if config.alpha is not None else 1.0
        self.log_alpha = torch.nn.Parameter(torch.tensor(float(np.log(init_alpha))))
        self.target_entropy = -float(act_dim)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=config.actor_lr)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=config.critic_lr)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=config.alpha_lr)
        self.generator: torch.Generator | None = None  # set by tests to fix the PVU noise
        self.last_target: dict[str, torch.Tensor] = {}  # what the last critic target used (for tests)

    @property
    def alpha(self) -> torch.Tensor:
        if self.config.alpha is not None:
            return torch.tensor(float(self.config.alpha))
        return self.log_alpha.exp().detach()

    def _policy(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return self.actor(obs, deterministic)[0]

    # ------------------------------------------------------------------ critic
    @torch.no_grad()
    def critic_target(self, reward: torch.Tensor, next_obs: torch.Tensor, terminal: torch.Tensor) -> torch.Tensor:
        """The regression target ``[N, B]`` (per-head) or ``[1, B]`` (shared), see the module doc."""
        cfg = self.config
        next_action, next_log_prob = self.actor(next_obs)
        noisy = perturb_target_action(next_action, cfg.target_noise, cfg.target_noise_clip, self.generator)
        q_next = self.target_critic(next_obs, noisy)  # [N, B]
        if not cfg.per_head_targets:
            q_next = q_next.min(dim=0, keepdim=True).values  # [1, B]
        v_next = q_next - self.alpha * next_log_prob.unsqueeze(0)
        y = reward.unsqueeze(0) + cfg.gamma * (1.0 - terminal).unsqueeze(0) * v_next
        self.last_target = {"next_action": next_action, "noisy_action": noisy, "q_next": q_next, "y": y}
        return y

    def diversity_loss(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        n = self.config.ensemble_size
        obs_n = obs.unsqueeze(0).expand(n, -1, -1)
        act_n = action.unsqueeze(0).expand(n, -1, -1).clone().requires_grad_(True)
        q = self.critic(obs_n, act_n)
        grads = torch.autograd.grad(q.sum(), act_n, create_graph=True)[0]  # [N, B, A]
        grads = grads / (grads.norm(dim=-1, keepdim=True) + 1e-10)
        grads = grads.transpose(0, 1)  # [B, N, A]
        sim = grads @ grads.transpose(1, 2)  # [B, N, N]
        off_diag = 1.0 - torch.eye(n).unsqueeze(0)
        return (sim * off_diag).sum(dim=(1, 2)).mean() / (n - 1)

    def update_critic(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        obs = self.normalize(batch["observations"])
        next_obs = self.normalize(batch["next_observations"])
        y = self.critic_target(batch["rewards"], next_obs, batch["terminals"])
        q = self.critic(obs, batch["actions"])  # [N, B]
        q_loss = ((q - y) ** 2).mean(dim=1).sum(dim=0)
        loss = q_loss
        div = torch.zeros(())
        if self.config.eta > 0:
            div = self.diversity_loss(obs, batch["actions"])
            loss = loss + self.config.eta * div
        self.critic_opt.zero_grad()
        loss.backward()
        self.critic_opt.step()
        soft_update(self.target_critic, self.critic, self.config.tau)
        self.critic_updates += 1
        return {"critic_loss": q_loss.item(), "diversity_loss": div.item(), "q_mean": float(q.detach().mean()),
                "q_std_heads": float(q.detach().std(dim=0).mean()) if q.shape[0] > 1 else 0.0}

    # ------------------------------------------------------------------ actor
    def update_actor(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        obs = self.normalize(batch["observations"])
        action, log_prob = self.actor(obs)
        q_min = self.critic(obs, action).min(dim=0).values
        actor_loss = (self.alpha * log_prob - q_min).mean()
        self.actor_opt.zero_grad()
        actor_loss.backward()
        self.actor_opt.step()
        if self.config.alpha is None:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            self.alpha_opt.zero_grad()
            alpha_loss.backward()
            self.alpha_opt.step()
        self.actor_updates += 1
        return {"actor_loss": actor_loss.item(), "alpha": float(self.alpha),
                "entropy": -log_prob.detach().mean().item()}

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One critic update, and an actor update every ``actor_update_freq`` critic updates."""
        metrics = self.update_critic(batch)
        if self.critic_updates % self.config.actor_update_freq == 0:
            metrics.update(self.update_actor(batch))
        return metrics
