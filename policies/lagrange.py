"""Lagrange multipliers for the constraint J_C(π) <= d: gradient (Adam/SGD) and PID versions.

Both offer the one interface every Lagrangian algorithm uses::

    lam = multiplier.update(mean_episode_cost)   # once per epoch, returns λ >= 0
    lam = multiplier.value

The policy then maximises the Lagrangian ``J_R(π) - λ (J_C(π) - d)``; in practice
(SafePO, OmniSafe) through the mixed advantage ``(A_R - λ A_C) / (1 + λ)``.
"""

from __future__ import annotations

import math
from collections import deque

import torch

__all__ = ["LagrangeMultiplier", "PIDLagrangian", "mix_advantages"]


def mix_advantages(reward_adv: torch.Tensor, cost_adv: torch.Tensor, lam: float) -> torch.Tensor:
    """``(A_R - λ A_C) / (1 + λ)``: the Lagrangian's advantage, rescaled so its size stays O(1)."""
    return (reward_adv - lam * cost_adv) / (1.0 + lam)


class LagrangeMultiplier:
    """λ learned by gradient ascent on the dual: λ ← clip(λ + η (Ĵ_C - d), 0, λ_max).

    Written as a loss for a torch optimiser (SafePO / OmniSafe ``Lagrange``)::

        L(λ) = -λ (Ĵ_C - d),   ∂L/∂λ = -(Ĵ_C - d)

    so one optimiser step raises λ while the mean episode cost Ĵ_C is above the
    limit d and lowers it (to 0, never below) while it is under. SafePO's
    defaults: λ_0 = 0.001, learning rate 0.035, Adam. The maintainers chose Adam
    because plain ascent oscillates; both are offered.
    """

    OPTIMIZERS = {"Adam": torch.optim.Adam, "SGD": torch.optim.SGD}

    def __init__(
        self,
        cost_limit: float,
        init: float = 0.001,
        lr: float = 0.035,
        optimizer: str = "Adam",
        upper_bound: float | None = None,
    ) -> None:
        if not math.isfinite(cost_limit) or cost_limit < 0:
            raise ValueError(f"cost_limit must be finite and >= 0, got {cost_limit}")
        if init < 0:
            raise ValueError(f"the initial Lagrange multiplier must be >= 0, got {init}")
        if optimizer not in self.OPTIMIZERS:
            raise ValueError(f"unknown lagrangian optimizer {optimizer!r}; choose from {sorted(self.OPTIMIZERS)}")
        self.cost_limit = float(cost_limit)
        self.upper_bound = None if upper_bound is None else float(upper_bound)
        self._lambda = torch.nn.Parameter(torch.tensor(float(init)))
        self._optimizer = self.OPTIMIZERS[optimizer]([self._lambda], lr=lr)

    @property
    def value(self) -> float:
        return float(self._lambda.detach())

    def update(self, mean_episode_cost: float) -> float:
        """One dual step with the epoch's mean episode cost Ĵ_C; returns the new λ."""
        if not math.isfinite(mean_episode_cost):
            raise ValueError(f"mean episode cost must be finite, got {mean_episode_cost}")
        self._optimizer.zero_grad()
        loss = -self._lambda * (float(mean_episode_cost) - self.cost_limit)
        loss.backward()
        self._optimizer.step()
        with torch.no_grad():
            self._lambda.clamp_(min=0.0, max=self.upper_bound)
        return self.value

    def state_dict(self) -> dict:
        return {"lambda": self.value, "optimizer": self._optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self._lambda.fill_(float(state["lambda"]))
        self._optimizer.load_state_dict(state["optimizer"])


class PIDLagrangian:
    """λ from a PID controller on the constraint violation (Stooke et al., 2020; CPPO-PID).

    With error ``e_k = Ĵ_C - d`` at epoch k (SafePO's form)::

        I_k = max(0, I_{k-1} + K_i e_k)                        integral, never negative
        P̄_k = α_p P̄_{k-1} + (1 - α_p) e_k                      smoothed error
        D̄_k = α_d D̄_{k-1} + (1 - α_d) Ĵ_C                      smoothed cost
        λ_k = max(0, K_p P̄_k + I_k + K_d max(0, D̄_k - D̄_{k-τ}))

    The derivative term only pushes up (cost rising), with a delay of τ epochs;
    the proportional term reacts at once, damping the overshoot and oscillation
    of plain gradient ascent. Defaults: K_p = 0.1, K_i = 0.01, K_d = 0.01,
    α_p = α_d = 0.95, τ = 10.
    """

    def __init__(
        self,
        cost_limit: float,
        kp: float = 0.1,
        ki: float = 0.01,
        kd: float = 0.01,
        d_delay: int = 10,
        p_ema_alpha: float = 0.95,
        d_ema_alpha: float = 0.95,
        init: float = 0.0,
        upper_bound: float | None = None,
    ) -> None:
        if not math.isfinite(cost_limit) or cost_limit < 0:
            raise ValueError(f"cost_limit must be finite and >= 0, got {cost_limit}")
        if d_delay < 1:
            raise ValueError(f"d_delay must be >= 1, got {d_delay}")
        self.cost_limit = float(cost_limit)
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.p_ema_alpha, self.d_ema_alpha = float(p_ema_alpha), float(d_ema_alpha)
        self.upper_bound = None if upper_bound is None else float(upper_bound)
        self._integral = float(init)
        self._p_smoothed = 0.0
        self._d_smoothed = 0.0
        self._cost_history: deque[float] = deque([0.0], maxlen=int(d_delay))
        self._lambda = float(init)

    @property
    def value(self) -> float:
        return self._lambda

    def update(self, mean_episode_cost: float) -> float:
        if not math.isfinite(mean_episode_cost):
            raise ValueError(f"mean episode cost must be finite, got {mean_episode_cost}")
        error = float(mean_episode_cost) - self.cost_limit
        self._integral = max(0.0, self._integral + self.ki * error)
        self._p_smoothed = self.p_ema_alpha * self._p_smoothed + (1 - self.p_ema_alpha) * error
        self._d_smoothed = self.d_ema_alpha * self._d_smoothed + (1 - self.d_ema_alpha) * float(
            mean_episode_cost
        )
        derivative = max(0.0, self._d_smoothed - self._cost_history[0])
        lam = max(0.0, self.kp * self._p_smoothed + self._integral + self.kd * derivative)
        if self.upper_bound is not None:
            lam = min(lam, self.upper_bound)
        self._cost_history.append(self._d_smoothed)
        self._lambda = lam
        return lam

    def state_dict(self) -> dict:
        return {
            "lambda": self._lambda,
            "integral": self._integral,
            "p_smoothed": self._p_smoothed,
            "d_smoothed": self._d_smoothed,
            "cost_history": list(self._cost_history),
        }

    def load_state_dict(self, state: dict) -> None:
        self._lambda = float(state["lambda"])
        self._integral = float(state["integral"])
        self._p_smoothed = float(state["p_smoothed"])
        self._d_smoothed = float(state["d_smoothed"])
        self._cost_history = deque(state["cost_history"], maxlen=self._cost_history.maxlen)
