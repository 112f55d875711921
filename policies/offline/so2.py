"""SO2 (Zhang et al., AAAI-24, arXiv 2312.07685) and the baselines it is compared with, as *methods*.

A method = an offline base algorithm to pretrain + what changes for the online phase.
SO2, as its official code (``opendilab/SO2``, branch ``code``) runs it:

- base: EDAC (SAC-N with a diversity term), pretrained offline;
- online agent: SAC-N, η = 0, fixed α = 0.2, learning rates 1e-3;
- **perturbed value update**: target action noise σ = 0.3 clipped at c = 0.6, each
  critic head regressing to its own target head (no min in the target);
- **raised update-to-data ratio**: 10 critic updates per environment step, the actor
  once per 10 critic updates (≈ once per step);
- mixed batches: 10% from the online-only buffer, 90% from the offline buffer, which
  also receives every online transition and has the dataset's capacity (FIFO);
- warm-up: 5k transitions collected with the pretrained stochastic policy before any update;
- batch 2560 (GPU scale; the CPU configs scale it down).

Baselines: ``td3bc_ft`` (TD3+BC kept as it is online, CORL style single buffer), ``iql_ft``
(IQL kept as it is online), ``naive`` (the TD3+BC checkpoint finetuned as plain TD3 with
the BC term dropped: the collapse control of the SO2 paper and our research notes).

The values here are the *method definitions*; the YAML configs under ``config/so2/``
override sizes and budgets (and may override anything else, which the run's saved config
then records).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from dexsafe.policies.offline.edac import EDAC, EDACConfig
from dexsafe.policies.offline.iql import IQL, IQLConfig
from dexsafe.policies.offline.td3_bc import TD3BC, TD3BCConfig

__all__ = ["AGENTS", "METHODS", "MethodSpec", "OnlineConfig", "agent_config", "finetune_agent", "finetune_agent_config",
           "online_config"]

#: Offline base algorithms by name: (agent class, config class).
AGENTS: dict[str, tuple[type, type]] = {
    "edac": (EDAC, EDACConfig),
    "td3_bc": (TD3BC, TD3BCConfig),
    "iql": (IQL, IQLConfig),
}


@dataclass
class OnlineConfig:
    """The online phase (defaults: a plain 1-update-per-step finetune on one growing buffer)."""

    steps: int = 100_000
    """Online environment steps (warm-up included)."""
    updates_per_step: int = 1
    """Update-to-data ratio: critic updates per environment step after warm-up (SO2: 10)."""
    warmup_steps: int = 0
    """Steps collected with the pretrained stochastic policy before the first update (SO2: 5000)."""
    online_ratio: float = 0.0
    """Share of each batch drawn from the online-only buffer (SO2: 0.1); the rest from the offline buffer."""
    replace_offline: bool = False
    """True: the offline buffer keeps the dataset's size, online rows overwrite old ones (SO2);
    False: it grows to hold dataset + online rows (CORL's append)."""
    online_capacity: int = 1_000_000
    """Capacity of the online-only buffer."""
    batch_size: int = 256
    """Rows per gradient step (SO2: 2560 = 256 / 0.1)."""
    eval_every: int = 1000
    """Evaluate (deterministic policy) every this many environment steps, and at step 0."""
    eval_episodes: int = 5
    """Episodes per evaluation."""


@dataclass
class MethodSpec:
    """An offline-to-online method: which base to pretrain and what changes online."""

    name: str
    base: str
    agent: dict[str, Any] = field(default_factory=dict)
    """Overrides of the base agent's config for the online phase."""
    online: dict[str, Any] = field(default_factory=dict)
    """Overrides of :class:`OnlineConfig` for this method."""
    description: str = ""


METHODS: dict[str, MethodSpec] = {
    "so2": MethodSpec(
        "so2", "edac",
        agent={"eta": 0.0, "alpha": 0.2, "target_noise": 0.3, "target_noise_clip": 0.6, "per_head_targets": True,
               "actor_lr": 1e-3, "critic_lr": 1e-3},
        online={"updates_per_step": 10, "warmup_steps": 5000, "online_ratio": 0.1, "replace_offline": True,
                "batch_size": 2560},
        description="EDAC start; PVU noise 0.3/0.6, per-head targets, 10 updates/step, mixed batches, warm-up"),
    "td3bc_ft": MethodSpec(
        "td3bc_ft", "td3_bc", online={"updates_per_step": 1},
        description="TD3+BC start, BC term kept online, 1 update/step, one growing buffer"),
    "iql_ft": MethodSpec(
        "iql_ft", "iql", online={"updates_per_step": 1},
        description="IQL start, IQL losses kept online, 1 update/step, one growing buffer"),
    "naive": MethodSpec(
        "naive", "td3_bc", agent={"bc": False}, online={"updates_per_step": 1},
        description="TD3+BC start finetuned as plain TD3 (BC dropped): the collapse control"),
}


def _replace(cfg: Any, overrides: dict[str, Any], what: str) -> Any:
    names = {f.name for f in dataclasses.fields(cfg)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"{what}: unknown keys {unknown}; known: {sorted(names)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return dataclasses.replace(cfg, **values)


def agent_config(base: str, *layers: dict[str, Any]) -> Any:
    """The base's config with each mapping of overrides applied in turn (unknown keys raise)."""
    if base not in AGENTS:
        raise ValueError(f"unknown offline algorithm {base!r}; choose from {sorted(AGENTS)}")
    cfg = AGENTS[base][1]()
    for layer in layers:
        cfg = _replace(cfg, dict(layer or {}), f"{base} config")
    return cfg


def online_config(method: str, *layers: dict[str, Any]) -> OnlineConfig:
    """The method's online config: defaults < method definition < each layer in turn.

    For SO2 the actor update frequency follows the update-to-data ratio (one actor
    update per environment step), set by :func:`finetune_agent_config`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {sorted(METHODS)}")
    cfg = _replace(OnlineConfig(), METHODS[method].online, f"{method} online")
    for layer in layers:
        cfg = _replace(cfg, dict(layer or {}), f"{method} online config")
    if cfg.steps < 1 or cfg.updates_per_step < 0 or cfg.batch_size < 1 or cfg.eval_every < 1:
        raise ValueError(f"{method} online config: steps, batch_size and eval_every must be >= 1 and "
                         f"updates_per_step >= 0, got {cfg}")
    if not 0 <= cfg.warmup_steps <= cfg.steps:
        raise ValueError(f"{method}: warmup_steps {cfg.warmup_steps} must be in [0, steps={cfg.steps}]")
    return cfg


def finetune_agent_config(method: str, pretrained: Any, online: OnlineConfig, *layers: dict[str, Any]) -> Any:
    """The online agent config: the pretrained agent's config < method definition < layers;
    SO2's ``actor_update_freq`` = ``updates_per_step`` unless a layer sets it."""
    spec = METHODS[method]
    cfg = _replace(pretrained, spec.agent, f"{method} agent")
    for layer in layers:
        cfg = _replace(cfg, dict(layer or {}), f"{method} agent config")
    if method == "so2" and not any("actor_update_freq" in (layer or {}) for layer in layers):
        cfg = dataclasses.replace(cfg, actor_update_freq=max(1, online.updates_per_step))
    return cfg


def finetune_agent(method: str, pretrained: Any, online: OnlineConfig, *layers: dict[str, Any]) -> Any:
    """A fresh agent for ``method``'s online phase holding ``pretrained``'s weights and normalisation
    (config from :func:`finetune_agent_config`; new optimisers; update counters from zero)."""
    spec = METHODS[method]
    if pretrained.name != spec.base:
        raise ValueError(f"{method} finetunes a {spec.base} agent, got {pretrained.name}")
    # alpha: "pretrained" fixes the entropy weight at the value the offline phase learned (for tasks whose
    # reward scale makes SO2's 0.2 far too large or small; a deviation from the official setting).
    layers = tuple({**layer, "alpha": float(pretrained.alpha)} if (layer or {}).get("alpha") == "pretrained"
                   else layer for layer in layers)
    cfg = finetune_agent_config(method, pretrained.config, online, *layers)
    agent = AGENTS[spec.base][0](pretrained.obs_dim, pretrained.act_dim, cfg)
    agent.load_full_state(pretrained.full_state(), optimizers=False)
    agent.critic_updates = agent.actor_updates = 0
    return agent
