"""The safety shield node between a policy and the sim: whatever the policy sends,
nothing outside the limits reaches /hand_controller/commands; e-stop holds."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray
from std_srvs.srv import SetBool

pytestmark = pytest.mark.ros


@pytest.fixture
def graph(ros):
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode

    sim = ros.add(SimNode(context=ros.context, parameter_overrides=[
        Parameter("real_time_factor", value=1.0), Parameter("cloud_rate", value=0.0)]))
    shield = ros.add(SafetyShieldNode(context=ros.context))
    return sim, shield


def test_policy_garbage_never_reaches_the_hand(ros, graph):
    sim, shield = graph
    lo = np.asarray(shield.limits.position_lower)
    hi = np.asarray(shield.limits.position_upper)
    probe = ros.node("policy")
    sent, costs, states = [], [], []
    probe.create_subscription(Float64MultiArray, "/hand_controller/commands", lambda m: sent.append(list(m.data)), 10)
    probe.create_subscription(Float64, "/dexsafe/cost", lambda m: costs.append(m.data), 10)
    probe.create_subscription(JointState, "/joint_states", states.append, 10)
    ros.wait_for(lambda: len(sent) > 5, 20.0, "shield output holding the current posture")
    pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "shield input")

    rng = np.random.default_rng(0)
    n = len(shield.joint_names)
    for k in range(30):
        cmd = rng.normal(0.0, 5.0, n)  # far outside most limits
        if k % 7 == 3:
            cmd[rng.integers(n)] = math.nan
        count = len(sent)
        pub.publish(Float64MultiArray(data=cmd.tolist()))
        ros.wait_for(lambda c=count: len(sent) > c, 5.0, "a shield tick")
    pub.publish(Float64MultiArray(data=[1.0, 2.0]))  # wrong length
    count = len(sent)
    ros.wait_for(lambda: len(sent) > count + 10, 5.0, "more ticks")

    out = np.array(sent)
    assert np.all(np.isfinite(out))
    assert np.all(out >= lo - 1e-9) and np.all(out <= hi + 1e-9)
    step = np.abs(np.diff(out, axis=0)).max(axis=0)
    vmax = np.asarray(shield.limits.max_velocity)
    assert np.all(step <= vmax * shield.limits.control_period + 1e-6), "rate limit per tick"
    assert max(costs) == 1.0, "clamping a garbage command is a cost"
    js = np.array(states[-1].position[:n])
    assert np.all(js >= lo - 0.05) and np.all(js <= hi + 0.05), "the hand stays inside its limits"


def test_estop_and_stale_commands_hold(ros, graph):
    sim, shield = graph
    probe = ros.node("policy")
    sent = []
    probe.create_subscription(Float64MultiArray, "/hand_controller/commands", lambda m: sent.append(list(m.data)), 10)
    ros.wait_for(lambda: len(sent) > 5, 20.0, "shield output")
    hold = np.array(sent[-1])
    client = probe.create_client(SetBool, "/safety_shield/estop")
    assert client.wait_for_service(timeout_sec=10.0)
    assert ros.result(client.call_async(SetBool.Request(data=True))).success
    pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "shield input")
    target = hold.copy()
    target[-1] += 0.3
    for _ in range(20):
        pub.publish(Float64MultiArray(data=target.tolist()))
        count = len(sent)
        ros.wait_for(lambda c=count: len(sent) > c, 5.0, "a tick")
    assert np.allclose(sent[-1], hold), "e-stop: hold the last safe posture"
    assert ros.result(client.call_async(SetBool.Request(data=False))).success

    def still_publishing_and_reached() -> bool:
        # A policy keeps streaming its target; the shield ramps to it at the velocity limit and may hold a tick
        # or two when a loaded machine delays /joint_states, so a single message is not enough here.
        pub.publish(Float64MultiArray(data=target.tolist()))
        return abs(sent[-1][-1] - target[-1]) < 1e-6

    ros.wait_for(still_publishing_and_reached, 20.0, "moving again after release")
    # No new command for longer than command_timeout: the shield holds where it is.
    ros.wait_for(lambda: shield.last_result is not None and shield.last_result.holding, 5.0, "stale hold")


def test_input_age_counts_from_the_middlewares_receive_time(ros, graph):
    """A callback that runs late must not make a joint state look fresh: the arrival time is the
    middleware's receive time on the steady clock; an implausible one falls back to now."""
    import time

    _, shield = graph
    now = shield.now()
    late = shield.arrival({"received_timestamp": time.time_ns() - 80_000_000})
    assert abs((now - late) - 0.08) < 0.02
    assert abs(shield.arrival({"received_timestamp": 0}) - shield.now()) < 0.02
    assert abs(shield.arrival({"received_timestamp": time.time_ns() + 10**12}) - shield.now()) < 0.02
    # The live path: states from the sim carry a receive time, so their arrival is not later than now.
    ros.wait_for(lambda: shield._state is not None, 20.0, "a joint state")
    assert shield._state.stamp <= shield.now()


def test_joint_states_are_read_while_the_tick_keeps_the_shield_busy(ros):
    """The shield's tick and each input have callback groups of their own: with one shared
    group a tick that is always due (here: 15 ms per tick at 100 Hz) was served first every
    time, /joint_states went unread and the shield held on a stale state for good."""
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.testing import SlowedCalls, publishing

    shield = ros.add(SafetyShieldNode(context=ros.context))
    shield.shield = SlowedCalls(shield.shield, "filter", 0.015)
    probe = ros.node("driver")
    pub = probe.create_publisher(JointState, "/joint_states", 10)
    ros.wait_for(lambda: pub.get_subscription_count() > 0, 10.0, "the shield's /joint_states subscription")
    lo, hi = np.asarray(shield.limits.position_lower), np.asarray(shield.limits.position_upper)
    msg = JointState(name=list(shield.joint_names), position=((lo + hi) / 2).tolist())
    ages = []
    with publishing(pub, msg, 0.02):
        time.sleep(1.0)
        for _ in range(150):
            with shield._lock:
                state = shield._state
            ages.append(math.inf if state is None else shield.now() - state.stamp)
            time.sleep(0.01)
    stale = np.mean(np.array(ages) > shield.limits.state_timeout)
    assert stale < 0.2, f"the joint state was stale in {stale:.0%} of samples while the tick kept the shield busy"
