"""The grasp_executor action through the shield in the sim: lifts two boxes from a
pre-grasp, reports feedback, honours cancel, aborts malformed goals and keeps serving."""

from __future__ import annotations

import math

import pytest
from rclpy.parameter import Parameter

from dexsafe.action import ExecuteGrasp
from dexsafe.msg import GraspProposal
from dexsafe.ros_nodes.conversions import pose_to_msg

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture
def graph(ros, request):
    from dexsafe.ros_nodes.grasp_executor_node import GraspExecutorNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode

    sim = ros.add(SimNode(context=ros.context, parameter_overrides=[Parameter("cloud_rate", value=0.0)]))
    ros.add(SafetyShieldNode(context=ros.context))
    policy = getattr(request, "param", "default")
    executor = ros.add(GraspExecutorNode(context=ros.context, parameter_overrides=[Parameter("policy", value=policy)]))
    client = ros.action_client(ExecuteGrasp, "/dexsafe/execute_grasp")
    assert client.wait_for_server(timeout_sec=15.0)
    ros.wait_for(lambda: executor._q is not None and executor._objects, 20.0, "executor inputs")
    return sim, executor, client


def _proposal(sim) -> GraspProposal:
    """A validated pre-grasp for the two boxes (the scripted row grasp's), as a proposal."""
    from dexsafe.sim.scripted import plan_row_grasp
    from dexsafe.sim.wrist import wrist_joints_to_pose

    with sim._lock:
        plan = plan_row_grasp(sim._backend)
        names = list(sim._backend.joint_names)
    xyz, quat = wrist_joints_to_pose(plan.pregrasp[:6])
    return GraspProposal(id="p0", object_ids=["red_block", "blue_block"], hand_pose=pose_to_msg(xyz, quat),
                         joint_names=names[6:], joint_positions=plan.pregrasp[6:].tolist())


@pytest.mark.parametrize("graph", ["", "default"], indirect=True, ids=["scripted", "trained_policy"])
def test_executor_lifts_two_boxes_with_feedback(ros, graph, request):
    """The scripted executor alone, and with the shipped residual policy (which has never seen these blocks)."""
    sim, executor, client = graph
    if request.node.callspec.params["graph"] == "default":
        assert executor.policy is not None, "the shipped residual policy loads"
    else:
        assert executor.policy is None
    feedback = []
    goal = ExecuteGrasp.Goal(proposal=_proposal(sim), lift_height=0.12, timeout=60.0)
    handle = ros.result(client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback)))
    assert handle.accepted
    res = ros.result(handle.get_result_async(), 90.0, "grasp result").result
    assert res.success, res.message
    assert sorted(res.objects_lifted) == ["blue_block", "red_block"]
    phases = [f.phase for f in feedback]
    for phase in ("reach", "close", "lift", "hold"):
        assert phase in phases
    assert res.peak_contact_force > 0 and res.duration > 1.0
    assert ("residual policy" if executor.policy else "scripted executor") in res.message


@pytest.mark.parametrize("graph", ["/nonexistent/policy.pt"], indirect=True)
def test_a_missing_policy_falls_back_to_the_scripted_executor(ros, graph):
    sim, executor, client = graph
    assert executor.policy is None
    goal = ExecuteGrasp.Goal(proposal=_proposal(sim), lift_height=0.03, timeout=60.0)
    handle = ros.result(client.send_goal_async(goal))
    res = ros.result(handle.get_result_async(), 90.0, "grasp result").result
    assert res.duration > 1.0 and "need" in res.message, res.message


def test_cancel_and_malformed_goals(ros, graph):
    sim, executor, client = graph
    good = _proposal(sim)
    bad_pose = GraspProposal(object_ids=["red_block"], hand_pose=pose_to_msg([0.0, math.nan, 0.6], [0, 0, 0, 1]))
    unknown = GraspProposal(object_ids=["green_sphere"], hand_pose=good.hand_pose)
    far = GraspProposal(object_ids=["red_block"], hand_pose=pose_to_msg([3.0, 0.0, 0.6], [0, 0, 0, 1]))
    for proposal, expected in ((bad_pose, "non-finite"), (unknown, "unknown object"), (far, "outside")):
        handle = ros.result(client.send_goal_async(ExecuteGrasp.Goal(proposal=proposal, lift_height=0.1,
                                                                     timeout=10.0)))
        res = ros.result(handle.get_result_async(), 20.0).result
        assert not res.success and expected in res.message, res.message
    zero_lift = ros.result(client.send_goal_async(ExecuteGrasp.Goal(proposal=good, lift_height=0.0, timeout=10.0)))
    assert "lift_height" in ros.result(zero_lift.get_result_async(), 20.0).result.message

    handle = ros.result(client.send_goal_async(ExecuteGrasp.Goal(proposal=good, lift_height=0.1, timeout=60.0)))
    ros.wait_for(lambda: executor._busy, 10.0, "the grasp to start")
    ros.result(handle.cancel_goal_async())
    res = ros.result(handle.get_result_async(), 30.0).result
    assert "cancelled" in res.message
