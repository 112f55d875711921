"""The recorder node records the live sim + shield graph to a bag that reads back
equal to what a subscriber received, with run info, QoS and metadata v8."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

pytestmark = pytest.mark.ros


def test_recorder_records_the_live_stack(ros, tmp_path):
    from dexsafe.evaluation.bag_reader import open_bag
    from dexsafe.evaluation.open_loop import replay_open_loop
    from dexsafe.evaluation.recorded_run import load_run
    from dexsafe.ros_nodes.recorder_node import RecorderNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode

    sim = ros.add(SimNode(context=ros.context, parameter_overrides=[
        Parameter("real_time_factor", value=1.0), Parameter("cloud_rate", value=0.0),
        Parameter("seed", value=3)]))
    shield = ros.add(SafetyShieldNode(context=ros.context))
    probe = ros.node("probe")
    seen: list[JointState] = []
    probe.create_subscription(JointState, "/joint_states", seen.append, 1000)
    pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
    ros.wait_for(lambda: len(seen) > 5, 30.0, "sim streaming")
    bag_path = tmp_path / "live"
    recorder = ros.add(RecorderNode(context=ros.context, parameter_overrides=[
        Parameter("output", value=str(bag_path)), Parameter("discovery_period", value=0.1)]))
    ros.wait_for(lambda: {"/joint_states", "/hand_controller/commands", "/dexsafe/policy_commands"}
                 <= set(recorder._subs), 15.0, "recorder subscribed")
    ros.wait_for(lambda: recorder.run_info.seed == 3, 10.0, "run info from the sim node")
    q0 = np.array(seen[-1].position[: len(shield.joint_names)])
    for k in range(40):  # lower the wrist by 2 cm over 0.8 s
        target = q0.copy()
        target[2] -= 0.02 * (k + 1) / 40
        count = len(seen)
        pub.publish(Float64MultiArray(data=target.tolist()))
        ros.wait_for(lambda c=count: len(seen) > c + 1, 5.0, "sim ticks")
    ros.wait_for(lambda: recorder.bag.counts["/joint_states"] >= 100, 30.0, "100 joint states recorded")
    recorder.close_bag()

    meta = yaml.safe_load((bag_path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8 and meta["storage_identifier"] == "mcap"
    with open_bag(bag_path) as bag:
        info = bag.info
        assert info.run_info().seed == 3 and info.run_info().control_rate == shield.p["control_rate"]
        assert info.topics["/joint_states"].qos[0]["reliability"] == "reliable"
        assert info.topics["/dexsafe/objects"].has_definition
        recorded = [m for _, _, m in bag.messages(["/joint_states"])]
    # Every recorded message equals one the probe received with the same stamp. (Keyed lists, not a
    # dict: another test process on the same ROS domain would add messages with the same stamps.)
    live: dict[tuple[int, int], list] = {}
    for m in seen:
        live.setdefault((m.header.stamp.sec, m.header.stamp.nanosec), []).append(m)

    def same(rec, msg) -> bool:
        return (list(rec.name) == list(msg.name) and np.array_equal(rec.position, np.array(msg.position))
                and np.array_equal(rec.velocity, np.array(msg.velocity))
                and np.array_equal(rec.effort, np.array(msg.effort)))

    both = [(r, live[k]) for r in recorded if (k := (r.header.stamp.sec, r.header.stamp.nanosec)) in live]
    assert len(recorded) >= 100 and len(both) >= 50, "the probe and the recorder saw the same stream"
    assert all(any(same(r, m) for m in cands) for r, cands in both), "recorded messages equal the received ones"

    # A live recording replays open loop: receive-time jitter keeps the outputs within a tolerance
    # of about one tick's motion, and no recorded output breaks a constraint.
    run = load_run(bag_path)
    frames, summary = replay_open_loop(run, tolerance=0.05)
    assert summary.frames > 50 and summary.passed, summary.headline()
    assert sim.rejected_commands == 0
