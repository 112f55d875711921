"""Gymnasium tasks of dexsafe, registered on import under ``dexsafe/``.

Safety-Gymnasium API (``step -> obs, reward, cost, terminated, truncated, info``):

- ``dexsafe/GraspLift-v0``: grasp the scene's objects together and lift them (``grasp_lift``).
- ``dexsafe/SafeReach-v0``: move the palm to a goal without contact or speeding (``safe_reach``).
- ``dexsafe/GraspExecute-v0``: correct the scripted executor's dual-object grasp and lift, through the
  safety shield (``grasp_execute``; MultiGrasp stage 2's residual policy trains here).

Standard Gymnasium API twins (5-tuple, ``info['cost']``): ``dexsafe/GraspLiftGymnasium-v0``,
``dexsafe/SafeReachGymnasium-v0``. ``make_vec_env(env_id, num_envs, seed)`` steps N copies.
Keyword arguments of ``gymnasium.make`` go to the env (``scene=``, ``hand=``, ``frame_skip=``, ...).
"""

from __future__ import annotations

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from dexsafe.sim.envs.vector import SafeVectorEnv, make_vec_env
from dexsafe.sim.envs.wrappers import SafetyGymnasiumToGymnasium

SAFE_TASKS = {
    "dexsafe/GraspLift-v0": "dexsafe.sim.envs.grasp_lift:GraspLiftEnv",
    "dexsafe/SafeReach-v0": "dexsafe.sim.envs.safe_reach:SafeReachEnv",
    "dexsafe/GraspExecute-v0": "dexsafe.sim.envs.grasp_execute:GraspExecuteEnv",
}
GYMNASIUM_TWINS = {
    "dexsafe/GraspLiftGymnasium-v0": "dexsafe/GraspLift-v0",
    "dexsafe/SafeReachGymnasium-v0": "dexsafe/SafeReach-v0",
}


def _twin_factory(entry: str):
    def make(**kwargs):
        module, cls = entry.split(":")
        import importlib

        return SafetyGymnasiumToGymnasium(getattr(importlib.import_module(module), cls)(**kwargs))

    return make


def register_all() -> None:
    """Register every dexsafe task id (idempotent)."""
    for env_id, entry in SAFE_TASKS.items():
        if env_id not in gym.registry:
            # 6-tuple envs: no passive checker or TimeLimit (they expect 5-tuples); the env truncates itself.
            gym.register(id=env_id, entry_point=entry, disable_env_checker=True, order_enforce=False)
    for env_id, base in GYMNASIUM_TWINS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=_twin_factory(SAFE_TASKS[base]))


def make(env_id: str, **kwargs):
    """A dexsafe task by id, without gymnasium's wrappers; keyword arguments go to the env.

    Prefer this to ``gymnasium.make`` for the 6-tuple ids: ``gymnasium.make(id, max_episode_steps=N)``
    would wrap the env in a TimeLimit, which expects 5-tuples; here ``max_episode_steps`` reaches the env.
    """
    register_all()
    spec = gym.spec(env_id)
    if not str(env_id).startswith("dexsafe/"):
        raise ValueError(f"{env_id!r} is not a dexsafe task; known: {sorted(SAFE_TASKS) + sorted(GYMNASIUM_TWINS)}")
    creator = spec.entry_point if callable(spec.entry_point) else load_env_creator(spec.entry_point)
    env = creator(**{**spec.kwargs, **kwargs})
    env.spec = spec  # type: ignore[misc]  (what gymnasium.make sets too)
    return env


register_all()

__all__ = ["SAFE_TASKS", "GYMNASIUM_TWINS", "SafeVectorEnv", "SafetyGymnasiumToGymnasium", "make", "make_vec_env",
           "register_all"]
