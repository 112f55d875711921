"""Hand description files and the hand models they point to."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from dexsafe.sim.compose import HAND_PREFIX, build_scene_model
from dexsafe.sim.hands import WRIST_JOINTS, HandError, load_hand, parse_hand
from dexsafe.sim.scene_spec import load_scene

HANDS = ["dexsafe_hand", "shadow_hand"]


@pytest.mark.parametrize("name", HANDS)
def test_sim_hand_description_matches_its_model(name):
    hand = load_hand(name)
    assert hand.joint_names[:6] == WRIST_JOINTS
    sm = build_scene_model(load_scene("two_blocks"), hand)
    m = sm.model
    for j, jid in zip(hand.joints, sm.joint_ids[6:]):
        lo, hi = m.jnt_range[jid]
        assert lo - 1e-6 <= j.lower < j.upper <= hi + 1e-6, j.name
    q_open = hand.finger_open_posture()
    assert np.all(q_open >= [j.lower for j in hand.joints]) and np.all(q_open <= [j.upper for j in hand.joints])


def test_sim_dexsafe_hand_has_16_actuated_finger_joints_and_a_thumb():
    hand = load_hand("dexsafe_hand")
    assert len(hand.joints) == 16
    assert any(n.startswith("thumb") for n in hand.finger_joint_names)
    assert len(hand.fingertip_bodies) == 4


def test_sim_urdf_twin_has_the_same_kinematics():
    from dexsafe.core.paths import share_dir

    mj = mujoco.MjModel.from_xml_path(str(share_dir() / "urdf" / "dexsafe_hand.xml"))
    spec = mujoco.MjSpec.from_file(str(share_dir() / "urdf" / "dexsafe_hand.urdf"))
    spec.compiler.fusestatic = False
    ur = spec.compile()
    d1, d2 = mujoco.MjData(mj), mujoco.MjData(ur)
    rng = np.random.default_rng(0)
    for _ in range(3):
        q = rng.uniform(mj.jnt_range[:, 0], mj.jnt_range[:, 1])
        d1.qpos[:] = q
        for j in range(mj.njnt):
            d2.qpos[ur.joint(mj.joint(j).name).qposadr] = q[j]
        mujoco.mj_kinematics(mj, d1)
        mujoco.mj_kinematics(ur, d2)
        for b in ("index_distal", "middle_distal", "ring_distal", "thumb_distal"):
            np.testing.assert_allclose(d1.body(b).xpos, d2.body(b).xpos, atol=1e-9)


def test_sim_any_urdf_hand_by_path_with_a_description(tmp_path):
    """A URDF without actuators: dexsafe adds position servos from the description file."""
    from dexsafe.core.paths import share_dir

    text = (share_dir() / "config" / "hands" / "dexsafe_hand.yaml").read_text()
    text = text.replace("../../urdf/dexsafe_hand.xml", str(share_dir() / "urdf" / "dexsafe_hand.urdf"))
    path = tmp_path / "urdf_hand.yaml"
    path.write_text(text.replace("name: dexsafe_hand", "name: urdf_hand"))
    from dexsafe.sim.mujoco_backend import MujocoBackend

    with MujocoBackend("two_blocks", str(path)) as b:
        assert b.hand.name == "urdf_hand"
        q = b.targets
        q[b.joint_names.index("index_proximal_joint")] = 1.0
        b.set_joint_targets(q)
        b.step(500)
        assert b.joint_state().position[b.joint_names.index("index_proximal_joint")] == pytest.approx(1.0, abs=0.1)
        assert b.warning_count() == 0


def test_sim_unknown_hand_and_bad_fields_are_clear_errors():
    with pytest.raises(HandError, match="unknown hand"):
        load_hand("no_such_hand")
    good = {"model": "urdf/dexsafe_hand.xml", "root_body": "palm", "palm_body": "palm", "fingertip_bodies": ["a"],
            "joints": [{"name": "j", "lower": 0, "upper": 1, "velocity": 1, "effort": 1}]}
    with pytest.raises(HandError, match="unknown key"):
        parse_hand({**good, "jionts": []})
    with pytest.raises(HandError, match="lower < upper"):
        parse_hand({**good, "joints": [{"name": "j", "lower": 1, "upper": 0, "velocity": 1, "effort": 1}]})
    with pytest.raises(HandError, match="reserved"):
        parse_hand({**good, "joints": [{"name": "wrist_x", "lower": 0, "upper": 1, "velocity": 1, "effort": 1}]})
    with pytest.raises(HandError, match="does not exist"):
        parse_hand({**good, "model": "urdf/nothing.xml"})


def test_sim_hand_names_are_prefixed_in_the_composed_model():
    sm = build_scene_model(load_scene("two_blocks"), "dexsafe_hand")
    assert sm.model.body(sm.palm_body_id).name == HAND_PREFIX + "palm"
    assert sm.body_labels[sm.palm_body_id] == "palm"


def test_sim_urdf_on_wrist_matches_the_composed_scene():
    """dexsafe_hand_on_wrist.urdf (world -> hand_base -> palm, for robot_state_publisher) has the same
    forward kinematics as the simulated hand on its 6-DoF wrist, joint values in command order."""
    from dexsafe.core.paths import share_dir
    from dexsafe.sim.mujoco_backend import MujocoBackend

    spec = mujoco.MjSpec.from_file(str(share_dir() / "urdf" / "dexsafe_hand_on_wrist.urdf"))
    spec.compiler.fusestatic = False
    spec.compiler.boundmass, spec.compiler.boundinertia = 1e-3, 1e-6  # massless wrist links are fine in URDF
    ur = spec.compile()
    du = mujoco.MjData(ur)
    rng = np.random.default_rng(1)
    with MujocoBackend("two_blocks", "dexsafe_hand") as b:
        for _ in range(3):
            q = rng.uniform(b.ctrl_lower, b.ctrl_upper)
            b.set_joint_positions(q)
            for name, v in zip(b.joint_names, q):
                du.qpos[ur.joint(name).qposadr] = v
            mujoco.mj_kinematics(ur, du)
            for body in ("palm", "index_distal", "thumb_distal"):
                np.testing.assert_allclose(b.data.body(HAND_PREFIX + body).xpos, du.body(body).xpos, atol=1e-9)


@pytest.mark.parametrize("name", HANDS)
def test_sim_closing_joints_move_their_fingertip_towards_the_palm(name):
    """A joint's ``closing`` sign (the executor closes along it, grasp proposals put contacts on the
    side it presses with): a small turn that way, from the open posture, brings the fingertip it
    moves nearer to the point in front of the palm. The Shadow thumb's THJ1/THJ0 flex with
    negative angles; the description said +1 until this test."""
    hand = load_hand(name)
    sm = build_scene_model(load_scene("two_blocks"), hand)
    m, d = sm.model, mujoco.MjData(sm.model)
    body = {m.body(i).name.removeprefix(HAND_PREFIX): i for i in range(m.nbody)}
    palm = body[hand.palm_body]
    tips = [body[t] for t in hand.fingertip_bodies]

    def ancestors(b: int) -> set[int]:
        out = set()
        while b > 0:
            out.add(b)
            b = int(m.body_parentid[b])
        return out

    def tip_to_palm(q: np.ndarray, tip: int) -> float:
        d.qpos[:] = m.qpos0
        for jid, v in zip(sm.joint_ids[6:], q):
            d.qpos[m.jnt_qposadr[jid]] = v
        mujoco.mj_kinematics(m, d)
        front = d.xpos[palm] + d.xmat[palm].reshape(3, 3) @ np.asarray(hand.palm_center)
        centre = np.mean([d.geom_xpos[g] for g in range(m.ngeom) if m.geom_bodyid[g] == tip], axis=0)
        return float(np.linalg.norm(centre - front))

    q_open = hand.finger_open_posture()
    checked = 0
    for k, (joint, jid) in enumerate(zip(hand.joints, sm.joint_ids[6:])):
        if joint.closing == 0:
            continue
        for tip in (t for t in tips if int(m.jnt_bodyid[jid]) in ancestors(t)):
            q = q_open.copy()
            q[k] = np.clip(q[k] + 0.1 * joint.closing, joint.lower, joint.upper)
            assert tip_to_palm(q, tip) < tip_to_palm(q_open, tip), f"{joint.name} closing {joint.closing:+.0f}"
            checked += 1
    assert checked >= len(hand.fingertip_bodies)
