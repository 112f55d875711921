"""First-order constrained methods with their own actor losses: FOCOPS and CUP."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import kl_divergence

from dexsafe.policies.algorithms.base import OnPolicyAlgorithm, OnPolicyConfig
from dexsafe.policies.algorithms.lagrangian import LagrangianConfig, LagrangianMixin
from dexsafe.policies.algorithms.ppo import PPO, PPOConfig
from dexsafe.policies.buffer import RolloutBatch

__all__ = ["CUP", "FOCOPS", "CUPConfig", "FOCOPSConfig"]


@dataclass
class FOCOPSConfig(LagrangianConfig, OnPolicyConfig):
    focops_eta: float = 1.5
    """η: temperature of the non-parametric optimal policy (the paper's λ)."""
    lagrangian_upper_bound: float | None = 2.0
    """ν_max: ν is clipped to [0, ν_max]."""


@dataclass
class CUPConfig(LagrangianConfig, PPOConfig):
    lagrangian_upper_bound: float | None = 0.2
    """ν_max (SafePO: 0.2; SafePO issue #73 reports ν sitting at this cap, when CUP acts like PPO)."""


class FOCOPS(LagrangianMixin, OnPolicyAlgorithm):
    """First Order Constrained Optimisation in Policy Space (Zhang et al., 2020).

    The optimal update in the non-parametric policy space is
    π*(a|s) ∝ π_old(a|s) exp((A_R - ν A_C)/η); FOCOPS projects it back onto the
    parametric family by minimising, per minibatch,

        L(θ) = E_s[ ( KL(π_θ ‖ π_old)[s] - (1/η) E_a[ρ Â] ) · 1[KL(π_θ ‖ π_old)[s] <= δ] ]

    with Â = (A_R - ν A_C)/(1 + ν), ρ = π_θ/π_old, δ = ``target_kl``. States whose
    KL already exceeds δ drop out of the gradient; the epoch's passes stop once
    the mean KL exceeds δ. ν (the mixin's λ) follows dual ascent, clipped to [0, ν_max].
    """

    name = "focops"
    config_class = FOCOPSConfig

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
                ratio = torch.exp(actor.log_prob(dist, batch.actions[idx]) - batch.log_probs[idx])
                old_mb = type(old)(old.mean[idx], old.stddev[idx], validate_args=False)
                kl_s = kl_divergence(dist, old_mb).sum(-1)
                inside = (kl_s.detach() <= cfg.target_kl).float()
                loss_t = ((kl_s - ratio * advantage[idx] / cfg.focops_eta) * inside).mean()
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


class CUP(LagrangianMixin, PPO):
    """Constrained Update Projection (Yang et al., 2022), two stages per epoch.

    1. Improve: PPO-clip on A_R alone (:meth:`PPO.update_policy`), giving π_½.
    2. Project: minimise, over ``update_iters`` minibatch passes,

           L(θ) = E[ ν (1 - γλ_GAE)/(1 - γ) · ρ A_C + KL(π_½ ‖ π_θ)[s] ],  ρ = π_θ/π_old

       i.e. move towards lower cost while staying close to the improved policy,
       stopping once the mean KL(π_½ ‖ π_θ) exceeds ``target_kl``.

    ν (the projection's weight, the mixin's λ) follows dual ascent on Ĵ_C - d,
    clipped to [0, ν_max]; unlike the other Lagrangian methods the improvement
    stage follows A_R alone.
    """

    name = "cup"
    config_class = CUPConfig

    def policy_advantage(self, batch: RolloutBatch) -> torch.Tensor:
        return batch.reward_advantages

    def update_policy(self, batch: RolloutBatch) -> dict[str, float]:
        cfg = self.config
        stage1 = super().update_policy(batch)
        improved = self.old_distribution(batch.obs)
        actor = self.model.actor
        nu = self.lagrange.value
        coef = (1.0 - cfg.cost_gamma * cfg.cost_gae_lambda) / (1.0 - cfg.cost_gamma + 1e-8)
        kl = 0.0
        loss = math.nan
        passes = 0
        for _ in range(cfg.update_iters):
            passes += 1
            for idx in batch.minibatches(cfg.minibatch_size, self.generator):
                dist = actor.distribution(batch.obs[idx])
                ratio = torch.exp(actor.log_prob(dist, batch.actions[idx]) - batch.log_probs[idx])
                improved_mb = type(improved)(improved.mean[idx], improved.stddev[idx], validate_args=False)
                kl_s = kl_divergence(improved_mb, dist).sum(-1)
                loss_t = (nu * coef * ratio * batch.cost_advantages[idx] + kl_s).mean()
                self.actor_optimizer.zero_grad()
                loss_t.backward()
                nn.utils.clip_grad_norm_(actor.parameters(), cfg.max_grad_norm)
                self.actor_optimizer.step()
                loss = float(loss_t.detach())
            with torch.no_grad():
                kl = float(self.mean_kl(improved, batch.obs))
            if kl > cfg.target_kl:
                break
        return {
            "loss_actor": stage1["loss_actor"],
            "kl": stage1["kl"],
            "actor_passes": stage1["actor_passes"],
            "loss_projection": loss,
            "kl_projection": kl,
            "projection_passes": float(passes),
        }
