"""Issue 5's learning check on the project's fast constrained task: a seeded PPO-Lagrangian run on
dexsafe/SafeReach-v0 ends with average episode cost under the limit while plain PPO's stays above it.

Budget: 24k environment steps per run, 4 envs, 1 seed (about a minute per run on 2 cores). Measured
while writing this (cost limit 2, last three epochs): PPO 3.3-3.8 (seeds 0, 1), PPO-Lag 1.2 (seed 0)
and 0.9 (seed 1), equal reward (about 2.25).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow
COST_LIMIT = 2.0


def _final_cost(algo: str, seed: int = 0) -> tuple[float, float]:
    import torch

    from dexsafe.policies import train
    from dexsafe.policies.algorithms import algorithm_class
    from dexsafe.policies.benchmarks import BENCH_CONFIG

    torch.set_num_threads(1)
    cls = algorithm_class(algo)
    cfg = {k: v for k, v in BENCH_CONFIG.items() if k in cls.config_class.__dataclass_fields__}
    cfg["cost_limit"] = COST_LIMIT
    if "lambda_lr" in cls.config_class.__dataclass_fields__:
        cfg["lambda_lr"] = 0.5
    result = train(algo, "dexsafe/SafeReach-v0", cfg, seed=seed, total_steps=24_000, tensorboard=False)
    last = result.rows[-3:]
    return (float(np.mean([r["episode_cost"] for r in last])), float(np.mean([r["episode_reward"] for r in last])))


def test_ppo_lag_meets_the_cost_limit_on_safe_reach_where_ppo_does_not():
    ppo_cost, ppo_reward = _final_cost("ppo")
    lag_cost, lag_reward = _final_cost("ppo_lag")
    assert ppo_cost > COST_LIMIT, f"plain PPO should exceed the limit here (cost {ppo_cost:.2f})"
    assert lag_cost < COST_LIMIT, f"PPO-Lag should end under the limit (cost {lag_cost:.2f}, PPO {ppo_cost:.2f})"
    assert lag_reward > 0.5 * ppo_reward, "PPO-Lag keeps most of the reward"
