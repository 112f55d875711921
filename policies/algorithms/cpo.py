"""Constrained Policy Optimisation (CPO) and Projection-based CPO (PCPO)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from dexsafe.policies.algorithms.base import flat_grad, flat_params
from dexsafe.policies.algorithms.trpo import TRPO, TRPOConfig, conjugate_gradient
from dexsafe.policies.buffer import RolloutBatch

__all__ = ["CPO", "PCPO", "CPOConfig", "CPOStep", "PCPOConfig", "cpo_step", "pcpo_step"]

_EPS = 1e-8


@dataclass
class CPOConfig(TRPOConfig):
    pass


@dataclass
class PCPOConfig(TRPOConfig):
    backtrack_iters: int = 200
    """Line-search tries (SafePO allows up to 200 for PCPO)."""


@dataclass
class CPOStep:
    """A CPO step direction and how it was chosen."""

    direction: torch.Tensor
    """x, the full step Δθ (before line search)."""
    case: int
    """0: infeasible, recovery step; 1: infeasible but the trust region reaches the
    feasible set; 2: feasible, constraint active; 3: whole trust region feasible;
    4: feasible and no cost gradient."""
    lam: float
    """λ*, the trust region's dual variable."""
    nu: float
    """ν*, the cost constraint's dual variable."""


def cpo_step(
    g: torch.Tensor,
    b: torch.Tensor,
    h_inv_g: torch.Tensor,
    h_inv_b: torch.Tensor,
    c: float,
    delta: float,
) -> CPOStep:
    """Solve CPO's approximate problem (Achiam et al., 2017, appendix 10.2) in closed form::

        max_x gᵀx   s.t.   bᵀx + c <= 0,   ½ xᵀHx <= δ

    given g, b and H⁻¹g, H⁻¹b. With q = gᵀH⁻¹g, r = gᵀH⁻¹b, s = bᵀH⁻¹b,
    A = q - r²/s and B = 2δ - c²/s:

    - c > 0 and B < 0 (no feasible point in the trust region): the recovery step
      x = -sqrt(2δ/s) H⁻¹b that decreases the cost fastest;
    - c < 0 and B < 0 (constraint cannot bind inside the region), or no cost
      gradient: the TRPO step x = sqrt(2δ/q) H⁻¹g;
    - otherwise the dual. From the Lagrangian gᵀx - ν(bᵀx + c) - λ(½xᵀHx - δ),
      x = H⁻¹(g - νb)/λ and the dual is min_{λ,ν>=0} (q - 2νr + ν²s)/(2λ) - νc + λδ,
      whose ν-stationary point is ν* = max(0, (λc + r)/s). Where ν* > 0 the dual
      in λ is ½(A/λ + Bλ) - rc/s, minimised at λ_a = sqrt(A/B); where ν* = 0 it is
      ½(q/λ + 2δλ), minimised at λ_b = sqrt(q/2δ). Each is projected onto its
      range of λ (split at λ = -r/c) and the one with the smaller dual value wins;
      x = (H⁻¹g - ν* H⁻¹b) / λ*.

    The paper (appendix 10.2) writes ν* = (λc - r)/s, which matches the above with
    r of the opposite sign; SafePO and OmniSafe use that form with r = gᵀH⁻¹b.
    The version here is the one the brute-force test confirms (constraint met,
    trust region met, no feasible point in the region does better).
    """
    q = float(torch.dot(g, h_inv_g))
    r = float(torch.dot(g, h_inv_b))
    s = float(torch.dot(b, h_inv_b))
    if float(torch.dot(b, b)) <= 1e-8 and c < 0:
        lam = math.sqrt(max(q, 0.0) / (2 * delta))
        return CPOStep(h_inv_g / (lam + _EPS), 4, lam, 0.0)
    s = max(s, _EPS)
    A = q - r**2 / s
    B = 2 * delta - c**2 / s
    if c > 0 and B < 0:
        return CPOStep(-math.sqrt(2 * delta / s) * h_inv_b, 0, 0.0, math.sqrt(2 * delta / s))
    if c < 0 and B < 0:
        lam = math.sqrt(max(q, 0.0) / (2 * delta))
        return CPOStep(h_inv_g / (lam + _EPS), 3, lam, 0.0)
    case = 2 if c < 0 else 1
    # The dual below is the paper's with its r written as -gᵀH⁻¹b (the sign that
    # makes ν* = (λ*c - r)/s the stationary point of the dual for this *max*
    # problem; checked against brute force in the tests).
    r = -r
    A = max(A, 0.0)
    lam_a = math.sqrt(A / (B + _EPS))
    lam_b = math.sqrt(max(q, 0.0) / (2 * delta))
    r_over_c = r / c if c != 0 else math.inf
    if c < 0:
        range_a, range_b = (0.0, max(r_over_c, 0.0)), (max(r_over_c, 0.0), math.inf)
    else:
        range_a, range_b = (max(r_over_c, 0.0), math.inf), (0.0, max(r_over_c, 0.0))

    def proj(x: float, lo_hi: tuple[float, float]) -> float:
        return min(max(x, lo_hi[0]), lo_hi[1])

    lam_a, lam_b = proj(lam_a, range_a), proj(lam_b, range_b)
    f_a = -0.5 * (A / (lam_a + _EPS) + B * lam_a) - r * c / s
    f_b = -0.5 * (q / (lam_b + _EPS) + 2 * delta * lam_b)
    lam = lam_a if f_a >= f_b else lam_b
    nu = max(0.0, lam * c - r) / s
    return CPOStep((h_inv_g - nu * h_inv_b) / (lam + _EPS), case, lam, nu)


def pcpo_step(
    b: torch.Tensor,
    h_inv_g: torch.Tensor,
    h_inv_b: torch.Tensor,
    q: float,
    c: float,
    delta: float,
) -> torch.Tensor:
    """PCPO (Yang et al., 2020), KL projection: the reward trust-region step, then
    projection in the H-norm onto the linearised constraint half-space {x: bᵀx + c <= 0}::

        x_R = sqrt(2δ/q) H⁻¹g
        x   = x_R - max(0, (bᵀx_R + c) / (bᵀH⁻¹b)) H⁻¹b

    (SafePO and OmniSafe use the Fisher product of H⁻¹g, i.e. ≈ g, in place of
    H⁻¹g here; that looks like a bug and is not copied.)
    """
    x_r = math.sqrt(2 * delta / max(q, _EPS)) * h_inv_g
    s = max(float(torch.dot(b, h_inv_b)), _EPS)
    violation = float(torch.dot(b, x_r)) + c
    return x_r - max(0.0, violation / s) * h_inv_b


class CPO(TRPO):
    """Constrained Policy Optimisation (Achiam et al., 2017).

    Each epoch linearises reward and cost surrogates around θ_old (g = ∇E[ρA_R],
    b = ∇E[ρA_C]) with c = Ĵ_C - d and solves :func:`cpo_step`. The line search
    (β^j, ``backtrack_iters`` tries) accepts a step when KL <= δ, the cost
    surrogate rises by at most max(0, -c), and — in the feasible cases 2-4 — the
    reward surrogate improves.
    """

    name = "cpo"
    config_class = CPOConfig
    constrained = True

    def setup(self) -> None:
        self.constraint_violation = 0.0

    def update_multipliers(self, mean_episode_cost: float) -> dict[str, float]:
        self.constraint_violation = float(mean_episode_cost) - self.config.cost_limit
        return {"constraint_violation": self.constraint_violation}

    def cost_surrogate(self, batch: RolloutBatch) -> torch.Tensor:
        return self.surrogate(batch, batch.cost_advantages)

    def _directions(self, batch: RolloutBatch, old):
        actor = self.model.actor
        adv_r = batch.reward_advantages
        g = flat_grad(self.surrogate(batch, adv_r), actor)
        b = flat_grad(self.cost_surrogate(batch), actor)
        fvp = self.fisher_vector_product(old, batch.obs)
        h_inv_g = conjugate_gradient(fvp, g, self.config.cg_iters)
        h_inv_b = conjugate_gradient(fvp, b, self.config.cg_iters)
        return g, b, h_inv_g, h_inv_b

    def compute_step(self, g, b, h_inv_g, h_inv_b) -> CPOStep:
        return cpo_step(g, b, h_inv_g, h_inv_b, self.constraint_violation, self.config.target_kl)

    def update_policy(self, batch: RolloutBatch) -> dict[str, float]:
        old = self.old_distribution(batch.obs)
        actor = self.model.actor
        theta_old = flat_params(actor).clone()
        with torch.no_grad():
            reward_old = float(self.surrogate(batch, batch.reward_advantages))
            cost_old = float(self.cost_surrogate(batch))
        g, b, h_inv_g, h_inv_b = self._directions(batch, old)
        step = self.compute_step(g, b, h_inv_g, h_inv_b)
        c = self.constraint_violation

        def accept(kl: float, _j: int) -> bool:
            with torch.no_grad():
                reward_gain = float(self.surrogate(batch, batch.reward_advantages)) - reward_old
                cost_rise = float(self.cost_surrogate(batch)) - cost_old
            if not (math.isfinite(kl) and kl <= self.config.target_kl):
                return False
            if cost_rise > max(0.0, -c):
                return False
            return step.case <= 1 or reward_gain >= 0

        tries, kl = self.line_search(theta_old, step.direction, accept, batch, old)
        return {
            "kl": kl,
            "line_search_tries": float(tries),
            "cpo_case": float(step.case),
            "cpo_lambda": step.lam,
            "cpo_nu": step.nu,
            "loss_actor": -reward_old,
        }


class PCPO(CPO):
    """Projection-based CPO (Yang et al., 2020): reward step, then projection (:func:`pcpo_step`).

    The line search accepts the first β^j-scaled step with KL <= δ and a cost
    surrogate rise of at most max(0, -c); reward need not improve, since the
    projection may trade reward for feasibility.
    """

    name = "pcpo"
    config_class = PCPOConfig

    def compute_step(self, g, b, h_inv_g, h_inv_b) -> CPOStep:
        q = float(torch.dot(g, h_inv_g))
        x = pcpo_step(b, h_inv_g, h_inv_b, q, self.constraint_violation, self.config.target_kl)
        return CPOStep(x, 1, 0.0, 0.0)  # case 1: no reward-improvement requirement
