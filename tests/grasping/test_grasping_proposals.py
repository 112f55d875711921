"""Proposals end to end: request checks, config files, seeding, ranking, the time budget, the
filter, MuJoCo validation and the CLI with its picture."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dexsafe.grasping.config import GraspConfigError, load_config
from dexsafe.grasping.proposals import GraspProposer, GraspRequestError, ObjectPose, check_request
from dexsafe.grasping.rotation import euler_xyz_to_matrix, quat_xyzw_to_matrix
from dexsafe.grasping.validation import GraspValidator, validated_first
from dexsafe.sim.scene_spec import ObjectSpec

FAST = {"langevin": {"steps": 4}, "refine": {"steps": 8}}


def two_boxes() -> list[ObjectPose]:
    a = ObjectSpec("box_a", "box a", "box", (0.022, 0.022, 0.06), mass=0.05, friction=0.9)
    b = ObjectSpec("box_b", "box b", "box", (0.022, 0.022, 0.06), mass=0.05, friction=0.9)
    return [ObjectPose(a, (0.0, -0.03, 0.43)), ObjectPose(b, (0.0, 0.03, 0.43))]


@pytest.fixture(scope="module")
def proposer():
    return GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(**FAST))


def test_configs_load_and_reject_typos(tmp_path):
    paper = load_config("multigrasp")
    assert (paper.energy.w_fc, paper.energy.w_dis, paper.energy.w_pen, paper.energy.w_joint) == (1, 10, 10, 10)
    assert (paper.langevin.steps, paper.refine.steps, paper.batch) == (6500, 1500, 1024)
    assert (paper.filter.max_fc, paper.filter.max_contact_distance) == (0.25, 0.005)
    fast = load_config("fast_cpu")
    # The paper's weights and thresholds inherited unchanged; only FC's edge rounding differs.
    assert dataclasses.replace(fast.energy, fc_rounding=0.0) == paper.energy and fast.filter == paper.filter
    assert fast.langevin.steps < paper.langevin.steps
    bad = tmp_path / "bad.yaml"
    bad.write_text("energy: {w_fcc: 1.0}\n")
    with pytest.raises(GraspConfigError, match="w_fcc"):
        load_config(bad)
    with pytest.raises(GraspConfigError, match="unknown grasping config"):
        load_config("no_such_profile")
    for section, value, needle in [("refine", {"reseat_mode": "nearest"}, "reseat_mode"),
                                   ("refine", {"reseat_mode": "finger"}, "exclusive_fingers"),
                                   ("energy", {"fc_rounding": 1.5}, "fc_rounding")]:
        with pytest.raises(GraspConfigError, match=needle):
            fast.replace(**{section: value})


@pytest.mark.parametrize("kwargs, needle", [
    ({"objects": []}, "no objects"),
    ({"num": 0}, "num_proposals"),
    ({"num": 10_000}, "num_proposals"),
    ({"time_budget": 0.0}, "time_budget"),
    ({"time_budget": math.nan}, "time_budget"),
    ({"time_budget": 1e9}, "time_budget"),
    ({"batch": 0}, "batch"),
])
def test_bad_requests_are_clear_errors(kwargs, needle):
    args = {"objects": two_boxes(), "num": 1, "time_budget": 1.0, "batch": 4} | kwargs
    with pytest.raises(GraspRequestError, match=needle):
        check_request(**args)


def test_bad_poses_are_clear_errors():
    a, b = two_boxes()
    with pytest.raises(GraspRequestError, match="finite"):
        check_request([ObjectPose(a.spec, (math.nan, 0.0, 0.4))], 1, 1.0, 4)
    with pytest.raises(GraspRequestError, match="unit quaternion"):
        check_request([ObjectPose(a.spec, (0.0, 0.0, 0.4), (0.0, 0.0, 0.0, 2.0))], 1, 1.0, 4)
    with pytest.raises(GraspRequestError, match="duplicate"):
        check_request([a, a], 1, 1.0, 4)


def test_proposals_are_seeded_ranked_and_consistent(proposer):
    objs = two_boxes()
    r1 = proposer.propose(objs, num=4, batch=6, time_budget=60.0, seed=5)
    r2 = proposer.propose(objs, num=4, batch=6, time_budget=60.0, seed=5)
    assert [p.energy_total for p in r1.proposals] == [p.energy_total for p in r2.proposals]
    assert np.array_equal(r1.proposals[0].q, r2.proposals[0].q)
    keys = [(not p.passed_filter, p.energy_total) for p in r1.proposals]
    assert keys == sorted(keys)
    hand = proposer.hand
    for p in r1.proposals:
        assert len(p.contacts) == 2 * proposer.config.hand.contacts_per_object
        assert {c.object_id for c in p.contacts} == {"box_a", "box_b"}
        assert math.isclose(sum(v for v, _ in p.energy.values()), p.energy_total, rel_tol=1e-5, abs_tol=1e-7)
        R = quat_xyzw_to_matrix(p.hand_quat_xyzw)
        assert np.allclose(euler_xyz_to_matrix(p.wrist_rpy), R, atol=1e-5)
        assert len(p.joint_names) == len(p.joint_positions) == hand.num_joints
        assert 0 < p.score <= 1
    assert r1.optim.steps_a == 4 and r1.optim.steps_b == 8 and not r1.optim.stopped_by_budget


def test_time_budget_stops_the_optimiser():
    gp = GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(langevin={"steps": 10_000}))
    res = gp.propose(two_boxes(), num=2, batch=4, time_budget=1.0, seed=0)
    assert res.optim.stopped_by_budget and res.optim.steps_a < 10_000
    assert res.seconds < 6.0 and len(res.proposals) == 2


def test_a_run_the_budget_cuts_still_ends_annealed():
    """Cut by its budget, each phase's schedules run on the clock: the last Adam steps use the decayed
    learning rate and the last Langevin steps the low temperature, not the schedule's start."""
    gp = GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(langevin={"steps": 2000},
                                                                        refine={"steps": 20_000}))
    res = gp.propose(two_boxes(), num=2, batch=4, time_budget=4.0, seed=0)
    assert res.optim.stopped_by_budget
    assert res.optim.steps_a < 2000 and res.optim.steps_b < 20_000
    assert res.optim.schedule_reached["langevin"] > 0.85 and res.optim.schedule_reached["refine"] > 0.85
    # Not cut: the schedules follow the steps, so a seed gives the same run.
    quick = GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(langevin={"steps": 3}, refine={"steps": 4}))
    r = quick.propose(two_boxes(), num=2, batch=4, time_budget=60.0, seed=0)
    assert not r.optim.stopped_by_budget and r.optim.schedule_reached == {"langevin": 1.0, "refine": 1.0}


def test_validation_fails_a_hand_that_holds_nothing(proposer):
    objs = two_boxes()
    p = proposer.propose(objs, num=1, batch=2, time_budget=30.0, seed=1).proposals[0]
    p.hand_position = p.hand_position + np.array([0.0, 0.0, 0.3])  # lift the hand well clear of the boxes
    p.q = p.q.copy()
    p.q[2] += 0.3
    v = GraspValidator(proposer.hand, objs, 0.4, gravity_time=0.2, settle_time=0.05, lift_time=0.2, hold_time=0.05)
    res = v.validate(p)
    assert set(res.gravity) == {"box_a", "box_b"} and all(len(d) == 6 for d in res.gravity.values())
    assert not any(res.gravity_passed.values()) and not res.lift_passed and not res.passed
    assert "gravity 0/6" in res.summary() and "lift FAILED" in res.summary()
    # Without gravity nothing moves, so an object the hand does not touch fails only for "not touching".
    assert max(abs(r) for r in res.lift_rise.values()) < 0.01


def test_proposals_that_hold_in_mujoco_move_to_the_front():
    from types import SimpleNamespace as NS

    held, lost = NS(passed=True), NS(passed=False)
    ps = [NS(id="a", passed_filter=True, validation=None), NS(id="b", passed_filter=True, validation=lost),
          NS(id="c", passed_filter=False, validation=held), NS(id="d", passed_filter=True, validation=held),
          NS(id="e", passed_filter=True, validation=held)]
    assert [p.id for p in validated_first(ps)] == ["d", "e", "a", "b", "c"]


@pytest.mark.slow
def test_two_boxes_yield_proposals_that_pass_the_filter_and_validation():
    """The default profile on a small CPU budget (batches of 64, two threads, about 12 s each here):
    proposals pass MultiGrasp's filter and at least one of them holds both boxes in MuJoCo (gravity
    in all six directions, then close and lift). Measured on seeds 0-5 (one batch each): 34-51 of
    64 pass the filter and 0-7 of those the validation (24 of 229; seed 2 none), so the test draws
    up to three batches (seeds 0, 1, 2) and stops at the first proposal that holds. Seed 0 without
    the energy-minimising re-seat (``reseat_mode: finger``) passed 17, without the rounded-edge FC
    (``fc_rounding: 0``) 14, with neither (the profile before) 4-6: the floor of 25 per batch fails
    if either is lost."""
    gp = GraspProposer("dexsafe_hand", threads=2)
    objs = two_boxes()
    v = GraspValidator(gp.hand, objs, 0.4)
    seen = []
    for seed in (0, 1, 2):
        res = gp.propose(objs, num=64, batch=64, time_budget=240.0, seed=seed)
        accepted = [p for p in res.proposals if p.passed_filter]
        assert len(accepted) >= 25, [p.filter_failures for p in res.proposals[:4]]
        for p in accepted:
            r = v.validate(p)
            if r.passed:
                return
            seen.append(f"seed {seed}: {r.summary()}")
    pytest.fail("no accepted proposal of three batches holds both boxes:\n" + "\n".join(seen))


def test_cli_propose_writes_a_picture(tmp_path, capsys):
    import argparse

    from dexsafe.cli import grasp

    cfg = tmp_path / "tiny.yaml"
    root = Path(__file__).resolve().parents[2]
    cfg.write_text(f"extends: {root / 'config' / 'grasping' / 'fast_cpu.yaml'}\n"
                   "langevin: {steps: 3}\nrefine: {steps: 5}\n")
    parser = argparse.ArgumentParser()
    grasp.add_arguments(parser)
    png = tmp_path / "out.png"
    args = parser.parse_args(["propose", "--scene", "two_blocks", "--objects", "red_block,blue_block", "--n", "4",
                              "--top", "2", "--budget", "20", "--config", str(cfg), "--no-validate",
                              "--png", str(png), "--json", str(tmp_path / "out.json")])
    assert grasp.run(args) == 0
    out = capsys.readouterr().out
    assert "samples passed the filter" in out and "#0 E=" in out
    from PIL import Image

    with Image.open(png) as im:
        assert im.size == (2 * 480, 360)
    bad = parser.parse_args(["propose", "--scene", "two_blocks", "--objects", "nope", "--config", str(cfg)])
    assert grasp.run(bad) == 2
    assert "unknown object" in capsys.readouterr().err
    no_gpu = parser.parse_args(["propose", "--scene", "two_blocks", "--device", "cuda:99", "--config", str(cfg)])
    assert grasp.run(no_gpu) == 2
    assert "cuda:99" in capsys.readouterr().err


def test_torch_threads_are_restored(proposer):
    before = torch.get_num_threads()
    proposer.propose(two_boxes(), num=1, batch=2, time_budget=30.0, seed=0)
    assert torch.get_num_threads() == before


def test_shadow_hand_proposes_and_validates():
    gp = GraspProposer("shadow_hand", load_config("fast_cpu").replace(**FAST))
    objs = two_boxes()
    res = gp.propose(objs, num=1, batch=2, time_budget=30.0, seed=0)
    p = res.proposals[0]
    assert p.joint_names[:2] == ["robot0:WRJ1", "robot0:WRJ0"] and p.joint_names[-1] == "robot0:LFJ0"
    v = GraspValidator(gp.hand, objs, 0.4, gravity_time=0.05, settle_time=0.02, lift_time=0.05, hold_time=0.02)
    assert set(v.validate(p).gravity) == {"box_a", "box_b"}


def test_an_accepted_single_ball_grasp_lifts_the_ball():
    """The close-and-lift check carries what the grasp holds: a fast_cpu batch on one ball has
    accepted grasps, and the best-lifting one raises the ball with the hand (with the wrist
    teleported up step by step, as before the servo-driven lift, the ball slipped: 7.4 cm at best)."""
    gp = GraspProposer("dexsafe_hand")
    ball = ObjectSpec("ball", "ball", "sphere", (0.03,), mass=0.05, friction=0.9)
    objs = [ObjectPose(ball, (0.0, 0.0, 0.43))]
    res = gp.propose(objs, num=16, batch=16, time_budget=120.0, seed=0)
    accepted = [p for p in res.proposals if p.passed_filter]
    assert accepted, "no accepted single-ball grasp"
    v = GraspValidator(gp.hand, objs, 0.4, gravity_time=0.05, settle_time=0.1)
    rises = [v.validate(p).lift_rise["ball"] for p in accepted[:4]]
    assert max(rises) > 0.08, rises
