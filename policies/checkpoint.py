"""Checkpoints: save an algorithm's full state, resume it, or load just the policy for a node.

A checkpoint is one ``torch.save`` file holding plain data only (tensors, lists,
numbers, strings), so it is read with ``torch.load(weights_only=True)``: loading
a checkpoint never runs code from it. It contains

- ``policy``: everything :func:`load_policy` needs — the Gaussian actor's state
  dict, its sizes, the observation normaliser (running mean/var) and the action
  box; for multi-agent methods one such entry per agent;
- ``algorithm``, ``config``, ``env_id``, ``seed``: what was trained and how;
- ``state``: optimisers, critics, multipliers, counters and RNG states for resume.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexsafe.policies.checkpoint_files import load_tagged, save_atomic
from dexsafe.policies.networks import GaussianActor
from dexsafe.policies.normalization import RunningMeanStd

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "MultiAgentPolicy",
    "Policy",
    "gaussian_policy_payload",
    "load_checkpoint",
    "load_policy",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "dexsafe-policy-checkpoint/1"


class CheckpointError(ValueError):
    """A file that is not a usable dexsafe checkpoint; the message says why."""


def save_checkpoint(algo: Any, path: str | os.PathLike, env_id: str | None = None) -> Path:
    """Write ``algo``'s state to ``path`` atomically (write to a temp file, then rename)."""
    path = Path(path)
    config = dataclasses.asdict(algo.config)
    config["hidden_sizes"] = list(config["hidden_sizes"])
    data = {
        "format": CHECKPOINT_FORMAT,
        "algorithm": algo.name,
        "config": config,
        "env_id": env_id if isinstance(env_id, str) else None,
        "seed": algo.seed,
        "epoch": algo.epoch,
        "global_step": algo.global_step,
        "policy": algo.policy_payload(),
        "state": algo.state_dict(),
    }
    return save_atomic(data, path)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a checkpoint file; raises :class:`CheckpointError` with the reason."""
    return load_tagged(path, CHECKPOINT_FORMAT, CheckpointError)


class Policy:
    """A trained policy as a plain callable: ``action = policy(obs)``.

    ``obs`` is one observation ``[obs_dim]`` or a batch ``[B, obs_dim]`` exactly as
    the environment produced it (normalisation is applied inside); the action is
    in the environment's action box, as a float64 numpy array. Deterministic by
    default (the Gaussian's mean); ``deterministic=False`` samples.

    Saute policies (``obs_augmentation == "saute"``) expect the remaining
    normalised safety budget z appended as the last observation entry.
    """

    def __init__(
        self,
        actor: GaussianActor,
        obs_normalizer: RunningMeanStd | None,
        action_low: np.ndarray,
        action_high: np.ndarray,
        deterministic: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.actor = actor.eval()
        self.obs_normalizer = obs_normalizer
        self.action_low = np.asarray(action_low, dtype=np.float64)
        self.action_high = np.asarray(action_high, dtype=np.float64)
        self.deterministic = deterministic
        self.metadata = dict(metadata or {})
        self.obs_dim = int(self.actor.mean[0].in_features)
        self.act_dim = int(self.action_low.shape[0])

    @property
    def algorithm(self) -> str:
        return str(self.metadata.get("algorithm", ""))

    def __call__(self, obs: Any) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64)
        single = x.ndim == 1
        x = x.reshape(1, -1) if single else x
        if x.ndim != 2 or x.shape[1] != self.obs_dim:
            raise ValueError(
                f"observation has shape {np.shape(obs)}, expected ({self.obs_dim},) or (B, {self.obs_dim})"
            )
        if not np.isfinite(x).all():
            raise ValueError("observation contains NaN or inf")
        if self.obs_normalizer is not None:
            x = self.obs_normalizer.normalize(x)
        with torch.no_grad():
            raw = self.actor(torch.as_tensor(x, dtype=torch.float32), deterministic=self.deterministic)
        a = np.clip(raw.numpy().astype(np.float64), -1.0, 1.0)
        act = self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)
        return act[0] if single else act


def gaussian_policy_payload(
    actor: GaussianActor,
    obs_normalizer: RunningMeanStd | None,
    action_low: np.ndarray,
    action_high: np.ndarray,
    config: Any,
    obs_augmentation: str | None = None,
) -> dict[str, Any]:
    """What :func:`load_policy` needs to rebuild one Gaussian actor (plain data only)."""
    return {
        "kind": "gaussian",
        "actor": actor.state_dict(),
        "obs_dim": int(actor.mean[0].in_features),
        "act_dim": int(np.asarray(action_low).shape[0]),
        "hidden_sizes": [int(h) for h in config.hidden_sizes],
        "activation": config.activation,
        "init_log_std": float(config.init_log_std),
        "action_low": np.asarray(action_low, dtype=np.float64).tolist(),
        "action_high": np.asarray(action_high, dtype=np.float64).tolist(),
        "obs_normalizer": None if obs_normalizer is None else obs_normalizer.state_dict(),
        "obs_augmentation": obs_augmentation,
    }


def _policy_from_payload(payload: dict[str, Any], deterministic: bool, metadata: dict[str, Any], where: str) -> Policy:
    actor = GaussianActor(
        int(payload["obs_dim"]),
        int(payload["act_dim"]),
        payload["hidden_sizes"],
        payload["activation"],
        payload["init_log_std"],
    )
    try:
        actor.load_state_dict(payload["actor"])
    except RuntimeError as exc:
        raise CheckpointError(f"actor weights in {where} do not fit its config: {exc}") from exc
    normalizer = None
    if payload.get("obs_normalizer") is not None:
        normalizer = RunningMeanStd((int(payload["obs_dim"]),))
        normalizer.load_state_dict(payload["obs_normalizer"])
    metadata = {**metadata, "obs_augmentation": payload.get("obs_augmentation")}
    return Policy(actor, normalizer, payload["action_low"], payload["action_high"], deterministic, metadata)


class MultiAgentPolicy:
    """Trained policies of several agents: ``actions = policy({agent: obs})`` -> ``{agent: action}``.

    Each agent acts on its own observation (decentralised execution); ``policy[agent]``
    is that agent's :class:`Policy`.
    """

    def __init__(self, policies: dict[str, Policy], metadata: dict[str, Any] | None = None) -> None:
        self.policies = dict(policies)
        self.agents = tuple(self.policies)
        self.metadata = dict(metadata or {})

    @property
    def algorithm(self) -> str:
        return str(self.metadata.get("algorithm", ""))

    def __getitem__(self, agent: str) -> Policy:
        return self.policies[agent]

    def __call__(self, observations: Any) -> dict[str, np.ndarray]:
        missing = [a for a in self.agents if a not in observations]
        if missing:
            raise ValueError(f"observations lack agents {missing}; expected {list(self.agents)}")
        return {agent: self.policies[agent](observations[agent]) for agent in self.agents}


def load_policy(path: str | os.PathLike, deterministic: bool = True) -> Policy | MultiAgentPolicy:
    """Load the policy of a checkpoint (file, or a run folder holding ``checkpoint.pt``).

    Returns a :class:`Policy` (``obs -> action``), or a :class:`MultiAgentPolicy`
    (``{agent: obs} -> {agent: action}``) for multi-agent algorithms.
    """
    data = load_checkpoint(path)
    metadata = {k: data[k] for k in ("algorithm", "env_id", "seed", "epoch", "global_step")}
    metadata["cost_limit"] = data["config"].get("cost_limit")
    payload = data["policy"]
    if payload["kind"] == "gaussian":
        return _policy_from_payload(payload, deterministic, metadata, str(path))
    if payload["kind"] == "multi_agent":
        return MultiAgentPolicy(
            {
                agent: _policy_from_payload(p, deterministic, {**metadata, "agent": agent}, str(path))
                for agent, p in payload["agents"].items()
            },
            metadata,
        )
    raise CheckpointError(f"{path}: unknown policy kind {payload['kind']!r}")
