"""MujocoBackend: commands, sensing, contacts, cameras, the wrist's reach."""

from __future__ import annotations

import numpy as np
import pytest

from dexsafe.sim.backend import SimBackend, make_backend
from dexsafe.sim.mujoco_backend import MujocoBackend


@pytest.fixture(scope="module")
def backend():
    b = MujocoBackend("two_blocks")
    yield b
    b.close()


def test_sim_backend_is_a_sim_backend(backend):
    assert isinstance(backend, SimBackend)
    assert backend.joint_names == backend.hand.joint_names
    assert backend.timestep == pytest.approx(0.002)
    with pytest.raises(ValueError, match="unknown simulator backend"):
        make_backend("gazebo")


def test_sim_bad_targets_are_value_errors(backend):
    n = len(backend.joint_names)
    with pytest.raises(ValueError, match="expected 22 values"):
        backend.set_joint_targets(np.zeros(n - 1))
    bad = backend.targets
    bad[7] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        backend.set_joint_targets(bad)
    q = backend.targets
    q[7] = 100.0
    backend.set_joint_targets(q)
    assert backend.targets[7] == pytest.approx(backend.ctrl_upper[7])


def test_sim_joint_and_object_states_have_ros_conventions(backend):
    backend.reset(seed=1)
    js = backend.joint_state()
    assert js.names[: len(backend.joint_names)] == backend.joint_names
    assert js.position.shape == js.velocity.shape == js.effort.shape == (len(js.names),)
    np.testing.assert_allclose(js.position[:3], backend.home_targets()[:3], atol=1e-3)
    for o in backend.object_states():
        assert np.linalg.norm(o.orientation) == pytest.approx(1.0)
        # upright box: the rotation is about z only, so x = y = 0 in xyzw order
        assert abs(o.orientation[0]) < 1e-2 and abs(o.orientation[1]) < 1e-2


def _reach_down_and_back_up(backend) -> None:
    backend.reset(seed=0)
    q = backend.home_targets()
    start = backend.joint_state().position[2]
    for z in np.linspace(start, 0.55, 40):  # reach down, 0.35 m, at <0.5 m/s
        q[2] = z
        backend.set_joint_targets(q)
        backend.step(10)
    backend.step(100)
    assert backend.joint_state().position[2] == pytest.approx(0.55, abs=0.005)
    for z in np.linspace(0.55, 0.80, 30):  # and back up
        q[2] = z
        backend.set_joint_targets(q)
        backend.step(10)
    backend.step(100)
    js = backend.joint_state()
    assert js.position[2] == pytest.approx(0.80, abs=0.005)
    assert np.all(np.abs(js.position[3:6]) < 0.01)  # the wrist stayed level
    assert backend.warning_count() == 0


@pytest.mark.parametrize("hand", ["dexsafe_hand", "shadow_hand"])
def test_sim_wrist_reaches_down_and_lifts_under_position_control(backend, hand):
    if hand == backend.hand.name:
        _reach_down_and_back_up(backend)
    else:
        with MujocoBackend("two_blocks", hand) as other:
            _reach_down_and_back_up(other)


def test_sim_contacts_with_the_table_push_up(backend):
    backend.reset(seed=0)
    q = backend.home_targets()
    q[0], q[1] = -0.3, 0.2  # away from the blocks
    backend.set_joint_positions(q)
    for z in np.linspace(q[2], 0.46, 60):
        q[2] = z
        backend.set_joint_targets(q)
        backend.step(10)
    backend.step(250)  # come to rest, pressing on the table
    table = [c for c in backend.contacts() if c.other == "table"]
    assert table, "the hand should touch the table"
    assert sum(c.normal_force for c in table) > 1.0
    for c in table:
        assert c.normal[2] > 0.9  # the table pushes the hand up
        assert c.position[2] == pytest.approx(backend.scene.table.height, abs=0.01)
    # Statics: the hand's weight is compensated, so the table's push balances the wrist's z servo.
    push = sum(c.normal_force * c.normal[2] for c in table)
    wrist_z = backend.joint_state().effort[2]
    assert push == pytest.approx(-wrist_z, rel=0.05)


def test_sim_render_and_point_cloud_land_on_the_scene(backend):
    backend.reset(seed=0)
    q = backend.home_targets()
    q[0], q[1] = -0.45, -0.35  # out of the top camera's view of the objects
    backend.set_joint_positions(q)
    rgb, depth = backend.render("overview", 160, 120)
    assert rgb.shape == (120, 160, 3) and rgb.dtype == np.uint8
    assert depth.shape == (120, 160) and depth.dtype == np.float32
    assert rgb.std() > 10  # not blank
    cloud = backend.point_cloud("top", 160, 120)
    assert cloud.dtype == np.float32 and cloud.shape[1] == 3
    h = backend.scene.table.height
    sx, sy = backend.scene.table.size
    on_table = (np.abs(cloud[:, 2] - h) < 0.004) & (np.abs(cloud[:, 0]) < sx / 2) & (np.abs(cloud[:, 1]) < sy / 2)
    on_floor = np.abs(cloud[:, 2]) < 0.004
    near_obj = np.zeros(len(cloud), bool)
    for o, pos in zip(backend.object_ids, backend.object_positions()):
        close = np.linalg.norm(cloud - pos, axis=1) < backend.sm.geometry[o].bounding_radius + 0.004
        assert close.sum() > 10, f"no points on {o}"
        near_obj |= close
    hand = cloud[:, 2] > h + 0.25  # the open hand, high above (if in view)
    assert np.mean(on_table | on_floor | near_obj | hand) > 0.995
    assert on_table.sum() > 0.3 * len(cloud)
    with pytest.raises(ValueError, match="unknown camera"):
        backend.render("nope")


@pytest.mark.parametrize("seed", [0, 7])
def test_sim_hand_grasps_two_blocks_together_and_lifts_them(backend, seed):
    """Real physics end to end: reach down, close the hand around both blocks, lift 12 cm."""
    from dexsafe.sim.scripted import plan_row_grasp, run_plan

    backend.reset(seed=seed)
    plan = plan_row_grasp(backend)
    rise = run_plan(backend, plan)
    assert np.all(rise > 0.08), rise  # both off the table (the wrist rose 0.12 m)
    held = {c.other for c in backend.contacts()}
    assert {"red_block", "blue_block"} <= held
    assert backend.warning_count() == 0


def test_sim_scripted_grasp_is_for_the_dexsafe_hand_only():
    from dexsafe.sim.scripted import plan_row_grasp

    with MujocoBackend("two_blocks", "shadow_hand") as b, pytest.raises(ValueError, match="dexsafe_hand only"):
        plan_row_grasp(b)
