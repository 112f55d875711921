"""Benchmark groups of ``dexsafe.policies`` for ``make bench`` (each ``run_*(progress)``).

- ``run_shield``: the safety shield's per-tick compute time, p50 and p99, on the
  project's hand (limits from the simulator when it is importable, else the
  example YAML); the goal from issue 5 is p99 under 1 ms in-process.
- ``run_training_throughput``: environment steps per second of training (rollout
  and update together) per algorithm on the fast constrained task.
- ``run_constrained``: final episode reward and cost per algorithm over seeds on
  the fast task, cost against the cost limit and reward against plain PPO's, with
  SafePO's published behaviour as the note. Budget from the environment
  variables ``DEXSAFE_BENCH_RL_STEPS`` (default 40000) and ``DEXSAFE_BENCH_RL_SEEDS``
  (default 3): small budgets say little; see ``shared/reference/safepo.md``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dexsafe.evaluation.bench import BenchRow, percentile

FAST_TASK = "dexsafe/SafeReach-v0"
FALLBACK_TASK = "toy/PointGoalHazard2D-v0"

#: Small, fast settings shared by the training rows (not SafePO's 1e7-step budget).
BENCH_CONFIG = {
    "steps_per_epoch": 2000,
    "num_envs": 4,
    "hidden_sizes": [64, 64],
    "update_iters": 10,
    "critic_update_iters": 10,
    "minibatch_size": 250,
    "actor_lr": 1e-3,
    "critic_lr": 1e-3,
    "linear_lr_decay": False,
    "cost_limit": 5.0,
    "lambda_lr": 0.1,
}


def _fast_task() -> str:
    try:
        from dexsafe.policies.envs import make_env

        make_env(FAST_TASK).close()
        return FAST_TASK
    except Exception:  # noqa: BLE001 - no simulator here: fall back to the toy task
        return FALLBACK_TASK


def _shield_limits():
    from dexsafe.policies.shield import ShieldLimits

    try:
        from dexsafe.sim.scene_spec import load_scene
        from dexsafe.sim.shield_limits import shield_limits_for

        return ShieldLimits.from_dict(shield_limits_for(load_scene("two_blocks"))), "dexsafe_hand in two_blocks"
    except Exception:  # noqa: BLE001
        path = Path(__file__).resolve().parent.parent / "config" / "shield" / "example_hand.yaml"
        return ShieldLimits.from_yaml(path), "config/shield/example_hand.yaml"


def run_shield(progress: Callable[[str], None] = print, ticks: int = 20_000) -> list[BenchRow]:
    from dexsafe.policies.shield import JointState, SafetyShield

    limits, source = _shield_limits()
    shield = SafetyShield(limits)
    lower, upper = limits.effective_bounds()
    rng = np.random.default_rng(0)
    q = (lower + upper) / 2
    fingers = list(limits.finger_joints)
    times = []
    for k in range(ticks):
        now = k * limits.control_period
        command = q + rng.normal(scale=0.2, size=q.size)  # often clamped and rate-limited
        forces = {f: float(rng.uniform(0, 2 * min(limits.max_contact_force, 50.0))) for f in fingers}
        t0 = time.perf_counter()
        shield.filter(command, JointState(q, now), now, forces)
        times.append(time.perf_counter() - t0)
    progress(f"[bench] shield: {ticks} ticks on {source}")
    detail = f"{limits.num_joints} joints, {len(fingers)} fingers, random commands and contact forces; {source}"
    goal = "issue 5 goal: p99 < 1 ms"
    return [
        BenchRow("policies", "shield tick p50", percentile(times, 50) * 1e3, "ms", 1.0, goal, detail=detail),
        BenchRow("policies", "shield tick p99", percentile(times, 99) * 1e3, "ms", 1.0, goal, detail=detail),
    ]


def run_training_throughput(progress: Callable[[str], None] = print, steps: int = 4000) -> list[BenchRow]:
    import torch

    from dexsafe.policies.algorithms import ALGORITHMS, MULTI_AGENT
    from dexsafe.policies.training import train

    torch.set_num_threads(1)
    task = _fast_task()
    # warm-up: the first optimiser step of a process imports torch._dynamo (seconds)
    train("ppo", FALLBACK_TASK, {"steps_per_epoch": 100, "update_iters": 1, "critic_update_iters": 1}, total_steps=100)
    net = "-".join(str(h) for h in BENCH_CONFIG["hidden_sizes"])
    rows = []
    for name, cls in ALGORITHMS.items():
        if name in MULTI_AGENT:
            continue  # needs a multi-agent task
        cfg = {k: v for k, v in BENCH_CONFIG.items() if k in cls.config_class.__dataclass_fields__}
        t0 = time.perf_counter()
        train(name, task, cfg, seed=0, total_steps=steps)
        rate = steps / (time.perf_counter() - t0)
        progress(f"[bench] train {name} on {task}: {rate:.0f} steps/s")
        rows.append(BenchRow("policies", f"train {name} throughput", rate, "steps/s", None, "",
                             higher_is_better=True,
                             detail=f"{task}, {steps} steps, {BENCH_CONFIG['num_envs']} envs, {net} MLP, 1 thread"))
    return rows


SAFEPO_NOTE = {
    "ppo": "SafePO/OmniSafe: PPO ignores cost (e.g. HopperVel cost 550)",
    "ppo_lag": "OmniSafe table: cost near the limit, 40-70% of PPO's reward",
    "cppo_pid": "OmniSafe table: steadiest cost of the Lagrangian methods",
    "cpo": "OmniSafe table: cost near the limit",
}


def run_constrained(progress: Callable[[str], None] = print) -> list[BenchRow]:
    import torch

    from dexsafe.policies.algorithms import algorithm_class
    from dexsafe.policies.training import train

    torch.set_num_threads(1)
    steps = int(os.environ.get("DEXSAFE_BENCH_RL_STEPS", "40000"))
    seeds = range(int(os.environ.get("DEXSAFE_BENCH_RL_SEEDS", "3")))
    task = _fast_task()
    limit = BENCH_CONFIG["cost_limit"]
    results: dict[str, tuple[list[float], list[float]]] = {}
    for name in ("ppo", "ppo_lag", "cppo_pid", "cpo"):
        cls = algorithm_class(name)
        cfg = {k: v for k, v in BENCH_CONFIG.items() if k in cls.config_class.__dataclass_fields__}
        rewards, costs = [], []
        for seed in seeds:
            result = train(name, task, cfg, seed=seed, total_steps=steps)
            last = result.rows[-3:]  # the last three epochs
            rewards.append(float(np.nanmean([r["episode_reward"] for r in last])))
            costs.append(float(np.nanmean([r["episode_cost"] for r in last])))
            progress(f"[bench] {name} seed {seed}: reward {rewards[-1]:.3g}, cost {costs[-1]:.3g}")
        results[name] = (rewards, costs)
    ppo_reward = float(np.mean(results["ppo"][0]))
    rows = []
    for name, (rewards, costs) in results.items():
        detail = (
            f"{task}, {steps} steps x {len(rewards)} seeds; "
            f"std reward {np.std(rewards):.3g}, cost {np.std(costs):.3g}"
        )
        rows.append(BenchRow("policies", f"{name} final episode cost", float(np.mean(costs)), "cost/episode",
                             limit, f"cost limit; {SAFEPO_NOTE[name]}", detail=detail))
        rows.append(BenchRow("policies", f"{name} final episode reward", float(np.mean(rewards)), "reward/episode",
                             ppo_reward if name != "ppo" and math.isfinite(ppo_reward) else None,
                             "plain PPO's reward" if name != "ppo" else "", higher_is_better=True, detail=detail))
    return rows
