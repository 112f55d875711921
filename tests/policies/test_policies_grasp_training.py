"""A tiny PPO run of the residual grasp policy: it trains, exports a small policy-only checkpoint
that says what it was trained for, and that checkpoint executes a held-out pair through the shield."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from dexsafe.policies.grasp_training import train_grasp_policy

    out = tmp_path_factory.mktemp("grasp_train")
    lines = []
    res = train_grasp_policy(out / "run", out / "policy.pt", total_steps=120, seed=0, progress=lines.append,
                             overrides={"steps_per_epoch": 60, "minibatch_size": 30, "update_iters": 2,
                                        "critic_update_iters": 2})
    return res, lines


def test_training_reports_progress_and_exports_a_policy(trained):
    from dexsafe.policies.residual_grasp import ResidualGraspPolicy

    res, lines = trained
    assert res.steps == 120 and len(lines) == 2 and "success" in lines[-1]
    assert (res.run_dir / "curves.png").is_file() and (res.run_dir / "progress.csv").is_file()
    assert (res.run_dir / "success_curve.png").stat().st_size > 5000
    assert res.policy_path.stat().st_size < 400_000, "policy-only: no optimiser or critic state"
    policy = ResidualGraspPolicy(res.policy_path)
    assert policy.spec.hand == "dexsafe_hand" and policy.spec.num_objects == 2 and policy.spec.decide_every == 5
    assert policy.training["steps"] == 120 and "tall_box" in policy.training["object_kinds"]
    assert policy.mismatch("dexsafe_hand", 2, 50.0) == ""
    assert "shadow_hand" in policy.mismatch("shadow_hand", 2, 50.0)
    assert "not 3" in policy.mismatch("dexsafe_hand", 3, 50.0)
    assert "Hz" in policy.mismatch("dexsafe_hand", 2, 100.0)


def test_the_policy_executes_a_held_out_pair(trained, tmp_path):
    from dexsafe.evaluation.grasp_success import evaluate_pairs, load_object_kinds
    from dexsafe.policies.residual_grasp import ResidualGraspPolicy

    res, _ = trained
    policy = ResidualGraspPolicy(res.policy_path)
    matrix = evaluate_pairs([("slim_box", "wide_box")], load_object_kinds(), trials=1, policy=policy,
                            out_dir=tmp_path)
    (trial,) = matrix.trials
    assert trial.sim_time_s > 3.0 and "did not finish" not in trial.note, trial
    assert matrix.executor.startswith("residual policy")


def test_other_checkpoints_are_refused(tmp_path):
    from dexsafe.policies.checkpoint import CheckpointError
    from dexsafe.policies.residual_grasp import ResidualGraspPolicy, load_residual_policy

    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_residual_policy(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        ResidualGraspPolicy(tmp_path / "junk.pt")


def test_cli_train_refuses_bad_steps(capsys):
    from dexsafe.cli.main import main

    assert main(["grasp", "train", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
