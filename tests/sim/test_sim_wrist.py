"""Wrist joints <-> hand_base pose agree with MuJoCo's own forward kinematics."""

from __future__ import annotations

import mujoco
import numpy as np

from dexsafe.sim.geometry import wxyz_to_xyzw
from dexsafe.sim.mujoco_backend import MujocoBackend
from dexsafe.sim.wrist import pose_to_wrist_joints, wrist_joints_to_pose


def test_wrist_pose_matches_mujoco_fk_and_inverts():
    b = MujocoBackend("two_blocks")
    try:
        rng = np.random.default_rng(0)
        base = mujoco.mj_name2id(b.model, mujoco.mjtObj.mjOBJ_BODY, "hand_base")
        lo, hi = b.ctrl_lower, b.ctrl_upper
        for _ in range(20):
            q = b.home_targets()
            q[:6] = rng.uniform(lo[:6], hi[:6])
            q[3:6] = np.clip(q[3:6], -1.4, 1.4)
            b.set_joint_positions(q)
            xyz, quat = wrist_joints_to_pose(q[:6])
            assert np.allclose(xyz, b.data.xpos[base], atol=1e-9)
            mj = wxyz_to_xyzw(b.data.xquat[base])
            assert min(np.abs(quat - mj).max(), np.abs(quat + mj).max()) < 1e-9
            assert np.allclose(pose_to_wrist_joints(xyz, quat), q[:6], atol=1e-9)
    finally:
        b.close()
