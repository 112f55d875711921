"""The validator's squeeze: finger commands that press each contact into its object with a set force.

Checked against an independent route to the same joint torques (the torch hand model's autograd,
not MuJoCo's Jacobians), through MuJoCo's own actuator model, for a fully actuated hand and for
the Shadow Hand's tendon-coupled fingers.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
import torch

from dexsafe.grasping.config import load_config
from dexsafe.grasping.proposals import GraspProposer, ObjectPose
from dexsafe.grasping.validation import GraspValidator
from dexsafe.sim.scene_spec import ObjectSpec

FAST = {"langevin": {"steps": 2}, "refine": {"steps": 2}}


def _ball(pos) -> ObjectPose:
    return ObjectPose(ObjectSpec("ball", "ball", "sphere", (0.03,), mass=0.1, friction=0.9), pos)


def _torch_torques(hand, p, force: float) -> np.ndarray:
    """``d/dtheta sum_k (-force n_k) . x_k(theta)``: the joint torques that press each contact along
    ``-n_k`` with ``force`` N, from the differentiable hand model."""
    theta = torch.tensor(p.q[9:], dtype=torch.float64)[None].requires_grad_(True)
    q = torch.cat([torch.tensor(p.q[:9], dtype=torch.float64)[None], theta], 1)
    h = hand.to("cpu")
    x, _ = h.contact_points(h.forward_kinematics(q.to(h.dtype)), torch.tensor(p.contact_indices)[None],
                            torch.tensor(p.contact_weights, dtype=h.dtype)[None])
    n = torch.tensor(np.array([c.normal for c in p.contacts]), dtype=h.dtype)
    (-force * (x[0] * n).sum()).backward()
    return theta.grad[0].numpy()


@pytest.mark.parametrize("hand_name", ["dexsafe_hand", "shadow_hand"])
def test_squeeze_commands_the_joint_torques_of_the_contact_forces(hand_name):
    gp = GraspProposer(hand_name, load_config("fast_cpu").replace(**FAST))
    objs = [_ball((0.0, 0.0, 0.43))]
    p = gp.propose(objs, num=1, batch=2, time_budget=30.0, seed=3).proposals[0]
    rng = np.random.default_rng(0)
    for c in p.contacts:  # any unit directions will do: this checks the mapping, not the grasp
        v = rng.normal(size=3)
        c.normal = v / np.linalg.norm(v)
    v = GraspValidator(gp.hand, objs, 0.4)
    force = 0.05  # small enough that no actuator reaches its force limit
    offsets = v.squeeze_offsets(p, force)
    m, d, sm = v.model, v.data, v.sm
    v._reset(p, p.joint_positions)
    acts = sm.actuator_ids[6:]
    d.ctrl[acts] = d.actuator_length[acts] + offsets  # commands leading the joints by the offsets
    mujoco.mj_forward(m, d)
    assert np.all(np.abs(d.actuator_force[acts]) < m.actuator_forcerange[acts, 1])
    dofs = np.concatenate([sm.dof_adr[6:], sm.passive_dof_adr]).astype(int)
    got = d.qfrc_actuator[dofs]
    want = _torch_torques(gp.hand, p, force)
    assert np.abs(want).max() > 1e-4
    if hand_name == "dexsafe_hand":  # one actuator per joint: the torques are met exactly
        np.testing.assert_allclose(got, want, atol=2e-5 + 1e-3 * np.abs(want).max())
    else:  # tendon-coupled joints: the best the actuators can do, which projects onto what they reach
        moment = np.zeros((m.nu, m.nv))
        mujoco.mju_sparse2dense(moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
        A = moment[np.ix_(acts, dofs)]  # (actuators, joints)
        np.testing.assert_allclose(A @ got, A @ want, atol=2e-5 + 1e-3 * np.abs(A @ want).max())


def test_squeeze_stays_within_the_actuator_force_limits():
    gp = GraspProposer("dexsafe_hand", load_config("fast_cpu").replace(**FAST))
    objs = [_ball((0.0, 0.0, 0.43))]
    p = gp.propose(objs, num=1, batch=2, time_budget=30.0, seed=3).proposals[0]
    v = GraspValidator(gp.hand, objs, 0.4)
    m, acts = v.model, v.sm.actuator_ids[6:]
    u = v.squeeze_offsets(p, 1e4) * m.actuator_gainprm[acts, 0]
    assert np.all(u <= m.actuator_forcerange[acts, 1] + 1e-9) and np.all(u >= m.actuator_forcerange[acts, 0] - 1e-9)
    assert np.isclose(np.abs(u).max(), m.actuator_forcerange[acts, 1].max())  # the largest torque saturates
