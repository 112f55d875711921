"""Offline-to-online finetuned controllers: SO2 and its baselines (issue 9).

Offline pretraining with EDAC (SO2's starting point), TD3+BC or IQL on an
:class:`~dexsafe.policies.datasets.OfflineDataset`, then online finetuning by one of the
methods of :data:`~dexsafe.policies.offline.so2.METHODS`: ``so2`` (perturbed value update,
per-head targets, raised update-to-data ratio, mixed batches, warm-up), ``td3bc_ft``,
``iql_ft`` and ``naive`` (the collapse control). Imports neither rclpy nor MuJoCo.

Main entry points::

    from dexsafe.policies.offline import pretrain, finetune, run_comparison      # training
    from dexsafe.policies.offline import METHODS, OnlineConfig, agent_config   # definitions
    from dexsafe.policies.offline import load_offline_policy, save_agent       # checkpoints
"""

from __future__ import annotations

from dexsafe.policies.offline.buffers import MixedSampler, ReplayBuffer
from dexsafe.policies.offline.checkpoint import OfflinePolicy, load_agent, load_offline_policy, save_agent
from dexsafe.policies.offline.edac import EDAC, EDACConfig, perturb_target_action
from dexsafe.policies.offline.iql import IQL, IQLConfig
from dexsafe.policies.offline.so2 import (
    AGENTS,
    METHODS,
    MethodSpec,
    OnlineConfig,
    agent_config,
    finetune_agent,
    finetune_agent_config,
    online_config,
)
from dexsafe.policies.offline.td3_bc import TD3BC, TD3BCConfig
from dexsafe.policies.offline.training import (
    FinetuneResult,
    evaluate,
    finetune,
    pretrain,
    run_comparison,
    summarize_run,
    train_behaviour_policy,
)

__all__ = [
    "AGENTS", "EDAC", "EDACConfig", "FinetuneResult", "IQL", "IQLConfig", "METHODS", "MethodSpec", "MixedSampler",
    "OfflinePolicy", "OnlineConfig", "ReplayBuffer", "TD3BC", "TD3BCConfig", "agent_config", "evaluate", "finetune",
    "finetune_agent", "finetune_agent_config", "load_agent", "load_offline_policy", "online_config",
    "perturb_target_action", "pretrain", "run_comparison", "save_agent", "summarize_run", "train_behaviour_policy",
]
