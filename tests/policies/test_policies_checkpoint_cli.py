"""Checkpoints round-trip (policy, full state, resume), the YAML configs are valid and
commented, and ``dexsafe train`` writes CSV, TensorBoard, PNG and a checkpoint."""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dexsafe.policies import ALGORITHMS, load_policy, train
from dexsafe.policies.algorithms import algorithm_class, config_from_dict
from dexsafe.policies.checkpoint import CheckpointError, load_checkpoint
from dexsafe.policies.training import load_config_file

ROOT = Path(__file__).resolve().parents[2]
TINY = {
    "steps_per_epoch": 200,
    "num_envs": 2,
    "hidden_sizes": [8, 8],
    "update_iters": 2,
    "critic_update_iters": 2,
    "minibatch_size": 100,
    "cost_limit": 2.0,
    "checkpoint_every": 1,
}




def test_load_policy_reproduces_the_trained_actor(tmp_path):
    result = train("ppo_lag", "toy/PointGoalHazard2D-v0", TINY, seed=0, total_steps=400, out_dir=tmp_path)
    policy = load_policy(tmp_path / "checkpoint.pt")
    algo = result.algorithm
    assert policy.obs_dim == 7 and policy.act_dim == 2 and policy.algorithm == "ppo_lag"
    obs = np.random.default_rng(0).normal(size=(5, 7))
    with torch.no_grad():
        raw = algo.model.actor(algo.normalize_obs(obs), deterministic=True)
    np.testing.assert_allclose(policy(obs), algo.to_env_action(raw), atol=1e-6)
    single = policy(obs[0])
    assert single.shape == (2,) and np.all(np.abs(single) <= 1.0)
    assert load_policy(tmp_path).metadata["env_id"] == "toy/PointGoalHazard2D-v0"  # a run folder works too
    with pytest.raises(ValueError, match=r"expected \(7,\)"):
        policy(np.zeros(3))
    with pytest.raises(ValueError, match="NaN or inf"):
        policy(np.full(7, np.nan))


def test_saute_checkpoint_says_the_policy_needs_the_budget_in_its_observation(tmp_path):
    train("saute_ppo", "toy/PointLine-v0", TINY, seed=0, total_steps=200, out_dir=tmp_path)
    policy = load_policy(tmp_path)
    assert policy.obs_dim == 3 and policy.metadata["obs_augmentation"] == "saute"
    assert policy(np.array([0.0, 0.0, 1.0])).shape == (1,)


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_policy(tmp_path / "missing.pt")
    bogus = tmp_path / "bogus.pt"
    torch.save({"hello": 1}, bogus)
    with pytest.raises(CheckpointError, match="is not a dexsafe-policy-checkpoint/1 file"):
        load_checkpoint(bogus)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "text.pt")


def test_resume_restores_the_saved_state_and_extends_the_log(tmp_path):
    """Resuming from epoch 2 restores weights, optimisers, λ, normaliser and counters."""
    full = train("ppo_lag", "toy/PointLine-v0", TINY, seed=5, total_steps=400, out_dir=tmp_path / "a")
    state = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    assert state["global_step"] == 400 and state["epoch"] == 2
    resumed = train(
        "ppo_lag", "toy/PointLine-v0", seed=5, total_steps=800, out_dir=tmp_path / "a",
        resume=tmp_path / "a" / "checkpoint.pt",
    )
    algo = resumed.algorithm
    assert algo.global_step == 800 and algo.epoch == 4
    rows = list(csv.DictReader(open(tmp_path / "a" / "progress.csv")))
    assert [int(r["step"]) for r in rows] == [200, 400, 600, 800]
    # the restored state is the saved one (checked on a fresh algorithm object)
    from dexsafe.policies import make_vector_env
    from dexsafe.policies.algorithms import make_algorithm

    fresh = make_algorithm("ppo_lag", make_vector_env("toy/PointLine-v0", 2), state["config"], seed=99)
    fresh.load_state_dict(state["state"])
    for p, q in zip(fresh.model.parameters(), full.algorithm.model.parameters()):
        torch.testing.assert_close(p, q)
    assert fresh.lagrange.value == full.algorithm.lagrange.value
    np.testing.assert_allclose(fresh.obs_normalizer.mean, full.algorithm.obs_normalizer.mean)
    with pytest.raises(CheckpointError, match="trained with 'ppo_lag', not 'cpo'"):
        train("cpo", "toy/PointLine-v0", resume=tmp_path / "a")


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_has_a_valid_fully_commented_yaml(name):
    path = ROOT / "config" / "policies" / f"{name}.yaml"
    values = load_config_file(path)
    config = config_from_dict(algorithm_class(name).config_class, values)
    assert config.cost_limit == 25.0  # SafePO's default
    for line in path.read_text().splitlines():
        if re.match(r"^[a-z_]+:", line):
            assert "#" in line, f"{path.name}: key without a comment: {line}"


def test_cli_train_writes_csv_tensorboard_png_and_checkpoint(tmp_path, capsys):
    from dexsafe.cli import train as cli_train

    parser = argparse.ArgumentParser()
    cli_train.add_arguments(parser)
    out = tmp_path / "run"
    argv = ["cppo_pid", "--env", "dexsafe.policies.toy_envs:PointLineCost", "--steps", "400",
            "--out", str(out), "--no-progress", "--env-arg", "horizon=8"]
    for key, value in TINY.items():
        argv += ["--set", f"{key}={value}"]
    assert cli_train.run(parser.parse_args(argv)) == 0
    printed = capsys.readouterr().out
    assert "cppo_pid on dexsafe.policies.toy_envs:PointLineCost: 400 steps" in printed
    rows = list(csv.DictReader(open(out / "progress.csv")))
    assert len(rows) == 2 and {"episode_reward", "episode_cost", "lagrange_multiplier"} <= set(rows[0])
    assert float(rows[0]["episode_length"]) == 8.0  # the env argument reached the factory
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert load_policy(out).algorithm == "cppo_pid"
    # resume from the run folder's checkpoint
    argv2 = ["cppo_pid", "--env", "dexsafe.policies.toy_envs:PointLineCost", "--steps", "600",
             "--out", str(out), "--no-progress", "--resume", "--no-tensorboard", "--env-arg", "horizon=8"]
    assert cli_train.run(parser.parse_args(argv2)) == 0
    assert len(list(csv.DictReader(open(out / "progress.csv")))) == 3


def test_cli_train_reports_errors_without_a_traceback(tmp_path, capsys):
    from dexsafe.cli import train as cli_train

    parser = argparse.ArgumentParser()
    cli_train.add_arguments(parser)
    cases = [
        (["sac", "--env", "toy/PointLine-v0"], "unknown algorithm 'sac'"),
        (["ppo"], "--env is required"),
        (["ppo", "--env", "toy/PointLine-v0", "--set", "nokey"], "must look like KEY=VALUE"),
        (["ppo", "--env", "toy/PointLine-v0", "--set", "clip=1", "--out", str(tmp_path)], "unknown PPOConfig keys"),
        (["ppo", "--env", "no_such_mod_q:make", "--out", str(tmp_path)], "cannot import"),
        (["ppo", "--env", "toy/PointLine-v0", "--out", str(tmp_path / "x"), "--resume"], "no checkpoint at"),
    ]
    for argv, message in cases:
        assert cli_train.run(parser.parse_args(argv)) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_library_imports_neither_ros_nor_the_simulator_and_the_shield_not_even_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from dexsafe.policies import SafetyShield, ShieldLimits, JointState, make_env\n"
        "assert 'torch' not in sys.modules, 'the shield path imported torch'\n"
        "from dexsafe.policies import train, load_policy, ALGORITHMS\n"
        "import dexsafe.policies.sweep, dexsafe.policies.toy_envs\n"
        "bad = [m for m in ('rclpy', 'mujoco', 'dexsafe.sim', 'gymnasium') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
