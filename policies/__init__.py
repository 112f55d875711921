"""Constrained policies for dexsafe: SafeRL algorithms, checkpoints and the safety shield.

Imports neither rclpy nor MuJoCo nor ``dexsafe.sim``. The shield
(:mod:`dexsafe.policies.shield`) needs only numpy; everything else needs torch,
which is imported only when a name that needs it is first used, so the
``safety_shield`` node starts without loading torch.

Main entry points::

    from dexsafe.policies import SafetyShield, ShieldLimits, JointState   # numpy only
    from dexsafe.policies import train, make_algorithm, ALGORITHMS       # torch
    from dexsafe.policies import load_policy                             # torch
"""

from __future__ import annotations

import importlib
from typing import Any

# public name -> submodule that defines it
_EXPORTS = {
    # shield (numpy only)
    "SafetyShield": "shield",
    "ShieldLimits": "shield",
    "ShieldResult": "shield",
    "JointState": "shield",
    "Intervention": "shield",
    "ShieldConfigError": "shield",
    # environments (numpy only)
    "make_env": "envs",
    "make_vector_env": "envs",
    "SyncVectorCMDP": "envs",
    "SauteWrapper": "envs",
    "EnvSpecError": "envs",
    "make_multi_agent_env": "envs",
    "SyncVectorMultiAgentCMDP": "envs",
    # learning (torch)
    "ALGORITHMS": "algorithms",
    "make_algorithm": "algorithms",
    "train": "algorithms",
    "LagrangeMultiplier": "lagrange",
    "PIDLagrangian": "lagrange",
    "load_policy": "checkpoint",
    "load_checkpoint": "checkpoint",
    "Policy": "checkpoint",
    "MultiAgentPolicy": "checkpoint",
    "CheckpointError": "checkpoint",
    "save_checkpoint": "checkpoint",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
