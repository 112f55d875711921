"""Offline pretraining, online finetuning and the SO2-vs-baselines comparison, with logs and checkpoints.

- :func:`pretrain`: gradient steps of a base agent (EDAC, TD3+BC, IQL) on a dataset.
- :func:`finetune`: the online phase of any method (see :mod:`~dexsafe.policies.offline.so2`)::

      for t = 1..T:                                   (T = online.steps)
          a_t ~ π(·|s_t); step the env; add the row to the online and offline buffers
          if t > warmup_steps:
              repeat updates_per_step times: agent.update(mixed batch)
          every eval_every steps: deterministic evaluation

- :func:`train_behaviour_policy`: a short SAC run from scratch, whose policy makes
  "medium" data and whose replay is the "medium-replay" dataset.
- :func:`run_comparison`: dataset -> per seed: pretrain each needed base once, finetune every
  method from it -> ``progress.csv`` per run, ``summary.csv``/``summary.json``, ``online_returns.png``.

Run folder of a comparison::

    out/config.yaml  dataset.npz  summary.csv  summary.json  online_returns.png
    out/seed{S}/pretrain_{base}.pt   out/seed{S}/pretrain_{base}.csv
    out/seed{S}/{method}/progress.csv  checkpoint.pt
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dexsafe.policies.datasets import OfflineDataset, build_dataset, load_dataset
from dexsafe.policies.logger import TrainingLogger
from dexsafe.policies.offline.base import OffPolicyAgent
from dexsafe.policies.offline.buffers import MixedSampler, ReplayBuffer
from dexsafe.policies.offline.checkpoint import load_agent, save_agent
from dexsafe.policies.offline.edac import EDAC, EDACConfig
from dexsafe.policies.offline.so2 import AGENTS, METHODS, OnlineConfig, agent_config, finetune_agent, online_config

__all__ = ["FinetuneResult", "evaluate", "finetune", "pretrain", "run_comparison", "summarize_run",
           "train_behaviour_policy"]

#: Columns of every online ``progress.csv`` (fixed, so runs of different methods line up).
ONLINE_COLUMNS = ("eval_return", "eval_cost", "train_return", "train_cost", "critic_loss", "actor_loss", "q_mean",
                  "critic_updates", "actor_updates", "online_rows", "wall_time")


def _make_env(env_id: str, env_kwargs: Mapping[str, Any] | None = None):
    from dexsafe.policies.envs import make_env

    return make_env(env_id, **dict(env_kwargs or {}))


def _to_env(a: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return low + (np.asarray(a, dtype=np.float64) + 1.0) * 0.5 * (high - low)


def evaluate(agent: OffPolicyAgent, env: Any, episodes: int, seed: int, action_low, action_high) -> tuple[float, float]:
    """Mean undiscounted return and cost of ``episodes`` deterministic episodes."""
    low, high = np.asarray(action_low, dtype=np.float64), np.asarray(action_high, dtype=np.float64)
    returns, costs = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=int(seed) + i)
        ret = cost = 0.0
        done = False
        while not done:
            obs, r, c, term, trunc, _ = env.step(_to_env(agent.act(obs, deterministic=True), low, high))
            ret, cost, done = ret + float(r), cost + float(c), bool(term or trunc)
        returns.append(ret)
        costs.append(cost)
    return float(np.mean(returns)), float(np.mean(costs))


# ---------------------------------------------------------------------------- offline
def pretrain(base: str, dataset: OfflineDataset, config: Any = None, updates: int = 10_000, batch_size: int = 256,
             seed: int = 0, logger: TrainingLogger | None = None, log_every: int = 1000,
             on_update: Callable[[int], None] | None = None) -> OffPolicyAgent:
    """Train base agent ``base`` (``edac`` | ``td3_bc`` | ``iql``) for ``updates`` gradient steps on ``dataset``."""
    if base not in AGENTS:
        raise ValueError(f"unknown offline algorithm {base!r}; choose from {sorted(AGENTS)}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ds = dataset.with_next_observations()
    agent_cls, cfg_cls = AGENTS[base]
    cfg = config if config is not None else cfg_cls()
    agent = agent_cls(ds.obs_dim, ds.act_dim, cfg, ds.observations.mean(0), ds.observations.std(0))
    buffer = ReplayBuffer.from_dataset(ds, shuffle_seed=seed)
    t0 = time.perf_counter()
    acc: dict[str, list[float]] = {}
    for k in range(1, updates + 1):
        for key, value in agent.update(buffer.sample(batch_size, rng)).items():
            acc.setdefault(key, []).append(value)
        if on_update is not None:
            on_update(1)
        if logger is not None and (k % log_every == 0 or k == updates):
            row = {key: float(np.mean(v)) for key, v in acc.items() if key in ("critic_loss", "actor_loss", "q_mean")}
            logger.log({"critic_loss": math.nan, "actor_loss": math.nan, "q_mean": math.nan, **row,
                        "wall_time": time.perf_counter() - t0}, step=k)
            acc.clear()
    return agent


# ---------------------------------------------------------------------------- online
@dataclass
class FinetuneResult:
    agent: OffPolicyAgent
    rows: list[dict[str, float]] = field(default_factory=list)
    """One row per evaluation (step 0 = the pretrained policy)."""

    @property
    def eval_steps(self) -> list[int]:
        return [int(r["step"]) for r in self.rows]

    @property
    def eval_returns(self) -> list[float]:
        return [r["eval_return"] for r in self.rows]


def finetune(agent: OffPolicyAgent, dataset: OfflineDataset, env: Any, online: OnlineConfig, *, seed: int = 0,
             eval_env: Any = None, logger: TrainingLogger | None = None,
             on_step: Callable[[int], None] | None = None) -> FinetuneResult:
    """Online phase of one method from ``agent`` (see the module doc); returns the evaluations."""
    ds = dataset.with_next_observations()
    low, high = ds.action_bounds()
    env_low = np.asarray(env.action_space.low, dtype=np.float64)
    env_high = np.asarray(env.action_space.high, dtype=np.float64)
    if env_low.shape != low.shape or not (np.allclose(env_low, low) and np.allclose(env_high, high)):
        raise ValueError(f"the env's action box {env_low}..{env_high} differs from the dataset's {low}..{high}")
    if int(env.observation_space.shape[0]) != ds.obs_dim:
        raise ValueError(f"the env's observations have {env.observation_space.shape[0]} entries, "
                         f"the dataset's {ds.obs_dim}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    eval_env = eval_env if eval_env is not None else env
    capacity = len(ds) if online.replace_offline else len(ds) + online.steps
    offline = ReplayBuffer.from_dataset(ds, capacity=capacity, shuffle_seed=seed)
    online_buf = ReplayBuffer(max(1, min(online.online_capacity, online.steps)), ds.obs_dim, ds.act_dim)
    sampler = MixedSampler(offline, online_buf, online.online_ratio)
    result = FinetuneResult(agent)
    t0 = time.perf_counter()
    ep_ret = ep_cost = 0.0
    finished: list[tuple[float, float]] = []
    metrics: dict[str, list[float]] = {}

    def log_eval(step: int) -> None:
        ret, cost = evaluate(agent, eval_env, online.eval_episodes, seed + 10_000, low, high)
        row = {
            "step": step, "eval_return": ret, "eval_cost": cost,
            "train_return": float(np.mean([f[0] for f in finished])) if finished else math.nan,
            "train_cost": float(np.mean([f[1] for f in finished])) if finished else math.nan,
            **{k: float(np.mean(metrics[k])) if metrics.get(k) else math.nan
               for k in ("critic_loss", "actor_loss", "q_mean")},
            "critic_updates": agent.critic_updates, "actor_updates": agent.actor_updates,
            "online_rows": online_buf.added, "wall_time": time.perf_counter() - t0,
        }
        result.rows.append(row)
        if logger is not None:
            logger.log({k: v for k, v in row.items() if k != "step"}, step=step)
        finished.clear()
        metrics.clear()

    log_eval(0)
    obs, _ = env.reset(seed=seed)
    agent.train()
    for t in range(1, online.steps + 1):
        a = agent.act(obs, deterministic=False)
        nxt, r, c, term, trunc, _ = env.step(_to_env(a, low, high))
        for buf in (online_buf, offline):
            buf.add(obs, a, r, c, nxt, term)
        ep_ret, ep_cost = ep_ret + float(r), ep_cost + float(c)
        obs = nxt
        if term or trunc:
            finished.append((ep_ret, ep_cost))
            ep_ret = ep_cost = 0.0
            obs, _ = env.reset()
        if t > online.warmup_steps:
            for _ in range(online.updates_per_step):
                for key, value in agent.update(sampler.sample(online.batch_size, rng)).items():
                    metrics.setdefault(key, []).append(value)
        if on_step is not None:
            on_step(1)
        if t % online.eval_every == 0 or t == online.steps:
            log_eval(t)
    return result


def summarize_run(steps: list[int], returns: list[float], last: int = 3) -> dict[str, float]:
    """Start return, final (mean of the last ``last`` evaluations), gain, and the worst dip.

    ``worst_dip`` = ``min_t (R_t - R_0) / |R_0|`` (a fraction, ≤ 0 when it ever fell below the
    start; NaN when R_0 = 0), ``auc`` = mean return over the evaluations.
    """
    r = np.asarray(returns, dtype=np.float64)
    start = float(r[0])
    final = float(r[-last:].mean()) if len(r) > 1 else start
    dip = float(min(0.0, (r.min() - start) / abs(start))) if abs(start) > 1e-12 else math.nan
    return {"start": start, "final": final, "gain": final - start, "worst_dip": dip, "auc": float(r.mean())}


# ---------------------------------------------------------------------------- behaviour data
def train_behaviour_policy(env: Any, steps: int, seed: int = 0, random_steps: int = 1000, hidden: int = 64,
                           batch_size: int = 256, on_step: Callable[[int], None] | None = None
                           ) -> tuple[Callable[[np.ndarray], np.ndarray], OfflineDataset]:
    """SAC (twin critics, learned α) from scratch for ``steps`` env steps.

    Returns ``(policy, replay)``: the final deterministic policy (env-box actions) and
    every transition it collected, random warm-up included, as a "medium-replay" dataset.
    """
    low = np.asarray(env.action_space.low, dtype=np.float64)
    high = np.asarray(env.action_space.high, dtype=np.float64)
    obs_dim, act_dim = int(env.observation_space.shape[0]), int(low.shape[0])
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = EDACConfig(hidden_sizes=(hidden, hidden), ensemble_size=2, eta=0.0, actor_lr=1e-3, critic_lr=1e-3)
    agent = EDAC(obs_dim, act_dim, cfg)
    buf = ReplayBuffer(steps, obs_dim, act_dim)
    rows: dict[str, list] = {k: [] for k in ("observations", "actions", "rewards", "costs", "terminals", "timeouts",
                                             "next_observations")}
    obs, _ = env.reset(seed=seed)
    for t in range(steps):
        a = rng.uniform(-1, 1, act_dim).astype(np.float32) if t < random_steps else agent.act(obs, False)
        env_a = _to_env(a, low, high)
        nxt, r, c, term, trunc, _ = env.step(env_a)
        buf.add(obs, a, r, c, nxt, term)
        for key, value in zip(rows, (obs, env_a, r, c, term, trunc and not term, nxt)):
            rows[key].append(value)
        obs = nxt
        if term or trunc:
            obs, _ = env.reset()
        if t >= random_steps:
            agent.update(buf.sample(batch_size, rng))
        if on_step is not None:
            on_step(1)
    rows["timeouts"][-1] = rows["timeouts"][-1] or not rows["terminals"][-1]
    replay = OfflineDataset(**{k: np.asarray(v) for k, v in rows.items()},
                            metadata={"quality": "medium-replay", "source": "sim", "action_low": low.tolist(),
                                      "action_high": high.tolist(), "seed": seed})
    agent.eval()
    return (lambda o: _to_env(agent.act(o, True), low, high)), replay


def make_dataset(cfg: Mapping[str, Any], env_id: str, env_kwargs: Mapping[str, Any] | None,
                 progress: Callable[[str], None] = print) -> OfflineDataset:
    """The dataset a comparison config asks for (``dataset:`` section; see config/so2/cpu.yaml)."""
    if cfg.get("path"):
        return load_dataset(cfg["path"])
    env = _make_env(env_id, env_kwargs)
    quality = str(cfg.get("quality", "medium"))
    steps, seed, noise = int(cfg.get("steps", 10_000)), int(cfg.get("seed", 0)), float(cfg.get("noise", 0.3))
    behaviour = str(cfg.get("behaviour", "random"))
    policy = None
    if quality == "medium-replay" or behaviour == "train":
        progress(f"[dataset] training a behaviour policy for {cfg.get('behaviour_steps', steps)} steps")
        policy, replay = train_behaviour_policy(env, int(cfg.get("behaviour_steps", steps)), seed)
        if quality == "medium-replay":
            replay.metadata["env_id"] = env_id
            return replay
    elif ":" in behaviour:
        from dexsafe.policies.envs import _import_factory

        policy = _import_factory(behaviour)(env, **dict(cfg.get("behaviour_kwargs") or {}))
    elif behaviour not in ("random", "none"):
        from dexsafe.policies.offline.checkpoint import load_offline_policy

        policy = load_offline_policy(behaviour)
    ds = build_dataset(env, quality, steps, policy=policy, noise=noise, seed=seed, env_id=env_id)
    env.close()
    return ds


# ---------------------------------------------------------------------------- comparison
def _needed_bases(methods: list[str]) -> list[str]:
    return sorted({METHODS[m].base for m in methods})


def run_comparison(config: Mapping[str, Any], out_dir: str | Path | None, methods: list[str] | None = None,
                   seeds: list[int] | None = None, progress: Callable[[str], None] = print,
                   on_step: Callable[[int], None] | None = None, dataset: OfflineDataset | None = None,
                   tensorboard: bool = False) -> dict[str, Any]:
    """Pretrain and finetune every method over seeds (config layout: ``config/so2/cpu.yaml``).

    Returns ``{"runs": {method: {seed: {"steps", "returns", "costs", ...summary}}}, "dataset": summary,
    "paths": {...}}``. ``out_dir=None`` keeps everything in memory (no files).
    """
    methods = list(methods or config.get("methods_to_run") or list(METHODS))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {sorted(METHODS)}")
    seeds = [int(s) for s in (seeds if seeds is not None else config.get("seeds", [0]))]
    env_id, env_kwargs = str(config["env_id"]), dict(config.get("env_kwargs") or {})
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        import yaml

        (out / "config.yaml").write_text(yaml.safe_dump(dict(config), sort_keys=False))
    if dataset is None:
        dataset = make_dataset(config.get("dataset", {}), env_id, env_kwargs, progress)
    dataset = dataset.with_next_observations()
    if out is not None:
        dataset.save(out / "dataset.npz")
    progress(f"[dataset] {dataset.summary()}")
    low, high = dataset.action_bounds()
    pre = dict(config.get("pretrain") or {})
    agents_cfg = dict(config.get("agents") or {})
    online_shared = dict(config.get("online") or {})
    method_cfg = dict(config.get("methods") or {})
    runs: dict[str, dict[int, dict[str, Any]]] = {m: {} for m in methods}
    for seed in seeds:
        seed_dir = out / f"seed{seed}" if out is not None else None
        bases: dict[str, Path | OffPolicyAgent] = {}
        for base in _needed_bases(methods):
            progress(f"[seed {seed}] pretraining {base} for {pre.get('updates', 10_000)} updates")
            logger = TrainingLogger(seed_dir / f"pretrain_{base}", tensorboard=tensorboard) if seed_dir else None
            agent = pretrain(base, dataset, agent_config(base, agents_cfg.get(base, {})),
                             int(pre.get("updates", 10_000)), int(pre.get("batch_size", 256)), seed, logger,
                             int(pre.get("log_every", 1000)), on_update=None)
            if logger is not None:
                logger.close()
            if seed_dir is not None:
                bases[base] = save_agent(agent, seed_dir / f"pretrain_{base}.pt", action_low=low, action_high=high,
                                         env_id=env_id, env_kwargs=env_kwargs, phase="offline")
            else:
                bases[base] = agent
        for method in methods:
            spec = METHODS[method]
            mcfg = dict(method_cfg.get(method) or {})
            online = online_config(method, online_shared, mcfg.get("online", {}))
            base_src = bases[spec.base]
            if isinstance(base_src, Path):
                pretrained, _ = load_agent(base_src, optimizers=False)
            else:
                pretrained = _clone(base_src)
            agent = finetune_agent(method, pretrained, online, mcfg.get("agent", {}))
            progress(f"[seed {seed}] finetuning {method} for {online.steps} steps "
                     f"(UTD {online.updates_per_step}, batch {online.batch_size})")
            run_dir = seed_dir / method if seed_dir is not None else None
            logger = TrainingLogger(run_dir, tensorboard=tensorboard) if run_dir else None
            env, eval_env = _make_env(env_id, env_kwargs), _make_env(env_id, env_kwargs)
            res = finetune(agent, dataset, env, online, seed=seed, eval_env=eval_env, logger=logger, on_step=on_step)
            env.close()
            eval_env.close()
            if logger is not None:
                logger.close()
            summary = summarize_run(res.eval_steps, res.eval_returns)
            if run_dir is not None:
                save_agent(agent, run_dir / "checkpoint.pt", action_low=low, action_high=high, env_id=env_id,
                           env_kwargs=env_kwargs, method=method, phase="online",
                           extra={"seed": seed, **summary, "online": asdict(online)})
            runs[method][seed] = {"steps": res.eval_steps, "returns": res.eval_returns,
                                  "costs": [r["eval_cost"] for r in res.rows], **summary}
            progress(f"[seed {seed}] {method}: start {summary['start']:.3f} -> final {summary['final']:.3f}, "
                     f"worst dip {100 * summary['worst_dip']:.1f}%")
    result = {"runs": runs, "dataset": dataset.summary(), "env_id": env_id, "paths": {}}
    if out is not None:
        result["paths"] = write_summary(result, out)
    return result


def _clone(agent: OffPolicyAgent) -> OffPolicyAgent:
    import copy

    return copy.deepcopy(agent)


def write_summary(result: Mapping[str, Any], out: Path) -> dict[str, str]:
    """``summary.csv`` (one row per method and seed), ``summary.json`` and ``online_returns.png``."""
    from dexsafe.policies.offline.plots import plot_online_returns

    rows = []
    for method, per_seed in result["runs"].items():
        for seed, run in per_seed.items():
            rows.append({"method": method, "seed": seed, **{k: run[k] for k in ("start", "final", "gain",
                                                                                  "worst_dip", "auc")}})
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ["method", "seed", "start", "final", "gain", "worst_dip", "auc"])
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.json").write_text(json.dumps({k: v for k, v in result.items() if k != "paths"}, indent=1,
                                                 default=str))
    png = plot_online_returns(result["runs"], out / "online_returns.png", title=f"{result.get('env_id', '')}: "
                              f"online finetuning from offline pretraining")
    return {"summary_csv": str(out / "summary.csv"), "summary_json": str(out / "summary.json"), "plot": str(png)}
