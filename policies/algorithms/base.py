"""The shared on-policy core: configuration, rollouts, critics, checkpoint state.

An algorithm is a subclass of :class:`OnPolicyAlgorithm` that overrides only
what differs (OmniSafe's habit)::

    update_policy(batch)            how the actor moves (first- or second-order)
    policy_advantage(batch)         which advantage the actor follows (A_R, or A_R mixed with A_C)
    update_multipliers(mean_cost)   how λ (or ν) reacts to the epoch's mean episode cost
    wrap_env(env)                   an env wrapper the method needs (Saute)

One epoch: collect ``steps_per_epoch`` steps from ``num_envs`` envs, compute GAE
for reward and cost, update the multipliers from Ĵ_C (the mean cost of the
episodes finished in the epoch), update the actor, update both critics, decay
the actor's learning rate.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.distributions import Normal, kl_divergence

from dexsafe.policies.buffer import RolloutBatch, RolloutBuffer
from dexsafe.policies.envs import SyncVectorCMDP, make_vector_env
from dexsafe.policies.networks import ActorCritic
from dexsafe.policies.normalization import RunningMeanStd

__all__ = ["ConfigError", "OnPolicyAlgorithm", "OnPolicyConfig", "config_from_dict"]


class ConfigError(ValueError):
    """An algorithm configuration that cannot be used; the message names the key."""


@dataclass
class OnPolicyConfig:
    """Hyper-parameters shared by every on-policy algorithm (SafePO's defaults)."""

    total_steps: int = 1_000_000
    """Environment steps to train for, over all envs."""
    steps_per_epoch: int = 20_000
    """Environment steps collected per epoch (policy update), over all envs."""
    num_envs: int = 1
    """Copies of the environment stepped in lockstep."""
    cost_limit: float = 25.0
    """d: the allowed mean episode cost. Drawn on the plot even for unconstrained methods."""
    gamma: float = 0.99
    """Discount of the reward."""
    gae_lambda: float = 0.95
    """GAE λ of the reward advantage."""
    cost_gamma: float = 0.99
    """Discount of the cost."""
    cost_gae_lambda: float = 0.95
    """GAE λ of the cost advantage."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the actor and both critics."""
    activation: str = "tanh"
    """Hidden activation: tanh, relu, elu or gelu."""
    init_log_std: float = 0.0
    """Initial log standard deviation of the Gaussian policy."""
    actor_lr: float = 3e-4
    """Adam learning rate of the actor (first-order methods)."""
    critic_lr: float = 3e-4
    """Adam learning rate of both critics."""
    linear_lr_decay: bool = True
    """Decay the actor's learning rate linearly to 0 over training."""
    update_iters: int = 40
    """Passes over the epoch's data for the actor (first-order methods)."""
    critic_update_iters: int = 40
    """Passes over the epoch's data for the critics."""
    minibatch_size: int = 64
    """Rows per minibatch for actor and critic updates."""
    target_kl: float = 0.02
    """First-order: stop the epoch's actor passes once KL(π_old‖π) exceeds this.
    Second-order: the trust-region size δ."""
    max_grad_norm: float = 40.0
    """Gradient-norm clip for actor and critics."""
    critic_l2_coef: float = 0.001
    """Weight of the L2 penalty ‖w‖² on critic weights."""
    entropy_coef: float = 0.0
    """Entropy bonus on the actor's loss."""
    normalize_obs: bool = True
    """Normalise observations with running mean/std (saved in checkpoints)."""
    standardize_reward_advantage: bool = True
    """Standardise A_R to zero mean, unit std per epoch."""
    center_cost_advantage: bool = True
    """Subtract the mean from A_C per epoch (no scaling)."""
    max_episode_steps: int | None = None
    """Episode length for methods that need it (Saute) when the env declares none."""
    checkpoint_every: int = 10
    """Write a checkpoint every this many epochs (and always at the end)."""

    def validate(self) -> None:
        if self.steps_per_epoch < self.num_envs:
            raise ConfigError(
                f"steps_per_epoch ({self.steps_per_epoch}) must be >= num_envs ({self.num_envs})"
            )
        for name in ("total_steps", "num_envs", "update_iters", "minibatch_size", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.critic_update_iters < 0:
            raise ConfigError("critic_update_iters must be >= 0")
        for name in ("gamma", "gae_lambda", "cost_gamma", "cost_gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.target_kl <= 0:
            raise ConfigError(f"target_kl must be > 0, got {self.target_kl}")
        if not math.isfinite(self.cost_limit) or self.cost_limit < 0:
            raise ConfigError(f"cost_limit must be finite and >= 0, got {self.cost_limit}")


def config_from_dict(config_class: type, values: Mapping[str, Any] | None) -> Any:
    """Build ``config_class`` from a mapping, rejecting unknown keys with the known ones listed."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown {config_class.__name__} keys {unknown}; known: {sorted(fields)}"
        )
    if "hidden_sizes" in values:
        values["hidden_sizes"] = tuple(int(h) for h in values["hidden_sizes"])
    for name, f in fields.items():
        if name in values and f.type in ("int", "float") and values[name] is not None:
            caster = int if f.type == "int" else float
            try:
                values[name] = caster(values[name])
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{name} must be {f.type}, got {values[name]!r}") from exc
    config = config_class(**values)
    config.validate()
    return config


def flat_params(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.data.reshape(-1) for p in module.parameters()])


def set_flat_params(module: nn.Module, flat: torch.Tensor) -> None:
    offset = 0
    for p in module.parameters():
        n = p.numel()
        p.data.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def flat_grad(output: torch.Tensor, module: nn.Module, **kwargs: Any) -> torch.Tensor:
    grads = torch.autograd.grad(output, list(module.parameters()), **kwargs)
    return torch.cat([g.reshape(-1) for g in grads])


class OnPolicyAlgorithm:
    """Rollouts, GAE, critics and bookkeeping shared by all on-policy methods."""

    name: ClassVar[str] = "on_policy"
    config_class: ClassVar[type[OnPolicyConfig]] = OnPolicyConfig
    constrained: ClassVar[bool] = False
    """Whether the method uses the cost to update the policy."""

    def __init__(self, env: SyncVectorCMDP, config: OnPolicyConfig, seed: int = 0) -> None:
        if not isinstance(config, self.config_class):
            raise ConfigError(f"{self.name} needs a {self.config_class.__name__}, got {type(config).__name__}")
        config.validate()
        self.config = config
        self.env = env
        self.seed = int(seed)
        obs_space, act_space = env.single_observation_space, env.single_action_space
        self.obs_dim = int(obs_space.shape[0])
        self.act_dim = int(act_space.shape[0])
        self.action_low = np.asarray(act_space.low, dtype=np.float64)
        self.action_high = np.asarray(act_space.high, dtype=np.float64)
        self.num_envs = env.num_envs
        self.steps_per_env = max(1, config.steps_per_epoch // self.num_envs)
        self.total_epochs = max(1, math.ceil(config.total_steps / (self.steps_per_env * self.num_envs)))

        torch.manual_seed(self.seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.model = ActorCritic(
            self.obs_dim, self.act_dim, config.hidden_sizes, config.activation, config.init_log_std
        )
        self.actor_optimizer = torch.optim.Adam(self.model.actor.parameters(), lr=config.actor_lr)
        self.reward_critic_optimizer = torch.optim.Adam(
            self.model.reward_critic.parameters(), lr=config.critic_lr
        )
        self.cost_critic_optimizer = torch.optim.Adam(
            self.model.cost_critic.parameters(), lr=config.critic_lr
        )
        self.obs_normalizer = RunningMeanStd((self.obs_dim,)) if config.normalize_obs else None
        self.buffer = RolloutBuffer(self.steps_per_env, self.num_envs, self.obs_dim, self.act_dim)
        self.epoch = 0
        self.global_step = 0
        self.last_mean_episode_cost = math.nan
        self.last_mean_episode_reward = math.nan
        self._obs: np.ndarray | None = None
        self.setup()

    # ------------------------------------------------------------------ hooks
    def setup(self) -> None:
        """Create method-specific state (multipliers); called at the end of ``__init__``."""

    @classmethod
    def wrap_env(cls, env: Any, config: OnPolicyConfig) -> Any:
        """Wrap each single env before vectorising (identity by default)."""
        return env

    def policy_advantage(self, batch: RolloutBatch) -> torch.Tensor:
        """The advantage the actor follows: A_R for unconstrained methods."""
        return batch.reward_advantages

    def update_multipliers(self, mean_episode_cost: float) -> dict[str, float]:
        """React to the epoch's mean episode cost; returns values to log."""
        return {}

    def update_policy(self, batch: RolloutBatch) -> dict[str, float]:
        raise NotImplementedError(f"{type(self).__name__} does not implement update_policy")

    @classmethod
    def make_training_env(cls, env: Any, config: OnPolicyConfig, env_kwargs: Mapping[str, Any]) -> Any:
        """The vector env this method trains on: ``num_envs`` copies, each through :meth:`wrap_env`."""
        return make_vector_env(env, config.num_envs, wrapper=lambda e: cls.wrap_env(e, config), **env_kwargs)

    def policy_payload(self) -> dict[str, Any]:
        """What a checkpoint stores for :func:`~dexsafe.policies.checkpoint.load_policy`."""
        from dexsafe.policies.checkpoint import gaussian_policy_payload

        return gaussian_policy_payload(
            self.model.actor,
            self.obs_normalizer,
            self.action_low,
            self.action_high,
            self.config,
            getattr(self, "obs_augmentation", None),
        )

    def extra_state(self) -> dict[str, Any]:
        """Method-specific checkpoint state (multipliers)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ------------------------------------------------------------------ env plumbing
    def normalize_obs(self, obs: np.ndarray) -> torch.Tensor:
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer.normalize(obs)
        return torch.as_tensor(np.asarray(obs, dtype=np.float32))

    def to_env_action(self, raw: torch.Tensor) -> np.ndarray:
        """Policy output in [-1, 1] (clipped) -> the env's action box."""
        a = np.clip(raw.numpy().astype(np.float64), -1.0, 1.0)
        return self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)

    # ------------------------------------------------------------------ distributions
    def old_distribution(self, obs: torch.Tensor) -> Normal:
        with torch.no_grad():
            dist = self.model.actor.distribution(obs)
            return Normal(dist.mean.clone(), dist.stddev.clone(), validate_args=False)

    def mean_kl(self, old: Normal, obs: torch.Tensor) -> torch.Tensor:
        """E_s[KL(π_old(·|s) ‖ π_θ(·|s))], differentiable in θ."""
        return kl_divergence(old, self.model.actor.distribution(obs)).sum(-1).mean()

    # ------------------------------------------------------------------ one epoch
    def collect_rollout(self) -> tuple[RolloutBatch, list[dict[str, float]], float]:
        """Run the policy for one epoch; returns the batch, finished episodes, mean step cost."""
        cfg = self.config
        if self._obs is None:
            self._obs, _ = self.env.reset(seed=self.seed + 10_000 * self.epoch)
        obs = self._obs
        episodes: list[dict[str, float]] = []
        step_cost_sum = 0.0
        for _ in range(self.steps_per_env):
            if self.obs_normalizer is not None:
                self.obs_normalizer.update(obs)
            obs_t = self.normalize_obs(obs)
            act, logp, v_r, v_c = self.model.step(obs_t)
            next_obs, reward, cost, terminated, truncated, info = self.env.step(self.to_env_action(act))
            step_cost_sum += float(cost.sum())
            reward_t = torch.as_tensor(reward, dtype=torch.float32)
            cost_t = torch.as_tensor(cost, dtype=torch.float32)
            cut = truncated & ~terminated
            if cut.any():  # time limit: bootstrap the value of the state we were cut off in
                final = self.normalize_obs(info["final_obs"][cut])
                with torch.no_grad():
                    idx = torch.as_tensor(np.flatnonzero(cut))
                    reward_t[idx] += cfg.gamma * self.model.reward_critic(final)
                    cost_t[idx] += cfg.cost_gamma * self.model.cost_critic(final)
            done = torch.as_tensor(terminated | truncated, dtype=torch.float32)
            self.buffer.add(obs_t, act, logp, reward_t, cost_t, done, v_r, v_c)
            episodes.extend(info.get("episodes", []))
            obs = next_obs
        self._obs = obs
        self.global_step += self.steps_per_env * self.num_envs
        with torch.no_grad():
            last_obs = self.normalize_obs(obs)
            last_v_r = self.model.reward_critic(last_obs)
            last_v_c = self.model.cost_critic(last_obs)
        batch = self.buffer.finish(
            last_v_r,
            last_v_c,
            cfg.gamma,
            cfg.gae_lambda,
            cfg.cost_gamma,
            cfg.cost_gae_lambda,
            cfg.standardize_reward_advantage,
            cfg.center_cost_advantage,
        )
        return batch, episodes, step_cost_sum / (self.steps_per_env * self.num_envs)

    def _critic_loss(self, critic: nn.Module, obs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """MSE to the GAE return plus ``critic_l2_coef`` ‖w‖² (weights only)."""
        l2 = sum((p**2).sum() for name, p in critic.named_parameters() if "weight" in name)
        return nn.functional.mse_loss(critic(obs), target) + self.config.critic_l2_coef * l2

    def update_critics(self, batch: RolloutBatch) -> dict[str, float]:
        """Regress V_R and V_C on their GAE returns with minibatch Adam, each its own optimiser.

        Both losses are summed into one backward pass; the networks share no
        parameters, so each critic's gradient is exactly its own loss's.
        """
        cfg = self.config
        critics = (self.model.reward_critic, self.model.cost_critic)
        loss_r = loss_c = torch.tensor(math.nan)
        for _ in range(cfg.critic_update_iters):
            for idx in batch.minibatches(cfg.minibatch_size, self.generator):
                obs = batch.obs[idx]
                loss_r = self._critic_loss(critics[0], obs, batch.reward_returns[idx])
                loss_c = self._critic_loss(critics[1], obs, batch.cost_returns[idx])
                self.reward_critic_optimizer.zero_grad()
                self.cost_critic_optimizer.zero_grad()
                (loss_r + loss_c).backward()
                for critic in critics:
                    nn.utils.clip_grad_norm_(critic.parameters(), cfg.max_grad_norm)
                self.reward_critic_optimizer.step()
                self.cost_critic_optimizer.step()
        return {"loss_reward_critic": float(loss_r.detach()), "loss_cost_critic": float(loss_c.detach())}

    def _decay_actor_lr(self) -> None:
        if self.config.linear_lr_decay:
            frac = max(0.0, 1.0 - self.epoch / self.total_epochs)
            for group in self.actor_optimizer.param_groups:
                group["lr"] = self.config.actor_lr * frac

    def train_epoch(self) -> dict[str, float]:
        """Collect one epoch and update everything; returns the row to log."""
        t0 = time.perf_counter()
        batch, episodes, mean_step_cost = self.collect_rollout()
        t_rollout = time.perf_counter() - t0
        if episodes:
            self.last_mean_episode_cost = float(np.mean([e["cost"] for e in episodes]))
            self.last_mean_episode_reward = float(np.mean([e["return"] for e in episodes]))
            mean_len = float(np.mean([e["length"] for e in episodes]))
        else:
            mean_len = math.nan
        row: dict[str, float] = {
            "episode_reward": self.last_mean_episode_reward,
            "episode_cost": self.last_mean_episode_cost,
            "episode_length": mean_len,
            "episodes": float(len(episodes)),
            "step_cost": mean_step_cost,
        }
        if math.isfinite(self.last_mean_episode_cost):
            row.update(self.update_multipliers(self.last_mean_episode_cost))
        else:
            # No episode has finished yet (episodes longer than an epoch): estimate the
            # episode cost as the mean step cost times the episode length.
            row.update(self.update_multipliers(mean_step_cost * (self.env_episode_steps() or 1)))
        row.update(self.update_policy(batch))
        row.update(self.update_critics(batch))
        self.epoch += 1
        self._decay_actor_lr()
        elapsed = time.perf_counter() - t0
        row["actor_lr"] = self.actor_optimizer.param_groups[0]["lr"]
        row["policy_std"] = float(self.model.actor.log_std.detach().exp().mean())
        row["rollout_steps_per_second"] = self.steps_per_env * self.num_envs / max(t_rollout, 1e-9)
        row["epoch_seconds"] = elapsed
        return row

    def env_episode_steps(self) -> int | None:
        return getattr(self.env, "max_episode_steps", None) or self.config.max_episode_steps

    def learn(
        self,
        on_epoch: Callable[[OnPolicyAlgorithm, dict[str, float]], None] | None = None,
    ) -> list[dict[str, float]]:
        """Train until ``total_epochs``; ``on_epoch(self, row)`` after each epoch."""
        rows = []
        while self.epoch < self.total_epochs:
            row = self.train_epoch()
            rows.append(row)
            if on_epoch is not None:
                on_epoch(self, row)
        return rows

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "actor_optimizer": self.actor_optimizer.state_dict(),
            "reward_critic_optimizer": self.reward_critic_optimizer.state_dict(),
            "cost_critic_optimizer": self.cost_critic_optimizer.state_dict(),
            "obs_normalizer": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "epoch": self.epoch,
            "global_step": self.global_step,
            "last_mean_episode_cost": self.last_mean_episode_cost,
            "last_mean_episode_reward": self.last_mean_episode_reward,
            "torch_rng": torch.get_rng_state(),
            "generator": self.generator.get_state(),
            "extra": self.extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.actor_optimizer.load_state_dict(state["actor_optimizer"])
        self.reward_critic_optimizer.load_state_dict(state["reward_critic_optimizer"])
        self.cost_critic_optimizer.load_state_dict(state["cost_critic_optimizer"])
        if self.obs_normalizer is not None and state.get("obs_normalizer") is not None:
            self.obs_normalizer.load_state_dict(state["obs_normalizer"])
        self.epoch = int(state["epoch"])
        self.global_step = int(state["global_step"])
        self.last_mean_episode_cost = float(state["last_mean_episode_cost"])
        self.last_mean_episode_reward = float(state["last_mean_episode_reward"])
        torch.set_rng_state(state["torch_rng"])
        self.generator.set_state(state["generator"])
        self.load_extra_state(state.get("extra", {}))
        self._obs = None  # episodes restart: a partial episode is not resumable
        self._decay_actor_lr()


# Re-exported for subclasses.
__all__ += ["field", "flat_grad", "flat_params", "set_flat_params"]
