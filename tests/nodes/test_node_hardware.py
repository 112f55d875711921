"""The real-robot path without a robot: shield -> hardware_adapter -> a fake driver with latency,
noise and drops; joint names, order and units mapped both ways; a silent driver is never commanded."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from dexsafe.core.joint_mapping import JointMapping, MappingError

LEAP_OFFSET = math.pi


def test_joint_mapping_round_trip_and_errors():
    m = JointMapping.create(["a", "b"], ["1", "0"], offset=[LEAP_OFFSET, LEAP_OFFSET])
    assert m.to_driver({"a": 0.1, "b": -0.2}) == pytest.approx([0.1 + math.pi, -0.2 + math.pi])
    back = m.from_driver(["0", "1"], [math.pi - 0.2, math.pi + 0.1])
    assert back == pytest.approx({"a": 0.1, "b": -0.2})
    with pytest.raises(MappingError, match="lacks"):
        m.from_driver(["0"], [0.0])
    with pytest.raises(MappingError, match="same length"):
        JointMapping.create(["a"], ["1", "2"])


@pytest.mark.ros
def test_real_graph_with_fake_driver(ros):
    from dexsafe.ros_nodes.fake_hand_driver_node import FakeHandDriverNode
    from dexsafe.ros_nodes.hardware_adapter_node import HardwareAdapterNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode

    shield = ros.add(SafetyShieldNode(context=ros.context, parameter_overrides=[
        Parameter("output_topic", value="/dexsafe/hand_commands")]))
    adapter = ros.add(HardwareAdapterNode(context=ros.context))
    driver = ros.add(FakeHandDriverNode(context=ros.context))
    probe = ros.node("probe")
    states = []
    probe.create_subscription(JointState, "/joint_states", states.append, 10)
    ros.wait_for(lambda: len(states) > 5, 15.0, "/joint_states from the adapter")
    names = list(states[-1].name)
    assert names == shield.joint_names
    # The shield holds the measured posture; a finger command is mapped to the driver's order and moves it.
    pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "shield input")
    target = np.array(states[-1].position)
    k = names.index("index_proximal_joint")
    target[k] = 0.9
    target[:3] = np.clip(target[:3], shield.limits.position_lower[:3], shield.limits.position_upper[:3])

    def step():
        pub.publish(Float64MultiArray(data=target.tolist()))
        return abs(states[-1].position[k] - 0.9) < 0.05

    ros.wait_for(step, 20.0, "index_proximal_joint to reach 0.9 rad through adapter and fake driver")
    d = driver.names.index("ah_joint11")  # Allegro: finger 1 (index), joint 1
    assert abs(driver.q[d] - 0.9) < 0.05
    assert driver.dropped > 0 or driver.sent > 0
    # The driver goes silent: the adapter stops forwarding and the shield holds on stale state.
    ros.remove(driver)
    before = adapter.dropped_stale
    ros.wait_for(lambda: (pub.publish(Float64MultiArray(data=target.tolist())) or True)
                 and adapter.dropped_stale > before, 10.0, "the adapter to stop forwarding")
    ros.wait_for(lambda: shield.last_result is not None and shield.last_result.holding, 5.0, "the shield to hold")


@pytest.mark.ros
@pytest.mark.parametrize("hardware_config", ["hardware/leap.yaml", "hardware/allegro.yaml"])
def test_fake_hardware_moves_the_simulated_hand_and_arm(ros, hardware_config):
    """graph('real', hardware:=fake): shield -> adapter -> the driver's and the arm's topics (LEAP: JointState
    in the pi-offset convention; Allegro: Float64MultiArray) -> fake driver -> the sim behind it."""
    from dexsafe.ros_nodes.graph import graph

    keep = ("safety_shield", "hardware_adapter", "fake_hand_driver", "sim")
    nodes = {s.name: ros.add_spec(s) for s in graph("real", {"hardware": "fake", "hardware_config": hardware_config})
             if s.name in keep}
    probe = ros.node("probe")
    states, physical = [], []
    probe.create_subscription(JointState, "/joint_states", states.append, 10)
    probe.create_subscription(JointState, "/fake_hardware/joint_states", physical.append, 10)
    ros.wait_for(lambda: len(states) > 5 and physical, 30.0, "/joint_states through the fake driver")
    names = list(states[-1].name)
    assert names == nodes["safety_shield"].joint_names
    start = dict(zip(physical[-1].name, physical[-1].position))
    assert abs(dict(zip(names, states[-1].position))["wrist_z"] - start["wrist_z"]) < 0.01, "arm state, not zeros"
    target = np.array(states[-1].position)
    target[names.index("index_proximal_joint")] = 0.6
    target[names.index("wrist_z")] -= 0.05
    pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)

    def moved() -> bool:
        pub.publish(Float64MultiArray(data=target.tolist()))
        now = dict(zip(physical[-1].name, physical[-1].position))
        z = target[names.index("wrist_z")]
        return abs(now["index_proximal_joint"] - 0.6) < 0.05 and abs(now["wrist_z"] - z) < 0.01

    ros.wait_for(moved, 20.0, "the simulated finger and arm to follow through adapter and fake driver")


@pytest.mark.ros
def test_arm_states_are_read_while_hand_states_keep_the_adapter_busy(ros):
    """Every input of the adapter has a callback group of its own. With one shared group,
    rclpy's multi-threaded executor offered the hand states first each time the node was free,
    and under load the arm states were never read: the adapter withheld /joint_states and
    stopped forwarding (the fake-hardware graph test failed that way on a loaded CI machine)."""
    from dexsafe.ros_nodes.hardware_adapter_node import HardwareAdapterNode
    from dexsafe.ros_nodes.testing import SlowedCalls, publishing

    wrist = ["wrist_x", "wrist_y", "wrist_z", "wrist_roll", "wrist_pitch", "wrist_yaw"]
    adapter = ros.add(HardwareAdapterNode(context=ros.context, parameter_overrides=[
        Parameter("arm_joints", value=wrist)]))
    adapter.mapping = SlowedCalls(adapter.mapping, "from_driver", 0.02)  # each hand state costs 20 ms
    probe = ros.node("probe")
    hand_pub = probe.create_publisher(JointState, "/allegro_hand/joint_states", 10)
    arm_pub = probe.create_publisher(JointState, "/arm_controller/joint_states", 10)
    ros.wait_for(lambda: hand_pub.get_subscription_count() and arm_pub.get_subscription_count(), 10.0,
                 "the adapter's state subscriptions")
    hand = JointState(name=list(adapter.mapping.driver_joints), position=[0.0] * 16)
    arm = JointState(name=wrist, position=[0.0, 0.0, 0.5, 0.0, 0.0, 0.0])
    ages = []
    with publishing(hand_pub, hand, 0.005), publishing(arm_pub, arm, 0.02):  # hand states faster than served
        time.sleep(1.0)
        for _ in range(150):
            last = adapter._last_arm_time
            ages.append(math.inf if last is None else adapter._now() - last)
            time.sleep(0.01)
    stale = np.mean(np.array(ages) > adapter.p["state_timeout"])
    assert stale < 0.2, f"the arm state was stale in {stale:.0%} of samples while hand states kept arriving"
