"""The real launch's graph (``graph('real', hardware='fake')``: no sim node on dexsafe's topics, the shield
feeding the hardware adapter, a fake driver and arm with latency, noise and drops) runs the same
instruction-to-lift, refusal and cancel as the sim test; when the driver goes silent the shield holds."""

from __future__ import annotations

import time

import pytest

from dexsafe.ros_nodes.commander import MissionCommander, TaskResult
from dexsafe.ros_nodes.graph import graph

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_real_graph_with_fake_hardware_lifts_and_holds_on_stale_states(ros):
    # Every node of the real launch, with its config, overrides and remappings, in this process. The
    # grasp_proposer is left out as in the sim test: the mission then uses its scripted proposal, and
    # the proposer's CPU-bound optimisation has its own tests.
    specs = [s for s in graph("real", {"hardware": "fake"}) if s.name != "grasp_proposer"]
    nodes = {s.name: ros.add_spec(s) for s in specs}
    adapter, driver, shield = nodes["hardware_adapter"], nodes["fake_hand_driver"], nodes["safety_shield"]
    assert adapter.arm_joints and driver.p["plant"] == "sim"
    cmd = ros.add(MissionCommander(spin=False, context=ros.context))
    assert cmd.wait_until_ready(30.0)
    ros.wait_for(lambda: nodes["mission"]._objects is not None, 30.0, "object poses (the pose tracker stand-in)")
    ros.wait_for(lambda: nodes["grasp_executor"]._q is not None, 30.0, "/joint_states via driver, arm and adapter")

    assert cmd.run_instruction("pick up the two blocks together and lift them", auto_confirm=True)
    end = time.monotonic() + 150.0
    while not cmd.is_done():
        assert time.monotonic() < end, "mission timed out"
        time.sleep(0.05)
    res = cmd.last_result
    assert cmd.result() == TaskResult.SUCCEEDED, res.message
    assert sorted(res.objects_lifted) == ["blue_block", "red_block"]
    assert adapter.forwarded > 100, "every command went through the adapter to the driver and the arm"
    assert driver.dropped > 0, "the fake driver loses messages, as a real one does"

    # An unsafe instruction is refused without a single policy command.
    from std_msgs.msg import Float64MultiArray

    policy_commands = []
    cmd.create_subscription(Float64MultiArray, "/dexsafe/policy_commands", policy_commands.append, 10)
    assert cmd.run_instruction("smash the red block against the table", auto_confirm=True)
    ros.wait_for(cmd.is_done, 60.0, "the refusal")
    assert cmd.result() == TaskResult.FAILED and cmd.last_result.message.startswith("refused")
    assert policy_commands == []

    # Cancel mid-execution: the mission ends CANCELED and the hand opens.
    assert cmd.run_instruction("lift the red block", auto_confirm=True)
    ros.wait_for(lambda: cmd.feedback() is not None and cmd.feedback().phase == "execute", 60.0, "execution")
    cmd.cancel()
    ros.wait_for(cmd.is_done, 60.0, "the cancelled mission to end")
    assert cmd.result() == TaskResult.CANCELED, cmd.last_result.message

    # The driver goes silent: /joint_states stops, the adapter forwards nothing and the shield holds.
    ros.remove(driver)
    ros.wait_for(lambda: any(i.value == "holding_stale_state" for i in shield.last_result.interventions), 5.0,
                 "the shield to hold on stale joint states")
