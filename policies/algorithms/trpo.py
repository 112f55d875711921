"""Second-order trust-region methods: natural PG, TRPO, TRPO-Lagrangian, RCPO.

Shared maths (Kakade 2002; Schulman et al., 2015). With the surrogate
``L(θ) = E[ρ Â]``, ρ = π_θ/π_old, its gradient g at θ_old and the Fisher
matrix H = ∇²_θ E_s[KL(π_old ‖ π_θ)] at θ_old::

    x = H⁻¹ g                     by conjugate gradient (``cg_iters``, damping added to H)
    Δθ = sqrt(2δ / xᵀHx) x        the step that reaches the KL trust region of size δ

Natural PG takes Δθ; TRPO backtracks Δθ ← β^j Δθ (β = ``backtrack_coef``) until
KL(π_old ‖ π_θ) <= δ and the surrogate improves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dexsafe.policies.algorithms.base import (
    OnPolicyAlgorithm,
    OnPolicyConfig,
    flat_grad,
    flat_params,
    set_flat_params,
)
from dexsafe.policies.algorithms.lagrangian import LagrangianConfig, LagrangianMixin
from dexsafe.policies.buffer import RolloutBatch

__all__ = [
    "RCPO",
    "TRPO",
    "NaturalPG",
    "RCPOConfig",
    "TRPOConfig",
    "TRPOLag",
    "TRPOLagConfig",
    "conjugate_gradient",
]


def conjugate_gradient(
    matrix_vector: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    iters: int = 15,
    residual_tol: float = 1e-10,
) -> torch.Tensor:
    """Solve ``A x = b`` for symmetric positive-definite A given only ``x ↦ A x``."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = torch.dot(r, r)
    for _ in range(iters):
        if rr < residual_tol:
            break
        ap = matrix_vector(p)
        alpha = rr / (torch.dot(p, ap) + 1e-12)
        x += alpha * p
        r -= alpha * ap
        rr_new = torch.dot(r, r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


@dataclass
class TRPOConfig(OnPolicyConfig):
    """SafePO's second-order defaults: δ = 0.01, critic lr 1e-3, minibatch 128, 10 critic passes."""

    target_kl: float = 0.01
    """δ: the KL trust-region size."""
    critic_lr: float = 1e-3
    """Adam learning rate of both critics."""
    critic_update_iters: int = 10
    """Passes over the epoch's data for the critics."""
    minibatch_size: int = 128
    """Rows per critic minibatch."""
    cg_iters: int = 15
    """Conjugate-gradient iterations for H⁻¹g."""
    cg_damping: float = 0.1
    """Added to H (H + damping·I) for stability."""
    backtrack_iters: int = 15
    """Line-search tries."""
    backtrack_coef: float = 0.8
    """Line-search shrink factor β."""


@dataclass
class TRPOLagConfig(LagrangianConfig, TRPOConfig):
    pass


@dataclass
class RCPOConfig(LagrangianConfig, TRPOConfig):
    pass


class TRPO(OnPolicyAlgorithm):
    """Trust region policy optimisation (Schulman et al., 2015); see the module docstring.

    Unconstrained: the advantage is A_R and the cost critic is trained for logging.
    """

    name = "trpo"
    config_class = TRPOConfig
    use_line_search = True

    # ------------------------------------------------------------------ pieces
    def surrogate(self, batch: RolloutBatch, advantage: torch.Tensor) -> torch.Tensor:
        """E[ρ Â] at the actor's current parameters."""
        actor = self.model.actor
        log_prob = actor.log_prob(actor.distribution(batch.obs), batch.actions)
        return (torch.exp(log_prob - batch.log_probs) * advantage).mean()

    def fisher_vector_product(self, old, obs: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """``v ↦ (H + damping I) v`` with H the Hessian of the mean KL at θ_old."""
        actor = self.model.actor
        damping = self.config.cg_damping

        def fvp(v: torch.Tensor) -> torch.Tensor:
            kl = self.mean_kl(old, obs)
            grad = flat_grad(kl, actor, create_graph=True)
            return flat_grad(torch.dot(grad, v), actor) + damping * v

        return fvp

    def search_direction(self, batch: RolloutBatch, advantage: torch.Tensor, old):
        """g, x = H⁻¹g, the Fisher product, and the full step sqrt(2δ/xᵀHx)·x."""
        actor = self.model.actor
        g = flat_grad(self.surrogate(batch, advantage), actor)
        fvp = self.fisher_vector_product(old, batch.obs)
        x = conjugate_gradient(fvp, g, self.config.cg_iters)
        xhx = torch.dot(x, fvp(x))
        step = torch.sqrt(2.0 * self.config.target_kl / (xhx + 1e-8)) * x
        return g, x, fvp, step

    def line_search(
        self,
        theta_old: torch.Tensor,
        step: torch.Tensor,
        accept: Callable[[float, float], bool],
        batch: RolloutBatch,
        old,
    ) -> tuple[int, float]:
        """Try θ_old + β^j step for j = 0..; keep the first that ``accept(kl, j)``.

        Returns ``(tries, kl)``; tries = -1 and θ_old restored when none is accepted.
        """
        actor = self.model.actor
        for j in range(self.config.backtrack_iters):
            set_flat_params(actor, theta_old + (self.config.backtrack_coef**j) * step)
            with torch.no_grad():
                kl = float(self.mean_kl(old, batch.obs))
            if accept(kl, j):
                return j, kl
        set_flat_params(actor, theta_old)
        return -1, 0.0

    # ------------------------------------------------------------------ the update
    def update_policy(self, batch: RolloutBatch) -> dict[str, float]:
        advantage = self.policy_advantage(batch).detach()
        old = self.old_distribution(batch.obs)
        actor = self.model.actor
        theta_old = flat_params(actor).clone()
        with torch.no_grad():
            surr_old = float(self.surrogate(batch, advantage))
        g, x, fvp, step = self.search_direction(batch, advantage, old)
        if not self.use_line_search:
            set_flat_params(actor, theta_old + step)
            with torch.no_grad():
                kl = float(self.mean_kl(old, batch.obs))
            return {"kl": kl, "line_search_tries": 0.0, "loss_actor": -surr_old}

        def accept(kl: float, _j: int) -> bool:
            with torch.no_grad():
                improve = float(self.surrogate(batch, advantage)) - surr_old
            return math.isfinite(kl) and kl <= self.config.target_kl and improve > 0

        tries, kl = self.line_search(theta_old, step, accept, batch, old)
        return {"kl": kl, "line_search_tries": float(tries), "loss_actor": -surr_old}


class NaturalPG(TRPO):
    """Natural policy gradient (Kakade, 2002): TRPO's step without the line search.

    θ ← θ + sqrt(2δ / gᵀH⁻¹g) H⁻¹g, accepted whatever the KL turns out to be.
    """

    name = "natural_pg"
    use_line_search = False


class TRPOLag(LagrangianMixin, TRPO):
    """TRPO-Lagrangian (SafePO ``trpo_lag``): TRPO's step on Â = (A_R - λ A_C) / (1 + λ).

    λ takes one dual step per epoch: λ ← max(0, λ + η (Ĵ_C - d)) (Adam by default).
    """

    name = "trpo_lag"
    config_class = TRPOLagConfig


class RCPO(LagrangianMixin, NaturalPG):
    """Reward Constrained Policy Optimisation (Tessler et al., 2019), as SafePO implements it.

    RCPO optimises the penalised reward ``r - λ c`` while λ climbs the dual on a
    slower timescale, λ ← max(0, λ + η (Ĵ_C - d)). With separate reward and cost
    critics, GAE is linear in the reward, so the penalised advantage is exactly
    ``A_R - λ A_C`` (rescaled by 1/(1+λ)). The policy step is a natural gradient
    without line search (SafePO's choice), which is what sets it apart from
    :class:`TRPOLag`.
    """

    name = "rcpo"
    config_class = RCPOConfig
