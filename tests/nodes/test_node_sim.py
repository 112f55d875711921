"""The sim node over real DDS: commands move the joints on /joint_states, bad
commands are rejected and the sim keeps running, reset works and rejects bad scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, PointCloud2
from std_msgs.msg import Float64MultiArray

from dexsafe.msg import HandContacts, SceneObjects
from dexsafe.srv import ResetScene

pytestmark = pytest.mark.ros


@pytest.fixture
def sim(ros):
    from dexsafe.ros_nodes.sim_node import SimNode

    node = SimNode(context=ros.context, parameter_overrides=[
        Parameter("real_time_factor", value=0.0), Parameter("cloud_rate", value=5.0),
        Parameter("publish_rate", value=100.0)])
    ros.add(node)
    return node


def _latest(ros, probe, msg_type, topic, qos=10):
    box = []
    probe.create_subscription(msg_type, topic, box.append, qos)
    ros.wait_for(lambda: box, 20.0, f"a message on {topic}")
    return box


def test_command_moves_joints_and_bad_commands_are_rejected(ros, sim):
    probe = ros.node("probe")
    states = _latest(ros, probe, JointState, "/joint_states")
    names = list(states[-1].name)[: len(sim.joint_names)]
    assert names == sim.joint_names and len(names) >= 22
    start = np.array(states[-1].position)

    # Close the first finger joint towards the middle of its range.
    from dexsafe.sim.hands import load_hand

    hand = sim._backend.hand
    assert hand.name == load_hand(hand.name).name
    finger = len(names) - 16 + 1  # a flexion joint of the first finger
    target = start.copy()
    lo, hi = sim._backend.joint_limits()[finger] if hasattr(sim._backend, "joint_limits") else (-0.2, 1.2)
    target[finger] = 0.5 * (lo + hi) if abs(start[finger] - 0.5 * (lo + hi)) > 0.2 else lo + 0.8 * (hi - lo)
    pub = probe.create_publisher(Float64MultiArray, "/hand_controller/commands", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "sim subscription")
    pub.publish(Float64MultiArray(data=target.tolist()))
    ros.wait_for(lambda: abs(states[-1].position[finger] - target[finger]) < 0.1, 30.0,
                 f"joint {names[finger]} to reach {target[finger]:.2f}")

    # Malformed: wrong length and NaN are rejected; the sim keeps stepping.
    before = sim.rejected_commands
    pub.publish(Float64MultiArray(data=[0.0, 1.0]))
    bad = target.copy()
    bad[3] = math.nan
    pub.publish(Float64MultiArray(data=bad.tolist()))
    ros.wait_for(lambda: sim.rejected_commands >= before + 2, 10.0, "two rejected commands")
    n = len(states)
    ros.wait_for(lambda: len(states) > n + 5, 10.0, "joint states after bad commands")
    assert all(math.isfinite(x) for x in states[-1].position)


def test_objects_contacts_clock_and_cloud(ros, sim):
    probe = ros.node("probe")
    objects = _latest(ros, probe, SceneObjects, "/dexsafe/objects")
    ids = [o.id for o in objects[-1].objects]
    assert ids == sim._backend.scene.object_ids()
    table_z = sim._backend.scene.table.height
    for o in objects[-1].objects:
        assert o.pose.position.z > table_z - 0.01
    clock = _latest(ros, probe, Clock, "/clock")
    t0 = clock[-1].clock.sec + clock[-1].clock.nanosec * 1e-9
    ros.wait_for(lambda: clock[-1].clock.sec + clock[-1].clock.nanosec * 1e-9 > t0 + 0.2, 20.0, "sim time")
    _latest(ros, probe, HandContacts, "/dexsafe/contacts")
    cloud = _latest(ros, probe, PointCloud2, "/dexsafe/scene_cloud", qos_profile_sensor_data)
    pts = np.frombuffer(bytes(cloud[-1].data), dtype=np.float32).reshape(-1, 3)
    assert cloud[-1].header.frame_id == "world" and len(pts) > 100
    assert np.all(np.isfinite(pts))


def test_reset_service(ros, sim):
    probe = ros.node("probe")
    client = probe.create_client(ResetScene, "/sim/reset")
    assert client.wait_for_service(timeout_sec=10.0)
    ok = ros.result(client.call_async(ResetScene.Request(scene="", seed=3)), 30.0)
    assert ok.success, ok.message
    again = ros.result(client.call_async(ResetScene.Request(scene="", seed=3)), 30.0)
    a = [(o.pose.position.x, o.pose.position.y) for o in ok.objects]
    b = [(o.pose.position.x, o.pose.position.y) for o in again.objects]
    assert np.allclose(a, b, atol=1e-3), "same seed, same placement"
    bad = ros.result(client.call_async(ResetScene.Request(scene="no_such_scene", seed=0)), 30.0)
    assert not bad.success and "no_such_scene" in bad.message
    still = ros.result(client.call_async(ResetScene.Request(scene="", seed=1)), 30.0)
    assert still.success


def test_joint_trajectory_is_followed(ros, sim):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    probe = ros.node("probe")
    states = _latest(ros, probe, JointState, "/joint_states")
    joint = "index_proximal_joint"
    k = list(states[-1].name).index(joint)
    pub = probe.create_publisher(JointTrajectory, "/hand_controller/joint_trajectory", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "trajectory subscription")
    traj = JointTrajectory(joint_names=[joint], points=[
        JointTrajectoryPoint(positions=[0.2], time_from_start=Duration(sec=0, nanosec=100_000_000)),
        JointTrajectoryPoint(positions=[1.0], time_from_start=Duration(sec=0, nanosec=400_000_000))])
    pub.publish(traj)
    ros.wait_for(lambda: abs(states[-1].position[k] - 1.0) < 0.1, 30.0, f"{joint} to follow the trajectory")
    before = sim.rejected_commands
    pub.publish(JointTrajectory(joint_names=["no_such_joint"], points=traj.points))
    ros.wait_for(lambda: sim.rejected_commands > before, 10.0, "an unknown-joint trajectory to be rejected")


def test_max_speed_publication_is_capped_on_wall_time_and_stamped_on_period_boundaries(ros, sim):
    """At real_time_factor 0 physics runs ahead of the wall clock; states go out at most
    max_speed_publish_rate per wall second, each stamped at a controller-period boundary of sim time."""
    import time

    probe = ros.node("probe")
    states = _latest(ros, probe, JointState, "/joint_states")
    n0, t0, w0 = len(states), sim._backend.time, time.monotonic()
    time.sleep(2.0)
    received, sim_dt, wall = len(states) - n0, sim._backend.time - t0, time.monotonic() - w0
    cap = sim.p["max_speed_publish_rate"]
    assert sim_dt > wall, "as fast as possible runs ahead of the wall clock"
    assert 0 < received <= cap * wall * 1.2 + 5
    assert sim.skipped_publications > 0
    period = 1.0 / sim.p["publish_rate"]
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in states[n0:]]
    back = [(a, b) for a, b in zip(stamps, stamps[1:]) if not b > a]
    assert not back, f"sim-time stamps increase; went back: {back[:5]}"
    assert all(abs(s / period - round(s / period)) < 1e-3 for s in stamps), "on period boundaries"


def test_stamps_round_to_the_nearest_nanosecond():
    from dexsafe.ros_nodes.sim_node import stamp

    s = stamp(5.9999999996)  # float sums of 2 ms steps land just under whole seconds
    assert (s.sec, s.nanosec) == (6, 0)
    s = stamp(3.84)
    assert (s.sec, s.nanosec) == (3, 840_000_000)
