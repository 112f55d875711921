"""On-policy rollout storage and generalised advantage estimation (GAE) for reward and cost."""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RolloutBatch", "RolloutBuffer", "discounted_gae"]


def discounted_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    last_values: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(γ, λ) over a ``[T, N]`` rollout of N parallel envs (Schulman et al., 2016).

    ``dones[t]`` is 1 when the episode ended at step t (terminated or truncated);
    a truncation's bootstrap value must already be folded into ``rewards[t]``::

        δ_t = r_t + γ (1 - done_t) V(s_{t+1}) - V(s_t)
        A_t = δ_t + γ λ (1 - done_t) A_{t+1}
        R_t = A_t + V(s_t)                      (the critic's regression target)

    with ``V(s_T) = last_values``. Returns ``(advantages, returns)``, both ``[T, N]``.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_adv = torch.zeros_like(last_values)
    next_value = last_values
    for t in reversed(range(steps)):
        not_done = 1.0 - dones[t]
        delta = rewards[t] + gamma * not_done * next_value - values[t]
        next_adv = delta + gamma * lam * not_done * next_adv
        advantages[t] = next_adv
        next_value = values[t]
    return advantages, advantages + values


@dataclass
class RolloutBatch:
    """One epoch of experience, flattened to ``[T * N]`` rows, ready for updates."""

    obs: torch.Tensor
    actions: torch.Tensor
    log_probs: torch.Tensor
    reward_advantages: torch.Tensor
    cost_advantages: torch.Tensor
    reward_returns: torch.Tensor
    cost_returns: torch.Tensor
    reward_values: torch.Tensor
    cost_values: torch.Tensor

    def __len__(self) -> int:
        return self.obs.shape[0]

    def minibatches(self, size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Shuffled index sets of at most ``size`` rows covering the batch once."""
        perm = torch.randperm(len(self), generator=generator)
        return [perm[i : i + size] for i in range(0, len(self), size)]


class RolloutBuffer:
    """Fixed-size ``[T, N]`` storage for T steps of N envs, then GAE for both channels.

    Advantage post-processing follows SafePO: the reward advantage is standardised
    (zero mean, unit std); the cost advantage is only centred, so its scale
    still says how costly an action is relative to the limit.
    """

    def __init__(self, steps: int, num_envs: int, obs_dim: int, act_dim: int) -> None:
        self.steps, self.num_envs = steps, num_envs
        shape = (steps, num_envs)
        self.obs = torch.zeros(*shape, obs_dim)
        self.actions = torch.zeros(*shape, act_dim)
        self.log_probs = torch.zeros(shape)
        self.rewards = torch.zeros(shape)
        self.costs = torch.zeros(shape)
        self.dones = torch.zeros(shape)
        self.reward_values = torch.zeros(shape)
        self.cost_values = torch.zeros(shape)
        self.ptr = 0

    def add(self, obs, actions, log_probs, rewards, costs, dones, reward_values, cost_values) -> None:
        if self.ptr >= self.steps:
            raise IndexError("rollout buffer is full; call finish() first")
        t = self.ptr
        self.obs[t] = obs
        self.actions[t] = actions
        self.log_probs[t] = log_probs
        self.rewards[t] = rewards
        self.costs[t] = costs
        self.dones[t] = dones
        self.reward_values[t] = reward_values
        self.cost_values[t] = cost_values
        self.ptr += 1

    def finish(
        self,
        last_reward_values: torch.Tensor,
        last_cost_values: torch.Tensor,
        gamma: float,
        lam: float,
        cost_gamma: float,
        cost_lam: float,
        standardize_reward_advantage: bool = True,
        center_cost_advantage: bool = True,
    ) -> RolloutBatch:
        """Compute advantages and returns, flatten, and empty the buffer."""
        if self.ptr != self.steps:
            raise RuntimeError(f"rollout buffer holds {self.ptr} of {self.steps} steps")
        adv_r, ret_r = discounted_gae(
            self.rewards, self.reward_values, last_reward_values, self.dones, gamma, lam
        )
        adv_c, ret_c = discounted_gae(
            self.costs, self.cost_values, last_cost_values, self.dones, cost_gamma, cost_lam
        )
        adv_r, adv_c = adv_r.flatten(), adv_c.flatten()
        if standardize_reward_advantage:
            adv_r = (adv_r - adv_r.mean()) / (adv_r.std() + 1e-8)
        if center_cost_advantage:
            adv_c = adv_c - adv_c.mean()
        self.ptr = 0
        return RolloutBatch(
            obs=self.obs.flatten(0, 1).clone(),
            actions=self.actions.flatten(0, 1).clone(),
            log_probs=self.log_probs.flatten().clone(),
            reward_advantages=adv_r,
            cost_advantages=adv_c,
            reward_returns=ret_r.flatten(),
            cost_returns=ret_c.flatten(),
            reward_values=self.reward_values.flatten().clone(),
            cost_values=self.cost_values.flatten().clone(),
        )
