"""Checkpoints of offline(-to-online) agents, and the policy a node runs from one.

One ``torch.save`` file of plain data (loads with ``weights_only=True``; loading never
runs code from it)::

    format        "dexsafe-offline-checkpoint/1"
    algorithm     base agent: "edac" | "td3_bc" | "iql"
    method        "so2" | "td3bc_ft" | "iql_ft" | "naive" | "" (pretrained only)
    phase         "offline" | "online"
    config        the agent's config (dict)
    obs_dim, act_dim, action_low, action_high, env_id, env_kwargs
    state         weights (normalisation included), optimisers, update counters
    extra         anything JSON-like (returns, steps, seed)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from dexsafe.policies.checkpoint_files import load_tagged, save_atomic
from dexsafe.policies.offline.base import OffPolicyAgent

__all__ = ["OFFLINE_CHECKPOINT_FORMAT", "OfflineCheckpointError", "OfflinePolicy", "load_agent", "load_offline_policy",
           "save_agent"]

OFFLINE_CHECKPOINT_FORMAT = "dexsafe-offline-checkpoint/1"


class OfflineCheckpointError(ValueError):
    """Not a usable offline checkpoint; the message says why."""


def save_agent(agent: OffPolicyAgent, path: str | os.PathLike, *, action_low, action_high, env_id: str | None,
               env_kwargs: dict | None = None, method: str = "", phase: str = "offline",
               extra: dict | None = None) -> Path:
    """Write ``agent`` atomically (temp file, then rename)."""
    path = Path(path)
    data = {
        "format": OFFLINE_CHECKPOINT_FORMAT, "algorithm": agent.name, "method": method, "phase": phase,
        "config": agent.config_dict(), "obs_dim": agent.obs_dim, "act_dim": agent.act_dim,
        "action_low": np.asarray(action_low, dtype=np.float64).tolist(),
        "action_high": np.asarray(action_high, dtype=np.float64).tolist(),
        "env_id": env_id if isinstance(env_id, str) else None, "env_kwargs": dict(env_kwargs or {}),
        "state": agent.full_state(), "extra": dict(extra or {}),
    }
    return save_atomic(data, path)


def _read(path: str | os.PathLike) -> dict[str, Any]:
    return load_tagged(path, OFFLINE_CHECKPOINT_FORMAT, OfflineCheckpointError)


def load_agent(path: str | os.PathLike, config_overrides: dict | None = None,
               optimizers: bool = True) -> tuple[OffPolicyAgent, dict[str, Any]]:
    """Rebuild the agent of a checkpoint; returns ``(agent, checkpoint data without state)``.

    ``config_overrides`` change the agent's config (e.g. SO2's online settings);
    optimiser states are then not restored when learning rates change.
    """
    from dexsafe.policies.offline.so2 import AGENTS, _replace

    data = _read(path)
    name = data["algorithm"]
    if name not in AGENTS:
        raise OfflineCheckpointError(f"{path}: unknown algorithm {name!r}")
    agent_cls, cfg_cls = AGENTS[name]
    cfg = _replace(cfg_cls(), data["config"], f"{path} config")
    if config_overrides:
        cfg = _replace(cfg, config_overrides, "config overrides")
    agent = agent_cls(data["obs_dim"], data["act_dim"], cfg)
    try:
        agent.load_full_state(data["state"], optimizers=optimizers and not config_overrides)
    except RuntimeError as exc:
        raise OfflineCheckpointError(f"weights in {path} do not fit its config: {exc}") from exc
    meta = {k: v for k, v in data.items() if k != "state"}
    return agent, meta


class OfflinePolicy:
    """A checkpoint's policy as ``action = policy(obs)``: raw observation(s) in, env-box action(s) out
    (float64); deterministic by default (tanh of the mean), ``deterministic=False`` samples."""

    def __init__(self, agent: OffPolicyAgent, action_low, action_high, deterministic: bool = True,
                 metadata: dict | None = None) -> None:
        self.agent = agent.eval()
        self.action_low = np.asarray(action_low, dtype=np.float64)
        self.action_high = np.asarray(action_high, dtype=np.float64)
        self.deterministic = deterministic
        self.metadata = dict(metadata or {})
        self.obs_dim, self.act_dim = agent.obs_dim, agent.act_dim

    @property
    def algorithm(self) -> str:
        return str(self.metadata.get("method") or self.metadata.get("algorithm", ""))

    def normalized_action(self, obs: Any) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float64)
        if x.shape[-1:] != (self.obs_dim,) or x.ndim > 2:
            raise ValueError(f"observation has shape {x.shape}, expected ({self.obs_dim},) or (B, {self.obs_dim})")
        if not np.isfinite(x).all():
            raise ValueError("observation contains NaN or inf")
        return self.agent.act(x, self.deterministic).astype(np.float64)

    def __call__(self, obs: Any) -> np.ndarray:
        a = self.normalized_action(obs)
        return self.action_low + (a + 1.0) * 0.5 * (self.action_high - self.action_low)


def load_offline_policy(path: str | os.PathLike, deterministic: bool = True) -> OfflinePolicy:
    """The policy of an offline checkpoint (file, or a folder holding ``checkpoint.pt``)."""
    agent, meta = load_agent(path, optimizers=False)
    return OfflinePolicy(agent, meta["action_low"], meta["action_high"], deterministic, meta)
