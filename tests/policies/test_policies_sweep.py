"""Sweeps: algorithms × tasks × seeds in parallel processes, one results table."""

from __future__ import annotations

import csv

import pytest

from dexsafe.policies.algorithms import ConfigError
from dexsafe.policies.sweep import format_summary, plan_sweep, run_sweep, write_results_csv

TINY = {
    "steps_per_epoch": 200, "num_envs": 2, "hidden_sizes": [8, 8], "update_iters": 2,
    "critic_update_iters": 1, "minibatch_size": 100, "cost_limit": 2.0,
}


def test_plan_sweep_names_every_run_and_rejects_unknown_algorithms(tmp_path):
    jobs = plan_sweep(["PPO-Lag", "cpo"], ["toy/PointLine-v0"], [0, 1], tmp_path, overrides=TINY)
    assert [(j.algorithm, j.seed) for j in jobs] == [("ppo_lag", 0), ("ppo_lag", 1), ("cpo", 0), ("cpo", 1)]
    assert jobs[0].out_dir.endswith("ppo_lag_toy-PointLine-v0_seed0")
    with pytest.raises(ConfigError, match="unknown algorithm"):
        plan_sweep(["nope"], ["toy/PointLine-v0"], [0], tmp_path)


@pytest.mark.slow  # two spawned workers each import torch: ~10-20 s on a busy 2-core machine
def test_sweep_runs_jobs_in_parallel_processes_and_tables_the_results(tmp_path):
    jobs = plan_sweep(["ppo_lag"], ["toy/PointLine-v0"], [0, 1], tmp_path, overrides=TINY, total_steps=400)
    jobs.append(plan_sweep(["ppo"], ["toy/Nope-v0"], [0], tmp_path, overrides=TINY, total_steps=400)[0])
    messages = []
    rows = run_sweep(jobs, processes=2, progress=messages.append)
    assert [(r["algorithm"], r["seed"]) for r in rows] == [("ppo_lag", 0), ("ppo_lag", 1), ("ppo", 0)]
    assert rows[0]["steps"] == 400 and not rows[0]["error"] and rows[0]["cost_limit"] == 2.0
    assert "no single-agent toy env" in rows[2]["error"]  # a failed job is reported, the sweep goes on
    assert len(messages) == 3
    path = write_results_csv(rows, tmp_path / "results.csv")
    assert len(list(csv.DictReader(open(path)))) == 3
    table = format_summary(rows)
    assert "ppo_lag" in table and "±" in table
    assert (tmp_path / "ppo_lag_toy-PointLine-v0_seed0" / "checkpoint.pt").is_file()
