"""Environments for training: one ``make_env`` for every CMDP, a synchronous vector env,
and the Saute budget wrapper. Numpy only; gymnasium and the simulator load lazily.

Every environment speaks the Safety-Gymnasium step API, cost as its own channel::

    obs, info = env.reset(seed=...)
    obs, reward, cost, terminated, truncated, info = env.step(action)

:func:`make_env` accepts:

- ``"toy/PointLine-v0"`` and the other ids in :data:`dexsafe.policies.toy_envs.TOY_ENVS`;
- ``"package.module:function"`` (or ``:Class``): any importable factory;
- ``"dexsafe/SafeReach-v0"`` and other ``dexsafe/...`` ids: ``dexsafe.sim.envs`` is
  imported first (that registers them), then ``gymnasium.make``;
- any other gymnasium id. An env whose ``step`` returns gymnasium's five values
  (the Safety-Gymnasium ``...Gymnasium-v0`` twins) is adapted, with the cost
  taken from ``info["cost"]``;
- a callable returning an env, or an env object itself.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "CostFromInfo",
    "EnvSpecError",
    "SauteWrapper",
    "SyncVectorCMDP",
    "SyncVectorMultiAgentCMDP",
    "env_max_episode_steps",
    "make_multi_agent_env",
    "make_env",
    "make_vector_env",
]


class EnvSpecError(ValueError):
    """An environment id or object that the trainer cannot use; the message says why."""


def _import_factory(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise EnvSpecError(f"env factory {spec!r} must look like 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EnvSpecError(f"cannot import {module_name!r} for env {spec!r}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise EnvSpecError(f"{module_name!r} has no attribute {attr!r} (env {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise EnvSpecError(f"env factory {spec!r} is not callable")
    return obj


def _check_spaces(env: Any, what: str) -> None:
    for name in ("observation_space", "action_space"):
        space = getattr(env, name, None)
        if space is None or not hasattr(space, "shape"):
            raise EnvSpecError(f"{what} has no {name} with a shape")
        if space.shape is None or len(space.shape) != 1:
            raise EnvSpecError(
                f"{what}: {name} must be a flat Box (1-D float vector); got {space!r}"
            )
    act = env.action_space
    if not (hasattr(act, "low") and hasattr(act, "high")):
        raise EnvSpecError(f"{what}: action_space must be a continuous Box with low/high; got {act!r}")
    if not (np.isfinite(act.low).all() and np.isfinite(act.high).all()):
        raise EnvSpecError(f"{what}: action_space bounds must be finite; got {act.low}..{act.high}")


class CostFromInfo:
    """Adapts a gymnasium five-value ``step`` to the six-value CMDP API (cost = ``info['cost']``)."""

    def __init__(self, env: Any) -> None:
        self.env = env
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.max_episode_steps = env_max_episode_steps(env)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, float(info.get("cost", 0.0)), terminated, truncated, info

    def close(self) -> None:
        self.env.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


class _StepArityCheck:
    """Checks the first ``step`` result: six values -> pass through, five -> adapt, else error."""

    def __init__(self, env: Any, what: str) -> None:
        self.env = env
        self._what = what
        self._mode: str | None = None
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.max_episode_steps = env_max_episode_steps(env)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        out = self.env.step(action)
        if self._mode is None:
            if not isinstance(out, tuple) or len(out) not in (5, 6):
                raise EnvSpecError(
                    f"{self._what}.step() must return (obs, reward, cost, terminated, truncated, info); "
                    f"got {type(out).__name__} of length {len(out) if hasattr(out, '__len__') else '?'}"
                )
            self._mode = "cmdp" if len(out) == 6 else "gym"
        if self._mode == "gym":
            obs, reward, terminated, truncated, info = out
            return obs, reward, float(info.get("cost", 0.0)), terminated, truncated, info
        return out

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.env, name)


def env_max_episode_steps(env: Any) -> int | None:
    """The env's episode length limit if it declares one (attribute or gymnasium spec)."""
    for obj in (env, getattr(env, "unwrapped", None)):
        n = getattr(obj, "max_episode_steps", None)
        if isinstance(n, int) and n > 0:
            return n
    spec = getattr(env, "spec", None)
    n = getattr(spec, "max_episode_steps", None)
    return n if isinstance(n, int) and n > 0 else None


def make_env(env_id: str | Callable[..., Any] | Any, **kwargs: Any) -> Any:
    """Build one CMDP environment from an id, a factory path, a callable or an env object.

    Raises :class:`EnvSpecError` with the reason when the id cannot be resolved or
    the env is not a continuous-control CMDP.
    """
    what = repr(env_id) if isinstance(env_id, str) else type(env_id).__name__
    if isinstance(env_id, str):
        from dexsafe.policies.toy_envs import TOY_ENVS

        if env_id in TOY_ENVS:
            env = TOY_ENVS[env_id](**kwargs)
        elif env_id.startswith("toy/"):
            from dexsafe.policies.toy_envs import TOY_MULTI_AGENT_ENVS

            hint = " (a multi-agent env: train it with mappo_lag)" if env_id in TOY_MULTI_AGENT_ENVS else ""
            raise EnvSpecError(f"no single-agent toy env {env_id!r}{hint}; choose from {sorted(TOY_ENVS)}")
        elif ":" in env_id and all(
            part.isidentifier() for part in env_id.replace(":", ".").split(".")
        ):
            env = _import_factory(env_id)(**kwargs)
        else:
            sim_make = None
            if env_id.startswith("dexsafe/"):
                try:
                    sim_envs = importlib.import_module("dexsafe.sim.envs")
                except ImportError as exc:
                    raise EnvSpecError(
                        f"env {env_id!r} needs the simulator (dexsafe.sim.envs): {exc}"
                    ) from exc
                # the simulator's own make() skips gymnasium's 5-tuple wrappers
                sim_make = getattr(sim_envs, "make", None)
            try:
                import gymnasium
            except ImportError as exc:
                raise EnvSpecError(f"env {env_id!r} is a gymnasium id but gymnasium is not installed") from exc
            try:
                if sim_make is not None:
                    env = sim_make(env_id, **kwargs)
                else:
                    env = gymnasium.make(env_id, disable_env_checker=True, **kwargs)
            except gymnasium.error.Error as exc:
                raise EnvSpecError(f"gymnasium cannot make {env_id!r}: {exc}") from exc
    elif isinstance(env_id, type) or (callable(env_id) and not hasattr(env_id, "step")):
        env = env_id(**kwargs)
    else:
        env = env_id
    if getattr(env, "num_envs", None) is not None and not hasattr(env, "single_action_space"):
        raise EnvSpecError(f"{what} looks vectorised but has no single_action_space")
    if hasattr(env, "single_action_space"):
        return env  # already a vector env in the SyncVectorCMDP protocol
    _check_spaces(env, what)
    return _StepArityCheck(env, what)


class SyncVectorCMDP:
    """N copies of a CMDP stepped in lockstep, with automatic reset and episode bookkeeping.

    ``step(actions[N, act_dim])`` returns ``obs[N, obs_dim], reward[N], cost[N],
    terminated[N], truncated[N], info`` where ``obs`` rows of finished envs are
    already the first observation of their next episode and ``info`` holds

    - ``final_obs``: ``[N, obs_dim]``, the last observation of the episode that
      just ended (rows where ``terminated | truncated``; needed to bootstrap the
      value of a time-limit truncation);
    - ``episodes``: a list of ``{"return", "cost", "length"}`` for episodes that
      ended this step. ``return`` uses ``info["reward_unshaped"]`` when a wrapper
      (e.g. Saute) changed the reward, so logs always show the task's reward.

    An env that is already vectorised can replace this class if it offers
    ``num_envs``, ``single_observation_space``, ``single_action_space`` and the
    same ``reset``/``step`` contract.
    """

    def __init__(self, env_fns: list[Callable[[], Any]]) -> None:
        if not env_fns:
            raise EnvSpecError("a vector env needs at least one env")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.max_episode_steps = env_max_episode_steps(first)
        for e in self.envs[1:]:
            if e.observation_space.shape != first.observation_space.shape:
                raise EnvSpecError("all envs in a vector env must have the same observation shape")
        self._ep_return = np.zeros(self.num_envs)
        self._ep_cost = np.zeros(self.num_envs)
        self._ep_len = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self, seed: int | None = None):
        obs = []
        for i, env in enumerate(self.envs):
            o, _ = env.reset(seed=None if seed is None else seed + i)
            obs.append(np.asarray(o, dtype=np.float32))
        self._ep_return[:] = 0.0
        self._ep_cost[:] = 0.0
        self._ep_len[:] = 0
        return np.stack(obs), {}

    def step(self, actions: np.ndarray):
        n = self.num_envs
        obs_dim = self.single_observation_space.shape[0]
        next_obs = np.empty((n, obs_dim), dtype=np.float32)
        final_obs = np.zeros((n, obs_dim), dtype=np.float32)
        reward = np.empty(n)
        cost = np.empty(n)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        episodes = []
        for i, env in enumerate(self.envs):
            o, r, c, term, trunc, info = env.step(actions[i])
            reward[i], cost[i] = float(r), float(c)
            terminated[i], truncated[i] = bool(term), bool(trunc)
            self._ep_return[i] += float(info.get("reward_unshaped", r)) if info else float(r)
            self._ep_cost[i] += float(c)
            self._ep_len[i] += 1
            if term or trunc:
                final_obs[i] = o
                episodes.append(
                    {
                        "return": float(self._ep_return[i]),
                        "cost": float(self._ep_cost[i]),
                        "length": int(self._ep_len[i]),
                    }
                )
                self._ep_return[i] = self._ep_cost[i] = 0.0
                self._ep_len[i] = 0
                o, _ = env.reset()
            next_obs[i] = o
        if not (np.isfinite(reward).all() and np.isfinite(cost).all()):
            raise EnvSpecError(f"env returned non-finite reward {reward} or cost {cost}")
        return next_obs, reward, cost, terminated, truncated, {"final_obs": final_obs, "episodes": episodes}

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()


def make_vector_env(
    env_id: str | Callable[..., Any],
    num_envs: int = 1,
    wrapper: Callable[[Any], Any] | None = None,
    **kwargs: Any,
) -> SyncVectorCMDP:
    """``num_envs`` copies of :func:`make_env` ``(env_id, **kwargs)``, each passed through ``wrapper``."""
    if num_envs < 1:
        raise EnvSpecError(f"num_envs must be >= 1, got {num_envs}")
    probe = make_env(env_id, **kwargs)
    if hasattr(probe, "single_action_space"):
        if wrapper is not None:
            raise EnvSpecError("cannot apply an observation wrapper to an already-vectorised env")
        return probe

    def factory(first=[probe]):  # noqa: B006 - reuse the probe env as the first copy
        env = first.pop() if first else make_env(env_id, **kwargs)
        return wrapper(env) if wrapper is not None else env

    return SyncVectorCMDP([factory for _ in range(num_envs)])


class SauteWrapper:
    """Saute RL (Sootla et al., 2022): make the safety budget part of the state.

    With cost limit d per episode, episode length T and discount γ_s
    (``saute_gamma``), the budget is normalised to
    ``D = d (1 - γ_s^T) / ((1 - γ_s) T)`` (``D = d`` when γ_s = 1) and tracked as
    ``z_0 = 1,  z_{t+1} = (z_t - c_t / D) / γ_s``. The observation becomes
    ``[obs, z]``; while ``z > 0`` the reward is unchanged, once the budget is
    spent (``z <= 0``) every reward is replaced by ``unsafe_reward``. Any
    unconstrained algorithm on the wrapped env then solves the constrained
    problem almost surely within budget. The task's own reward is kept in
    ``info["reward_unshaped"]`` so logs stay comparable.
    """

    def __init__(
        self,
        env: Any,
        cost_limit: float,
        saute_gamma: float = 0.999,
        unsafe_reward: float = -0.2,
        max_episode_steps: int | None = None,
    ) -> None:
        from dexsafe.policies.toy_envs import Box

        self.env = env
        horizon = max_episode_steps or env_max_episode_steps(env)
        if horizon is None:
            raise EnvSpecError("SauteWrapper needs max_episode_steps (the env declares none)")
        if cost_limit <= 0:
            raise EnvSpecError(f"SauteWrapper needs cost_limit > 0, got {cost_limit}")
        if not 0 < saute_gamma <= 1:
            raise EnvSpecError(f"saute_gamma must be in (0, 1], got {saute_gamma}")
        self.max_episode_steps = horizon
        self.saute_gamma = float(saute_gamma)
        self.unsafe_reward = float(unsafe_reward)
        if saute_gamma < 1.0:
            self.budget = cost_limit * (1 - saute_gamma**horizon) / ((1 - saute_gamma) * horizon)
        else:
            self.budget = float(cost_limit)
        low = np.append(np.asarray(env.observation_space.low, np.float32), -np.inf)
        high = np.append(np.asarray(env.observation_space.high, np.float32), np.inf)
        self.observation_space = Box(low=low, high=high)
        self.action_space = env.action_space
        self._z = 1.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._z = 1.0
        return np.append(np.asarray(obs, np.float32), np.float32(self._z)), info

    def step(self, action):
        obs, reward, cost, terminated, truncated, info = self.env.step(action)
        self._z = (self._z - float(cost) / self.budget) / self.saute_gamma
        info = dict(info)
        info["reward_unshaped"] = float(reward)
        info["saute_budget"] = self._z
        shaped = float(reward) if self._z > 0 else self.unsafe_reward
        return (
            np.append(np.asarray(obs, np.float32), np.float32(self._z)),
            shaped,
            cost,
            terminated,
            truncated,
            info,
        )

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


# ---------------------------------------------------------------------------- multi-agent
def _agent_spaces(env: Any, what: str) -> tuple[list[str], dict[str, Any], dict[str, Any]]:
    agents = list(getattr(env, "possible_agents", None) or getattr(env, "agents", None) or [])
    if not agents:
        raise EnvSpecError(f"{what} is not a multi-agent env: it has no possible_agents/agents")
    obs_spaces, act_spaces = {}, {}
    for agent in agents:
        for kind, store in (("observation", obs_spaces), ("action", act_spaces)):
            spaces = getattr(env, f"{kind}_spaces", None)
            if isinstance(spaces, dict) and agent in spaces:
                store[agent] = spaces[agent]
            elif callable(getattr(env, f"{kind}_space", None)):
                store[agent] = getattr(env, f"{kind}_space")(agent)
            else:
                raise EnvSpecError(f"{what} has no {kind} space for agent {agent!r}")
        holder = type("_AgentView", (), {"observation_space": obs_spaces[agent], "action_space": act_spaces[agent]})
        _check_spaces(holder, f"{what} agent {agent!r}")
    return agents, obs_spaces, act_spaces


def make_multi_agent_env(env_id: str | Callable[..., Any] | Any, **kwargs: Any) -> Any:
    """One multi-agent CMDP (dict-keyed Safety-Gymnasium ``make_ma`` API) from a toy id,
    a ``package.module:function`` factory, a callable or an env object."""
    from dexsafe.policies.toy_envs import TOY_MULTI_AGENT_ENVS

    if isinstance(env_id, str):
        if env_id in TOY_MULTI_AGENT_ENVS:
            return TOY_MULTI_AGENT_ENVS[env_id](**kwargs)
        if ":" in env_id:
            return _import_factory(env_id)(**kwargs)
        raise EnvSpecError(
            f"multi-agent env {env_id!r}: give a 'package.module:function' factory or one of "
            f"{sorted(TOY_MULTI_AGENT_ENVS)}"
        )
    if isinstance(env_id, type) or (callable(env_id) and not hasattr(env_id, "step")):
        return env_id(**kwargs)
    return env_id


class SyncVectorMultiAgentCMDP:
    """N copies of a multi-agent CMDP in lockstep, arrays stacked per agent.

    ``step({agent: actions[N, act_dim]})`` returns ``obs, rewards, costs`` as
    ``{agent: array[N, ...]}`` and ``terminated, truncated`` as ``[N]`` (an episode
    ends for all agents when any agent's ends), plus ``info`` with ``final_obs``
    (``{agent: [N, obs_dim]}``) and ``episodes`` (``{"return": {agent: R},
    "cost": {agent: C}, "length": T}`` per finished episode).
    """

    def __init__(self, env_fns: list[Callable[[], Any]]) -> None:
        if not env_fns:
            raise EnvSpecError("a vector env needs at least one env")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        self.agents, self.observation_spaces, self.action_spaces = _agent_spaces(
            self.envs[0], type(self.envs[0]).__name__
        )
        self.max_episode_steps = env_max_episode_steps(self.envs[0])
        self._ep_return = {a: np.zeros(self.num_envs) for a in self.agents}
        self._ep_cost = {a: np.zeros(self.num_envs) for a in self.agents}
        self._ep_len = np.zeros(self.num_envs, dtype=np.int64)

    def _stack(self, per_env: list[dict[str, Any]]) -> dict[str, np.ndarray]:
        return {a: np.stack([np.asarray(o[a], dtype=np.float32) for o in per_env]) for a in self.agents}

    def reset(self, seed: int | None = None):
        obs = [env.reset(seed=None if seed is None else seed + i)[0] for i, env in enumerate(self.envs)]
        for a in self.agents:
            self._ep_return[a][:] = 0.0
            self._ep_cost[a][:] = 0.0
        self._ep_len[:] = 0
        return self._stack(obs), {}

    def step(self, actions: dict[str, np.ndarray]):
        n = self.num_envs
        next_obs: list[dict[str, Any]] = []
        final_obs = {a: np.zeros((n, self.observation_spaces[a].shape[0]), np.float32) for a in self.agents}
        rewards = {a: np.zeros(n) for a in self.agents}
        costs = {a: np.zeros(n) for a in self.agents}
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        episodes = []
        for i, env in enumerate(self.envs):
            o, r, c, term, trunc, _ = env.step({a: actions[a][i] for a in self.agents})
            for a in self.agents:
                rewards[a][i], costs[a][i] = float(r[a]), float(c[a])
                self._ep_return[a][i] += float(r[a])
                self._ep_cost[a][i] += float(c[a])
            terminated[i] = any(bool(term[a]) for a in self.agents)
            truncated[i] = not terminated[i] and any(bool(trunc[a]) for a in self.agents)
            self._ep_len[i] += 1
            if terminated[i] or truncated[i]:
                for a in self.agents:
                    final_obs[a][i] = o[a]
                episodes.append(
                    {
                        "return": {a: float(self._ep_return[a][i]) for a in self.agents},
                        "cost": {a: float(self._ep_cost[a][i]) for a in self.agents},
                        "length": int(self._ep_len[i]),
                    }
                )
                for a in self.agents:
                    self._ep_return[a][i] = self._ep_cost[a][i] = 0.0
                self._ep_len[i] = 0
                o, _ = env.reset()
            next_obs.append(o)
        return self._stack(next_obs), rewards, costs, terminated, truncated, {
            "final_obs": final_obs,
            "episodes": episodes,
        }

    def close(self) -> None:
        for env in self.envs:
            close = getattr(env, "close", None)
            if close is not None:
                close()
