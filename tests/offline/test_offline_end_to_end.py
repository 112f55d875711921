"""A tiny offline-to-online comparison completes, writes its logs, plot and checkpoints, and the
checkpoints load as policies; the CLI runs pretrain -> finetune on a saved dataset."""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pytest

from dexsafe.policies.offline import load_offline_policy, run_comparison
from dexsafe.policies.offline.checkpoint import OfflineCheckpointError

TINY = {
    "env_id": "toy/PointGoalHazard2D-v0",
    "seeds": [0],
    "dataset": {"quality": "medium", "behaviour": "dexsafe.policies.offline.behaviours:slow_to_goal", "steps": 300},
    "pretrain": {"updates": 20, "batch_size": 32, "log_every": 10},
    "agents": {"edac": {"hidden_sizes": [16], "ensemble_size": 3}, "td3_bc": {"hidden_sizes": [16]},
               "iql": {"hidden_sizes": [16]}},
    "online": {"steps": 40, "eval_every": 20, "eval_episodes": 1, "batch_size": 32},
    "methods": {"so2": {"online": {"updates_per_step": 2, "warmup_steps": 10, "batch_size": 32}}},
}


def test_tiny_comparison_writes_everything(tmp_path):
    result = run_comparison(TINY, tmp_path, progress=lambda s: None)
    assert set(result["runs"]) == {"so2", "td3bc_ft", "iql_ft", "naive"}
    for method, per_seed in result["runs"].items():
        run = per_seed[0]
        assert run["steps"] == [0, 20, 40], method
        assert np.isfinite(run["returns"]).all() and "worst_dip" in run
        rows = list(csv.DictReader(open(tmp_path / "seed0" / method / "progress.csv")))
        assert [int(r["step"]) for r in rows] == [0, 20, 40]
        policy = load_offline_policy(tmp_path / "seed0" / method / "checkpoint.pt")
        act = policy(np.zeros(7, dtype=np.float32))
        assert act.shape == (2,) and np.all(np.abs(act) <= 1.0)
        assert policy.algorithm == method
    so2_rows = list(csv.DictReader(open(tmp_path / "seed0" / "so2" / "progress.csv")))
    assert int(float(so2_rows[-1]["critic_updates"])) == (40 - 10) * 2
    for name in ("summary.csv", "summary.json", "online_returns.png", "dataset.npz", "config.yaml"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "online_returns.png").stat().st_size > 10_000


def test_cli_pretrain_then_finetune(tmp_path, capsys):
    from dexsafe.cli import offline as cli
    from dexsafe.policies.datasets import build_dataset
    from dexsafe.policies.offline.behaviours import slow_to_goal
    from dexsafe.policies.toy_envs import PointGoalHazard2D

    env = PointGoalHazard2D()
    build_dataset(env, "medium", 200, policy=slow_to_goal(env), env_id="toy/PointGoalHazard2D-v0").save(
        tmp_path / "d.npz")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    small = ["--no-progress", "--set", "agents.td3_bc.hidden_sizes=[16]", "--set", "online.eval_episodes=1",
             "--set", "online.eval_every=10"]
    args = parser.parse_args(["pretrain", "td3_bc", "--dataset", str(tmp_path / "d.npz"), "--updates", "20",
                              "--out", str(tmp_path / "pre"), *small])
    assert cli.run(args) == 0
    args = parser.parse_args(["finetune", "naive", "--checkpoint", str(tmp_path / "pre" / "checkpoint.pt"),
                              "--dataset", str(tmp_path / "d.npz"), "--steps", "20", "--out", str(tmp_path / "ft"),
                              *small])
    assert cli.run(args) == 0
    assert (tmp_path / "ft" / "online_returns.png").is_file() and (tmp_path / "ft" / "progress.csv").is_file()
    # the wrong base for a method is a clear error, not a traceback
    args = parser.parse_args(["finetune", "so2", "--checkpoint", str(tmp_path / "pre" / "checkpoint.pt"),
                              "--dataset", str(tmp_path / "d.npz"), "--out", str(tmp_path / "x"), *small])
    assert cli.run(args) == 2
    assert "so2 finetunes a edac checkpoint" in capsys.readouterr().err


def test_bad_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(OfflineCheckpointError, match="not a readable checkpoint"):
        load_offline_policy(tmp_path / "x.pt")
    with pytest.raises(OfflineCheckpointError, match="no checkpoint"):
        load_offline_policy(tmp_path / "missing.pt")
