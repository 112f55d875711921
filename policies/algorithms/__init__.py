"""The algorithm registry and the one-call ``train`` entry point.

``ALGORITHMS`` maps the name used on the command line (``dexsafe train NAME``)
and in checkpoints to the algorithm class.
"""

from __future__ import annotations

from dexsafe.policies.algorithms.base import (
    ConfigError,
    OnPolicyAlgorithm,
    OnPolicyConfig,
    config_from_dict,
)
from dexsafe.policies.algorithms.cpo import CPO, PCPO
from dexsafe.policies.algorithms.focops_cup import CUP, FOCOPS
from dexsafe.policies.algorithms.mappo_lag import MAPPOLag
from dexsafe.policies.algorithms.ppo import CPPOPID, PPO, PPOLag
from dexsafe.policies.algorithms.saute import SautePPO
from dexsafe.policies.algorithms.trpo import RCPO, TRPO, NaturalPG, TRPOLag

ALGORITHMS: dict[str, type] = {
    cls.name: cls
    for cls in (PPO, PPOLag, CPPOPID, TRPO, TRPOLag, NaturalPG, RCPO, CPO, PCPO, FOCOPS, CUP, SautePPO, MAPPOLag)
}
"""Single-agent classes are :class:`OnPolicyAlgorithm` subclasses; ``mappo_lag`` is
multi-agent (its own rollout over dict-keyed envs) with the same training interface."""

MULTI_AGENT = frozenset({MAPPOLag.name})


def algorithm_class(name: str) -> type:
    """The class registered as ``name`` (case and dashes ignored: 'PPO-Lag' -> 'ppo_lag')."""
    key = name.strip().lower().replace("-", "_")
    if key not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; choose from {', '.join(sorted(ALGORITHMS))}")
    return ALGORITHMS[key]


def make_algorithm(name: str, env, config=None, seed: int = 0):
    """Instantiate algorithm ``name`` on a vector env; ``config`` a mapping or config object."""
    cls = algorithm_class(name)
    if config is None or isinstance(config, dict):
        config = config_from_dict(cls.config_class, config)
    return cls(env, config, seed=seed)


from dexsafe.policies.training import TrainResult, train  # noqa: E402

__all__ = [
    "ALGORITHMS",
    "ConfigError",
    "MULTI_AGENT",
    "OnPolicyAlgorithm",
    "OnPolicyConfig",
    "TrainResult",
    "algorithm_class",
    "config_from_dict",
    "make_algorithm",
    "train",
]
