"""First-order trust-region methods: PPO, PPO-Lagrangian and CPPO-PID."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dexsafe.policies.algorithms.base import OnPolicyAlgorithm, OnPolicyConfig
from dexsafe.policies.algorithms.lagrangian import LagrangianConfig, LagrangianMixin
from dexsafe.policies.buffer import RolloutBatch
from dexsafe.policies.lagrange import PIDLagrangian

__all__ = [
    "CPPOPID",
    "PPO",
    "CPPOPIDConfig",
    "PPOConfig",
    "PPOLag",
    "PPOLagConfig",
]


@dataclass
class PPOConfig(OnPolicyConfig):
    clip_ratio: float = 0.2
    """ε of the clipped surrogate."""


@dataclass
class PPOLagConfig(LagrangianConfig, PPOConfig):
    pass


@dataclass
class CPPOPIDConfig(PPOConfig):
    pid_kp: float = 0.1
    """Proportional gain K_p."""
    pid_ki: float = 0.01
    """Integral gain K_i."""
    pid_kd: float = 0.01
    """Derivative gain K_d."""
    pid_d_delay: int = 10
    """τ: epochs between the costs the derivative term compares."""
    pid_delta_p_ema_alpha: float = 0.95
    """α_p: smoothing of the proportional error."""
    pid_delta_d_ema_alpha: float = 0.95
    """α_d: smoothing of the cost the derivative uses."""
    lagrangian_multiplier_init: float = 0.0
    """λ_0 (the integral's start)."""
    lagrangian_upper_bound: float | None = None
    """Largest λ (None: unbounded)."""


class PPO(OnPolicyAlgorithm):
    """Proximal policy optimisation, clipped surrogate (Schulman et al., 2017).

    With ρ = π_θ(a|s) / π_old(a|s) and the advantage Â from :meth:`policy_advantage`::

        L(θ) = -E[ min(ρ Â, clip(ρ, 1 - ε, 1 + ε) Â) ] - c_H E[H(π_θ(·|s))]

    minimised with Adam over ``update_iters`` passes of minibatches, stopping the
    epoch's passes early once KL(π_old ‖ π_θ) > ``target_kl``. Plain PPO ignores
    the cost (its cost critic is trained for logging only).
    """

    name = "ppo"
    config_class = PPOConfig

    def surrogate_loss(
        self, ratio: torch.Tensor, advantage: torch.Tensor, idx: torch.Tensor, batch: RolloutBatch
    ) -> torch.Tensor:
        eps = self.config.clip_ratio
        clipped = torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * advantage
        return -torch.min(ratio * advantage, clipped).mean()

    def update_policy(self, batch: RolloutBatch) -> dict[str, float]:
        cfg = self.config
        advantage = self.policy_advantage(batch).detach()
        old = self.old_distribution(batch.obs)
        actor = self.model.actor
        kl = 0.0
        loss = math.nan
        passes = 0
        for _ in range(cfg.update_iters):
            passes += 1
            for idx in batch.minibatches(cfg.minibatch_size, self.generator):
                dist = actor.distribution(batch.obs[idx])
                log_prob = actor.log_prob(dist, batch.actions[idx])
                ratio = torch.exp(log_prob - batch.log_probs[idx])
                loss_t = self.surrogate_loss(ratio, advantage[idx], idx, batch)
                if cfg.entropy_coef:
                    loss_t = loss_t - cfg.entropy_coef * dist.entropy().sum(-1).mean()
                self.actor_optimizer.zero_grad()
                loss_t.backward()
                nn.utils.clip_grad_norm_(actor.parameters(), cfg.max_grad_norm)
                self.actor_optimizer.step()
                loss = float(loss_t.detach())
            with torch.no_grad():
                kl = float(self.mean_kl(old, batch.obs))
            if kl > cfg.target_kl:
                break
        return {"loss_actor": loss, "kl": kl, "actor_passes": float(passes)}


class PPOLag(LagrangianMixin, PPO):
    """PPO-Lagrangian (Ray et al., 2019; SafePO ``ppo_lag``).

    Solves max_π J_R(π) s.t. J_C(π) <= d through the Lagrangian
    ``min_{λ>=0} max_π J_R(π) - λ (J_C(π) - d)``. Once per epoch λ takes a dual
    step with the epoch's mean episode cost Ĵ_C (see
    :class:`~dexsafe.policies.lagrange.LagrangeMultiplier`); then the actor runs
    PPO-clip on the mixed advantage ``Â = (A_R - λ A_C) / (1 + λ)``
    (:class:`~dexsafe.policies.algorithms.lagrangian.LagrangianMixin`).
    """

    name = "ppo_lag"
    config_class = PPOLagConfig


class CPPOPID(PPOLag):
    """CPPO-PID: PPO-Lagrangian with λ from a PID controller (Stooke et al., 2020).

    Same actor update as :class:`PPOLag` on ``(A_R - λ A_C) / (1 + λ)``; λ comes
    from :class:`~dexsafe.policies.lagrange.PIDLagrangian` instead of a dual
    gradient step, which damps the overshoot and oscillation of λ.
    """

    name = "cppo_pid"
    config_class = CPPOPIDConfig

    def setup(self) -> None:
        cfg = self.config
        self.lagrange = PIDLagrangian(
            cfg.cost_limit,
            kp=cfg.pid_kp,
            ki=cfg.pid_ki,
            kd=cfg.pid_kd,
            d_delay=cfg.pid_d_delay,
            p_ema_alpha=cfg.pid_delta_p_ema_alpha,
            d_ema_alpha=cfg.pid_delta_d_ema_alpha,
            init=cfg.lagrangian_multiplier_init,
            upper_bound=cfg.lagrangian_upper_bound,
        )
