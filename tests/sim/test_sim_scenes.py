"""Every scene compiles and runs with every supported hand; placement is seeded and overlap-free."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dexsafe.core.paths import share_dir
from dexsafe.sim.compose import build_scene_model, object_geometry
from dexsafe.sim.mujoco_backend import MujocoBackend
from dexsafe.sim.placement import footprint, footprints_clear, sample_placements
from dexsafe.sim.scene_spec import SceneError, load_scene, parse_scene

SCENES = sorted(p.stem for p in (share_dir() / "config" / "scenes").glob("*.yaml"))
MY_SCENES = ["two_blocks", "three_objects", "cup_and_block"]
HANDS = ["dexsafe_hand", "shadow_hand"]


def test_sim_shipped_scenes_exist():
    assert set(MY_SCENES) <= set(SCENES)
    assert any(o.shape == "mesh" for o in load_scene("cup_and_block").objects)


@pytest.mark.parametrize("hand", HANDS)
@pytest.mark.parametrize("scene", SCENES)
def test_sim_scene_steps_one_second_of_random_control_without_warnings(scene, hand):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = MujocoBackend(scene, hand)
    assert not [w for w in caught if "mujoco" in str(w.filename) or "attach" in str(w.message).lower()], caught
    with b:
        rng = np.random.default_rng(0)
        home = b.home_targets()
        for _ in range(50):  # 50 x 10 steps x 2 ms = 1 s
            q = rng.uniform(b.ctrl_lower, b.ctrl_upper)
            q[:3] = home[:3] + rng.uniform(-0.05, 0.05, 3)  # the wrist wanders near home
            b.set_joint_targets(q)
            b.step(10)
        assert b.time == pytest.approx(1.0)
        assert b.warning_count() == 0, b.data.warning
        assert np.all(np.isfinite(b.data.qpos))


@pytest.mark.parametrize("scene", MY_SCENES)
def test_sim_same_seed_same_scene_and_no_initial_overlap(scene):
    with MujocoBackend(scene) as b:
        b.reset(seed=5)
        first = b.object_positions()
        b.reset(seed=6)
        other = b.object_positions()
        b.reset(seed=5)
        np.testing.assert_allclose(b.object_positions(), first, atol=1e-9)
        assert not np.allclose(other, first)
        assert b.contacts() == []  # the hand starts clear of everything
        d = b.data
        for i in range(d.ncon):  # objects rest on the table, not in each other
            assert d.contact[i].dist > -1e-3
        for o in b.object_states():
            assert np.linalg.norm(o.linear_velocity) < 0.05
            assert o.position[2] > b.scene.table.height


@pytest.mark.parametrize("scene_name", ["three_objects", "two_blocks"])
def test_sim_placement_keeps_footprints_apart_and_on_the_table(scene_name):
    scene = load_scene(scene_name)
    sm = build_scene_model(scene)
    sx, sy = scene.table.size
    for seed in range(20):
        p = sample_placements(scene, sm.geometry, seed, gap=0.005)
        polys = {i: footprint(sm.geometry[i], v.x, v.y, v.yaw) for i, v in p.items()}
        ids = list(p)
        for i, a in enumerate(ids):
            assert np.all(np.abs(polys[a]) <= [sx / 2, sy / 2])
            for b in ids[i + 1:]:
                assert footprints_clear(polys[a], polys[b], 0.004)


def test_sim_separating_axis_test():
    sq = np.array([[0.01, 0.01], [-0.01, 0.01], [-0.01, -0.01], [0.01, -0.01]])
    assert footprints_clear(sq, sq + [0.03, 0.0], 0.005)
    assert not footprints_clear(sq, sq + [0.024, 0.0], 0.005)
    diamond = np.array([[0.0, 0.014], [-0.014, 0.0], [0.0, -0.014], [0.014, 0.0]])
    assert footprints_clear(sq, diamond + [0.03, 0.0], 0.0)


def test_sim_impossible_placement_is_a_scene_error():
    objs = [{"id": f"b{i}", "shape": "box", "size": [0.1, 0.1, 0.1], "region": {"min": [-0.1, -0.1], "max": [0.1, 0.1]}}
            for i in range(3)]
    scene = parse_scene({"objects": objs})
    geometry = {o.id: object_geometry(o) for o in scene.objects}
    with pytest.raises(SceneError, match="no free place"):
        sample_placements(scene, geometry, seed=0, max_tries=100)
