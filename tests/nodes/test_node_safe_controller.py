"""The safe_controller lifecycle node runs a policy trained by `dexsafe train` through the
shield into the sim: configure loads it, activate streams commands, deactivate stops them."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from dexsafe.policies import train

    out = tmp_path_factory.mktemp("safe_reach")
    train("ppo_lag", "dexsafe/SafeReach-v0", seed=0, total_steps=256, out_dir=out, tensorboard=False,
          overrides={"steps_per_epoch": 128})
    return out / "checkpoint.pt"


def test_lifecycle_policy_through_shield(ros, checkpoint):
    from dexsafe.ros_nodes.safe_controller_node import SafeControllerNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode

    ros.add(SimNode(context=ros.context, parameter_overrides=[Parameter("cloud_rate", value=0.0)]))
    shield = ros.add(SafetyShieldNode(context=ros.context))
    ctrl = ros.add(SafeControllerNode(context=ros.context, parameter_overrides=[
        Parameter("checkpoint", value=str(checkpoint)), Parameter("goal", value=[0.05, 0.0, 0.65])]))
    probe = ros.node("probe")
    policy_out = []
    probe.create_subscription(Float64MultiArray, "/dexsafe/policy_commands", policy_out.append, 10)

    ctrl.trigger_configure()
    assert ctrl._state_machine.current_state[1] == "inactive"
    ros.wait_for(lambda: ctrl._positions, 20.0, "joint states at the controller")
    assert not policy_out, "inactive: nothing published"
    ctrl.trigger_activate()
    ros.wait_for(lambda: len(policy_out) > 10, 20.0, "policy commands while active")
    n = len(shield.joint_names)
    assert all(len(m.data) == n for m in policy_out)
    ros.wait_for(lambda: shield.last_result is not None and not shield.last_result.holding, 10.0,
                 "the shield forwarding the policy")
    ctrl.trigger_deactivate()
    count = len(policy_out)
    ros.wait_for(lambda: shield.last_result.holding, 10.0, "the shield holding once commands stop")
    assert len(policy_out) <= count + 1
    assert ctrl._state_machine.current_state[1] == "inactive"


def test_configure_fails_cleanly_without_a_checkpoint(ros):
    from dexsafe.ros_nodes.safe_controller_node import SafeControllerNode

    ctrl = ros.add(SafeControllerNode(context=ros.context))
    ctrl.trigger_configure()
    assert ctrl._state_machine.current_state[1] == "unconfigured"
