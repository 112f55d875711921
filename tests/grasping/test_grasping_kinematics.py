"""The differentiable hand against MuJoCo's own kinematics, and its generated geometry."""

from __future__ import annotations

import math
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from dexsafe.grasping.hand_model import HandModel, HandModelError
from dexsafe.grasping.rotation import (
    euler_xyz_to_matrix,
    matrix_to_quat_xyzw,
    matrix_to_rot6d,
    quat_xyzw_to_matrix,
    rot6d_to_matrix,
    wrist_euler_candidates,
)

HANDS = ["dexsafe_hand", "shadow_hand"]


# A test hand whose tree has what neither real hand has: a slide joint, a body with two hinges (one
# off its origin) and, at one depth, a slide beside an off-origin hinge (``forward_kinematics`` pads them).
SYNTHETIC = str(Path(__file__).parent / "data" / "synth_hand.yaml")


@pytest.fixture(scope="module", params=HANDS)
def hand(request):
    return HandModel(request.param, dtype=torch.float64)


def test_fk_matches_mujoco_with_slides_and_several_joints_per_body():
    test_fk_matches_mujoco_at_random_configurations(HandModel(SYNTHETIC, dtype=torch.float64))


def _random_config(hm: HandModel, rng):
    xyz = rng.uniform(-0.4, 0.4, 3)
    rpy = rng.uniform(-math.pi / 2, math.pi / 2, 3)
    theta = rng.uniform(hm.joint_lower.numpy(), hm.joint_upper.numpy())
    q = torch.cat([torch.tensor(xyz), matrix_to_rot6d(torch.tensor(euler_xyz_to_matrix(rpy))), torch.tensor(theta)])
    return xyz, rpy, theta, q


def test_fk_matches_mujoco_at_random_configurations(hand):
    sm = hand.scene_model
    m, d = sm.model, mujoco.MjData(sm.model)
    rng = np.random.default_rng(7)
    qs, ref_pos, ref_rot = [], [], []
    for _ in range(20):
        xyz, rpy, theta, q = _random_config(hand, rng)
        d.qpos[sm.qpos_adr] = np.concatenate([xyz, rpy, theta[:hand.num_commanded]])
        d.qpos[sm.passive_qpos_adr] = theta[hand.num_commanded:]
        mujoco.mj_kinematics(m, d)
        qs.append(q)
        ref_pos.append(d.xpos[hand.mj_body_ids].copy())
        ref_rot.append(d.xmat[hand.mj_body_ids].reshape(-1, 3, 3).copy())
    pos, rot = hand.forward_kinematics(torch.stack(qs))
    assert np.abs(pos.numpy() - np.array(ref_pos)).max() < 1e-5
    assert np.abs(rot.numpy() - np.array(ref_rot)).max() < 1e-6


def test_geometry_is_generated_from_the_model(hand):
    assert hand.num_contact_candidates >= 50
    assert hand.surf_local.shape[0] >= 200 and len(hand.kp_pairs) > 0
    # Every contact patch corner lies on a collision geom of its body (MuJoCo's geom distance ~ 0).
    sm = hand.scene_model
    m, d = sm.model, mujoco.MjData(sm.model)
    mujoco.mj_kinematics(m, d)
    q = torch.zeros(1, hand.dof, dtype=torch.float64)
    q[0, :3] = torch.tensor(d.xpos[hand.mj_body_ids[0]])
    q[0, 3:9] = matrix_to_rot6d(torch.tensor(d.xmat[hand.mj_body_ids[0]].reshape(3, 3)))
    fk = hand.forward_kinematics(q)
    centres = hand.transform(fk, hand.cand_body, hand.cand_corners.mean(1))[0].numpy()
    corners = hand.transform(fk, hand.cand_body.repeat_interleave(4), hand.cand_corners.reshape(-1, 3))[0].numpy()
    assert np.isfinite(centres).all()
    # Corners sit on the surface: each is within 1 mm of some hand geom's surface (signed distance by mj_geomDistance
    # is heavy; use the fact that surface points and corners share the same generator: distance to the nearest
    # surface sample is below the sampling spacing).
    surf = hand.surface_points(fk)[0].numpy()
    nearest = np.sqrt(((corners[:, None] - surf[None]) ** 2).sum(-1)).min(1)
    assert np.median(nearest) < 0.01


def test_rotation_round_trips():
    rng = np.random.default_rng(0)
    for _ in range(50):
        rpy = rng.uniform(-1.5, 1.5, 3)
        R = euler_xyz_to_matrix(rpy)
        assert np.allclose(quat_xyzw_to_matrix(matrix_to_quat_xyzw(R)), R, atol=1e-9)
        assert np.allclose(rot6d_to_matrix(matrix_to_rot6d(torch.tensor(R))).numpy(), R, atol=1e-9)
        for cand in wrist_euler_candidates(R):
            assert np.allclose(euler_xyz_to_matrix(cand), R, atol=1e-9)


def test_unknown_hand_is_a_clear_error():
    from dexsafe.sim.hands import HandError

    with pytest.raises((HandError, HandModelError), match="no_such_hand"):
        HandModel("no_such_hand")


def test_joint_couplings_read_from_the_tendons_match_mujoco(hand):
    """The joint-limit energy includes the hand's tendon couplings (the Shadow Hand's distal joints
    follow its middle ones); its violation is MuJoCo's tendon-range violation, in rad."""
    sm = hand.scene_model
    m, d = sm.model, mujoco.MjData(sm.model)
    coupled = [t for t in range(m.ntendon) if m.tendon_limited[t] and m.tendon_num[t] >= 2]
    assert len(hand.coupling_rows) == len(coupled)  # 12 on the Shadow Hand, none on the dexsafe hand
    rng = np.random.default_rng(3)
    wants = []
    for _ in range(10):
        _, _, theta, _ = _random_config(hand, rng)
        d.qpos[sm.qpos_adr[6:]] = theta[:hand.num_commanded]
        d.qpos[sm.passive_qpos_adr] = theta[hand.num_commanded:]
        mujoco.mj_forward(m, d)
        want = 0.0
        for t in coupled:
            adr = m.tendon_adr[t]
            scale = np.abs(m.wrap_prm[adr:adr + m.tendon_num[t]]).max()
            lo, hi = m.tendon_range[t]
            want += (max(d.ten_length[t] - hi, 0.0) + max(lo - d.ten_length[t], 0.0)) / scale
        got = float(hand.joint_violation(torch.tensor(theta)[None])[0])
        assert got == pytest.approx(want, abs=1e-9)
        wants.append(want)
    assert (max(wants) > 0.1) == bool(coupled)  # random joints break the Shadow Hand's couplings


def test_initial_joints_satisfy_the_couplings(hand):
    gen = torch.Generator().manual_seed(0)
    theta = hand.joint_lower + torch.rand(32, hand.num_joints, generator=gen, dtype=hand.dtype) * (
        hand.joint_upper - hand.joint_lower)
    fixed = hand.satisfy_couplings(theta)
    assert float(hand.joint_violation(fixed).max()) < 1e-4
    if not len(hand.coupling_rows):
        assert torch.equal(fixed, theta)


def test_contact_patches_sit_only_on_links_a_closing_joint_moves(hand):
    """Links moved only by joints the hand description marks ``closing: 0`` (wrist, abduction,
    thumb rotation) cannot press on an object, so they get no contact patches (the range-based
    guess this replaced put patches on the Shadow Hand's wrist and little-finger metacarpal)."""
    closing = {j.name: j.closing for j in hand.description.joints}
    palm = hand.body_names.index(hand.description.palm_body)

    def pressed(b: int) -> bool:
        while b > 0 and b != palm:
            for j in hand.bodies[b].joints:
                name = hand.joint_names[j.var]
                if closing.get(name, 1.0) != 0.0:
                    return True
            b = hand.bodies[b].parent
        return b == palm  # palm patches (palm_contacts) are the palm's own

    bodies = set(hand.cand_body.tolist())
    assert bodies and all(pressed(b) for b in bodies), [hand.body_names[b] for b in bodies if not pressed(b)]
    never = {"dexsafe_hand": {"thumb_rotation", "thumb_abduction"},
             "shadow_hand": {"robot0:wrist", "robot0:lfmetacarpal"}}[hand.description.name]
    assert not never & {hand.body_names[b] for b in bodies}
