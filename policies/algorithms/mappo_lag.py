"""MAPPO-Lagrangian: constrained multi-agent PPO (Gu et al., 2023; SafePO ``mappolag``).

Centralised training, decentralised execution. Each agent i has

- its own Gaussian actor π_i(a_i | o_i) on its own observation o_i;
- its own reward and cost critics V_R^i(s), V_C^i(s) on the global state
  s = [o_1, ..., o_n] (the agents' normalised observations concatenated);
- its own Lagrange multiplier λ_i for its own cost constraint J_C^i <= d.

Each epoch, for every agent: GAE on its reward and cost with its critics, then
PPO-clip (exactly :class:`~dexsafe.policies.algorithms.ppo.PPO`'s loss and KL
early stop) on the mixed advantage Â_i = (A_R^i - λ_i A_C^i)/(1 + λ_i); then the
multiplier update SafePO uses,

    λ_i ← max(0, λ_i + η_λ · E[(Ĵ_C^i - d)(1 - γ) + ρ_i A_C^i]),

where ρ_i is the ratio of agent i's updated policy to its old one, so E[ρ_i A_C^i]
estimates how much the update itself changes the cost. SafePO's defaults are
λ_0 = 0.78 and η_λ = 1e-5 (λ barely moves in short runs: raise η_λ there).

Multi-agent envs use the dict-keyed Safety-Gymnasium ``make_ma`` API, see
:class:`~dexsafe.policies.envs.SyncVectorMultiAgentCMDP` and the toy
``toy/TwoPointLine-v0``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from dexsafe.policies.algorithms.base import ConfigError
from dexsafe.policies.algorithms.ppo import PPOConfig
from dexsafe.policies.buffer import RolloutBuffer
from dexsafe.policies.envs import SyncVectorMultiAgentCMDP, make_multi_agent_env
from dexsafe.policies.lagrange import mix_advantages
from dexsafe.policies.networks import GaussianActor, ValueCritic
from dexsafe.policies.normalization import RunningMeanStd

__all__ = ["MAPPOLag", "MAPPOLagConfig", "mappo_lagrange_update"]


@dataclass
class MAPPOLagConfig(PPOConfig):
    lagrangian_multiplier_init: float = 0.78
    """λ_0 of every agent (SafePO's default)."""
    lambda_lr: float = 1e-5
    """η_λ of the multiplier rule above (SafePO's default; tiny, raise it for short runs)."""


def mappo_lagrange_update(
    lam: float, mean_episode_cost: float, cost_limit: float, gamma: float, surrogate_cost: float, lr: float
) -> float:
    """SafePO's MAPPO-L multiplier step: λ ← max(0, λ + lr·[(Ĵ_C - d)(1 - γ) + E[ρ A_C]]).

    (Ĵ_C - d)(1 - γ) puts the episode-level violation on the per-step scale of
    E[ρ A_C], the first-order change in cost that the policy update just made.
    """
    return max(0.0, lam + lr * ((mean_episode_cost - cost_limit) * (1.0 - gamma) + surrogate_cost))


class _Agent:
    """One agent's actor, critics, optimisers, normaliser, buffer and multiplier."""

    def __init__(self, obs_dim: int, act_dim: int, state_dim: int, low, high, cfg: MAPPOLagConfig, steps: int, n: int):
        self.obs_dim, self.act_dim = obs_dim, act_dim
        self.action_low = np.asarray(low, dtype=np.float64)
        self.action_high = np.asarray(high, dtype=np.float64)
        self.actor = GaussianActor(obs_dim, act_dim, cfg.hidden_sizes, cfg.activation, cfg.init_log_std)
        self.reward_critic = ValueCritic(state_dim, cfg.hidden_sizes, cfg.activation)
        self.cost_critic = ValueCritic(state_dim, cfg.hidden_sizes, cfg.activation)
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=cfg.actor_lr)
        self.critic_optimizer = torch.optim.Adam(
            [*self.reward_critic.parameters(), *self.cost_critic.parameters()], lr=cfg.critic_lr
        )
        self.obs_normalizer = RunningMeanStd((obs_dim,)) if cfg.normalize_obs else None
        self.buffer = RolloutBuffer(steps, n, obs_dim, act_dim)
        self.lagrange = float(cfg.lagrangian_multiplier_init)

    def normalize(self, obs: np.ndarray) -> torch.Tensor:
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer.normalize(obs)
        return torch.as_tensor(np.asarray(obs, dtype=np.float32))

    def to_env_action(self, raw: torch.Tensor) -> np.ndarray:
        a = np.clip(raw.numpy().astype(np.float64), -1.0, 1.0)
        return self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)


class MAPPOLag:
    """MAPPO-Lagrangian; see the module docstring for the maths."""

    name = "mappo_lag"
    config_class = MAPPOLagConfig
    constrained = True

    @classmethod
    def make_training_env(cls, env: Any, config: MAPPOLagConfig, env_kwargs: Mapping[str, Any]):
        return SyncVectorMultiAgentCMDP(
            [lambda: make_multi_agent_env(env, **env_kwargs) for _ in range(config.num_envs)]
        )

    def __init__(self, env: SyncVectorMultiAgentCMDP, config: MAPPOLagConfig, seed: int = 0) -> None:
        if not isinstance(config, MAPPOLagConfig):
            raise ConfigError(f"mappo_lag needs a MAPPOLagConfig, got {type(config).__name__}")
        config.validate()
        if not hasattr(env, "agents"):
            raise ConfigError("mappo_lag needs a multi-agent env (SyncVectorMultiAgentCMDP)")
        self.config, self.env, self.seed = config, env, int(seed)
        self.num_envs = env.num_envs
        self.steps_per_env = max(1, config.steps_per_epoch // self.num_envs)
        self.total_epochs = max(1, math.ceil(config.total_steps / (self.steps_per_env * self.num_envs)))
        torch.manual_seed(self.seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.agent_names = list(env.agents)
        state_dim = sum(int(env.observation_spaces[a].shape[0]) for a in self.agent_names)
        self.agents = {
            a: _Agent(
                int(env.observation_spaces[a].shape[0]),
                int(env.action_spaces[a].shape[0]),
                state_dim,
                env.action_spaces[a].low,
                env.action_spaces[a].high,
                config,
                self.steps_per_env,
                self.num_envs,
            )
            for a in self.agent_names
        }
        self.states = torch.zeros(self.steps_per_env, self.num_envs, state_dim)
        self.epoch = 0
        self.global_step = 0
        self.last_episode_cost = {a: math.nan for a in self.agent_names}
        self.last_episode_reward = {a: math.nan for a in self.agent_names}
        self._obs: dict[str, np.ndarray] | None = None

    # ------------------------------------------------------------------ rollout
    def _state(self, obs_t: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([obs_t[a] for a in self.agent_names], dim=-1)

    def collect_rollout(self) -> list[dict[str, Any]]:
        cfg = self.config
        if self._obs is None:
            self._obs, _ = self.env.reset(seed=self.seed + 10_000 * self.epoch)
        obs = self._obs
        episodes: list[dict[str, Any]] = []
        for t in range(self.steps_per_env):
            obs_t = {}
            for a, ag in self.agents.items():
                if ag.obs_normalizer is not None:
                    ag.obs_normalizer.update(obs[a])
                obs_t[a] = ag.normalize(obs[a])
            state = self._state(obs_t)
            self.states[t] = state
            acts, logps, env_actions = {}, {}, {}
            with torch.no_grad():
                for a, ag in self.agents.items():
                    dist = ag.actor.distribution(obs_t[a])
                    acts[a] = dist.sample()
                    logps[a] = ag.actor.log_prob(dist, acts[a])
                    env_actions[a] = ag.to_env_action(acts[a])
            next_obs, rewards, costs, terminated, truncated, info = self.env.step(env_actions)
            cut = truncated & ~terminated
            final_state = None
            if cut.any():
                final_state = self._state(
                    {a: self.agents[a].normalize(info["final_obs"][a][cut]) for a in self.agent_names}
                )
            idx = torch.as_tensor(np.flatnonzero(cut))
            done = torch.as_tensor(terminated | truncated, dtype=torch.float32)
            with torch.no_grad():
                for a, ag in self.agents.items():
                    r = torch.as_tensor(rewards[a], dtype=torch.float32)
                    c = torch.as_tensor(costs[a], dtype=torch.float32)
                    if final_state is not None:
                        r[idx] += cfg.gamma * ag.reward_critic(final_state)
                        c[idx] += cfg.cost_gamma * ag.cost_critic(final_state)
                    ag.buffer.add(
                        obs_t[a], acts[a], logps[a], r, c, done, ag.reward_critic(state), ag.cost_critic(state)
                    )
            episodes.extend(info["episodes"])
            obs = next_obs
        self._obs = obs
        self.global_step += self.steps_per_env * self.num_envs
        return episodes

    # ------------------------------------------------------------------ updates
    def _update_agent(self, name: str, ag: _Agent, last_state: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        with torch.no_grad():
            batch = ag.buffer.finish(
                ag.reward_critic(last_state),
                ag.cost_critic(last_state),
                cfg.gamma,
                cfg.gae_lambda,
                cfg.cost_gamma,
                cfg.cost_gae_lambda,
                cfg.standardize_reward_advantage,
                cfg.center_cost_advantage,
            )
        states = self.states.flatten(0, 1)
        advantage = mix_advantages(batch.reward_advantages, batch.cost_advantages, ag.lagrange)
        with torch.no_grad():
            old_dist = ag.actor.distribution(batch.obs)
            old = Normal(old_dist.mean.clone(), old_dist.stddev.clone(), validate_args=False)
        kl, loss_actor, passes = 0.0, math.nan, 0
        eps = cfg.clip_ratio
        for _ in range(cfg.update_iters):
            passes += 1
            for idx in batch.minibatches(cfg.minibatch_size, self.generator):
                dist = ag.actor.distribution(batch.obs[idx])
                ratio = torch.exp(ag.actor.log_prob(dist, batch.actions[idx]) - batch.log_probs[idx])
                adv = advantage[idx]
                loss = -torch.min(ratio * adv, torch.clamp(ratio, 1 - eps, 1 + eps) * adv).mean()
                if cfg.entropy_coef:
                    loss = loss - cfg.entropy_coef * dist.entropy().sum(-1).mean()
                ag.actor_optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(ag.actor.parameters(), cfg.max_grad_norm)
                ag.actor_optimizer.step()
                loss_actor = float(loss.detach())
            with torch.no_grad():
                kl = float(kl_divergence(old, ag.actor.distribution(batch.obs)).sum(-1).mean())
            if kl > cfg.target_kl:
                break
        # critics on the global state
        loss_r = loss_c = torch.tensor(math.nan)
        critics = [*ag.reward_critic.parameters(), *ag.cost_critic.parameters()]
        for _ in range(cfg.critic_update_iters):
            for idx in batch.minibatches(cfg.minibatch_size, self.generator):
                s = states[idx]
                loss_r = nn.functional.mse_loss(ag.reward_critic(s), batch.reward_returns[idx])
                loss_c = nn.functional.mse_loss(ag.cost_critic(s), batch.cost_returns[idx])
                l2 = sum((p**2).sum() for n_, p in [*ag.reward_critic.named_parameters(),
                                                    *ag.cost_critic.named_parameters()] if "weight" in n_)
                ag.critic_optimizer.zero_grad()
                (loss_r + loss_c + cfg.critic_l2_coef * l2).backward()
                nn.utils.clip_grad_norm_(critics, cfg.max_grad_norm)
                ag.critic_optimizer.step()
        # multiplier (after the update: ρ is the new policy's ratio)
        mean_cost = self.last_episode_cost[name]
        if math.isfinite(mean_cost):
            with torch.no_grad():
                ratio = torch.exp(ag.actor.log_prob(ag.actor.distribution(batch.obs), batch.actions) - batch.log_probs)
                surrogate_cost = float((ratio * batch.cost_advantages).mean())
            ag.lagrange = mappo_lagrange_update(
                ag.lagrange, mean_cost, cfg.cost_limit, cfg.gamma, surrogate_cost, cfg.lambda_lr
            )
        return {
            f"lagrange_multiplier_{name}": ag.lagrange,
            f"kl_{name}": kl,
            f"loss_actor_{name}": loss_actor,
            f"loss_reward_critic_{name}": float(loss_r.detach()),
            f"loss_cost_critic_{name}": float(loss_c.detach()),
            f"actor_passes_{name}": float(passes),
        }

    def train_epoch(self) -> dict[str, float]:
        t0 = time.perf_counter()
        episodes = self.collect_rollout()
        t_rollout = time.perf_counter() - t0
        if episodes:
            for a in self.agent_names:
                self.last_episode_cost[a] = float(np.mean([e["cost"][a] for e in episodes]))
                self.last_episode_reward[a] = float(np.mean([e["return"][a] for e in episodes]))
        with torch.no_grad():
            last_state = self._state({a: ag.normalize(self._obs[a]) for a, ag in self.agents.items()})
        row: dict[str, float] = {
            "episode_reward": float(sum(self.last_episode_reward.values())),
            "episode_cost": float(sum(self.last_episode_cost.values())),
            "episode_length": float(np.mean([e["length"] for e in episodes])) if episodes else math.nan,
            "episodes": float(len(episodes)),
        }
        for a in self.agent_names:
            row[f"episode_reward_{a}"] = self.last_episode_reward[a]
            row[f"episode_cost_{a}"] = self.last_episode_cost[a]
        per_agent = {}
        for a, ag in self.agents.items():
            per_agent.update(self._update_agent(a, ag, last_state))
        row.update(per_agent)
        row["lagrange_multiplier"] = float(np.mean([ag.lagrange for ag in self.agents.values()]))
        row["kl"] = float(np.mean([per_agent[f"kl_{a}"] for a in self.agent_names]))
        row["loss_reward_critic"] = float(np.mean([per_agent[f"loss_reward_critic_{a}"] for a in self.agent_names]))
        row["loss_cost_critic"] = float(np.mean([per_agent[f"loss_cost_critic_{a}"] for a in self.agent_names]))
        self.epoch += 1
        self._decay_actor_lr()
        row["rollout_steps_per_second"] = self.steps_per_env * self.num_envs / max(t_rollout, 1e-9)
        row["epoch_seconds"] = time.perf_counter() - t0
        return row

    def _decay_actor_lr(self) -> None:
        if self.config.linear_lr_decay:
            frac = max(0.0, 1.0 - self.epoch / self.total_epochs)
            for ag in self.agents.values():
                for group in ag.actor_optimizer.param_groups:
                    group["lr"] = self.config.actor_lr * frac

    def learn(self, on_epoch: Callable[[Any, dict[str, float]], None] | None = None) -> list[dict[str, float]]:
        rows = []
        while self.epoch < self.total_epochs:
            row = self.train_epoch()
            rows.append(row)
            if on_epoch is not None:
                on_epoch(self, row)
        return rows

    # ------------------------------------------------------------------ state
    def policy_payload(self) -> dict[str, Any]:
        from dexsafe.policies.checkpoint import gaussian_policy_payload

        return {
            "kind": "multi_agent",
            "agents": {
                a: gaussian_policy_payload(ag.actor, ag.obs_normalizer, ag.action_low, ag.action_high, self.config)
                for a, ag in self.agents.items()
            },
        }

    def state_dict(self) -> dict[str, Any]:
        return {
            "agents": {
                a: {
                    "actor": ag.actor.state_dict(),
                    "reward_critic": ag.reward_critic.state_dict(),
                    "cost_critic": ag.cost_critic.state_dict(),
                    "actor_optimizer": ag.actor_optimizer.state_dict(),
                    "critic_optimizer": ag.critic_optimizer.state_dict(),
                    "obs_normalizer": None if ag.obs_normalizer is None else ag.obs_normalizer.state_dict(),
                    "lagrange": ag.lagrange,
                    "last_episode_cost": self.last_episode_cost[a],
                    "last_episode_reward": self.last_episode_reward[a],
                }
                for a, ag in self.agents.items()
            },
            "epoch": self.epoch,
            "global_step": self.global_step,
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = sorted(set(self.agent_names) - set(state["agents"]))
        if missing:
            raise ConfigError(f"checkpoint has no state for agents {missing}")
        for a, ag in self.agents.items():
            s = state["agents"][a]
            ag.actor.load_state_dict(s["actor"])
            ag.reward_critic.load_state_dict(s["reward_critic"])
            ag.cost_critic.load_state_dict(s["cost_critic"])
            ag.actor_optimizer.load_state_dict(s["actor_optimizer"])
            ag.critic_optimizer.load_state_dict(s["critic_optimizer"])
            if ag.obs_normalizer is not None and s["obs_normalizer"] is not None:
                ag.obs_normalizer.load_state_dict(s["obs_normalizer"])
            ag.lagrange = float(s["lagrange"])
            self.last_episode_cost[a] = float(s["last_episode_cost"])
            self.last_episode_reward[a] = float(s["last_episode_reward"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])
        self._obs = None
        self._decay_actor_lr()
