"""Real rclpy nodes over DDS (loopback only) exchanging the package's own
service and action types; malformed requests get clear error responses and the
server keeps serving."""

from __future__ import annotations

import math
import time

import pytest
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from dexsafe.action import ExecuteGrasp
from dexsafe.core.validation import InvalidInput, in_range
from dexsafe.msg import GraspProposal, SceneObject
from dexsafe.ros_nodes.conversions import (
    check_object_ids,
    object_spec_from_msg,
    pose_from_msg,
    pose_to_msg,
)
from dexsafe.srv import ProposeGrasps

pytestmark = pytest.mark.ros


class EchoGraspServer(Node):
    """Validates ProposeGrasps requests exactly as a grasp proposer must, and
    answers with one proposal per requested count; serves ExecuteGrasp with
    feedback and cancel."""

    KNOWN = ["red_block", "blue_block"]

    def __init__(self, context):
        super().__init__("echo_grasp_server", context=context)
        group = ReentrantCallbackGroup()
        self.create_service(ProposeGrasps, "propose_grasps", self.on_propose, callback_group=group)
        self.action = ActionServer(self, ExecuteGrasp, "execute_grasp", self.on_execute,
                                   cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=group)
        self.served = 0

    def on_propose(self, req, resp):
        self.served += 1
        try:
            extra = {}
            for i, obj in enumerate(req.objects):
                spec, _ = object_spec_from_msg(obj, i)
                extra[spec.id] = spec
            ids = check_object_ids(req.object_ids, self.KNOWN + list(extra))
            n = int(in_range("num_proposals", req.num_proposals, 1, 256))
            in_range("time_budget", req.time_budget, 1e-3, 600.0, "s")
        except InvalidInput as exc:
            resp.success, resp.message = False, str(exc)
            return resp
        resp.success, resp.message = True, f"{n} proposals"
        resp.proposals = [GraspProposal(id=f"p{k}", object_ids=ids, score=1.0 - k / n,
                                        hand_pose=pose_to_msg([0.0, 0.0, 0.6], [0.0, 0.0, 0.0, 1.0]))
                          for k in range(n)]
        return resp

    def on_execute(self, goal_handle):
        goal = goal_handle.request
        result = ExecuteGrasp.Result()
        try:
            pose_from_msg(goal.proposal.hand_pose, "proposal.hand_pose")
            in_range("lift_height", goal.lift_height, 1e-3, 0.5, "m")
        except InvalidInput as exc:
            goal_handle.abort()
            result.message = str(exc)
            return result
        for k, phase in enumerate(("reach", "close", "lift", "hold")):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                result.message = "cancelled: hand opened"
                return result
            goal_handle.publish_feedback(ExecuteGrasp.Feedback(phase=phase, progress=(k + 1) / 4.0,
                                                               cost_so_far=0.0))
            time.sleep(0.05 if goal.timeout < 5 else 0.5)
        goal_handle.succeed()
        result.success, result.objects_lifted = True, list(goal.proposal.object_ids)
        return result


def _request(**kw):
    req = ProposeGrasps.Request(object_ids=["red_block", "blue_block"], num_proposals=3, time_budget=1.0, seed=0)
    for k, v in kw.items():
        setattr(req, k, v)
    return req


def _call(ros, client, req):
    return ros.result(client.call_async(req), timeout=10.0, what="service response")


def test_service_round_trip_and_clear_errors(ros):
    server = ros.add(EchoGraspServer(ros.context))
    probe = ros.node("probe")
    client = probe.create_client(ProposeGrasps, "propose_grasps")
    assert client.wait_for_service(timeout_sec=10.0)

    ok = _call(ros, client, _request())
    assert ok.success, ok.message
    assert [p.id for p in ok.proposals] == ["p0", "p1", "p2"]
    assert list(ok.proposals[0].object_ids) == ["red_block", "blue_block"]

    bad_cases = {
        "unknown object": (_request(object_ids=["green_sphere"]), "unknown object id"),
        "no objects": (_request(object_ids=[]), "no object ids"),
        "absurd count": (_request(num_proposals=100000), "num_proposals"),
        "nan budget": (_request(time_budget=math.nan), "time_budget"),
        "nan object pose": (_request(object_ids=["cup"], objects=[SceneObject(
            id="cup", shape="cylinder", size=[0.04, 0.1], mass=0.2,
            pose=pose_to_msg([math.nan, 0.0, 0.5], [0.0, 0.0, 0.0, 1.0]))]), "non-finite"),
        "zero quaternion": (_request(object_ids=["cup"], objects=[SceneObject(
            id="cup", shape="cylinder", size=[0.04, 0.1], mass=0.2,
            pose=pose_to_msg([0.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.0]))]), "unit quaternion"),
    }
    for case, (req, expected) in bad_cases.items():
        resp = _call(ros, client, req)
        assert not resp.success, case
        assert expected in resp.message, (case, resp.message)

    # Still serving after every bad request, and a given shape is accepted.
    again = _call(ros, client, _request(object_ids=["cup", "red_block"], objects=[SceneObject(
        id="cup", shape="cylinder", size=[0.04, 0.1], mass=0.2,
        pose=pose_to_msg([0.0, 0.1, 0.45], [0.0, 0.0, 0.0, 1.0]))]))
    assert again.success, again.message
    assert server.served == 2 + len(bad_cases)


def test_action_feedback_result_and_cancel(ros):
    ros.add(EchoGraspServer(ros.context))
    client = ros.action_client(ExecuteGrasp, "execute_grasp")
    assert client.wait_for_server(timeout_sec=10.0)

    feedback = []
    goal = ExecuteGrasp.Goal(proposal=GraspProposal(object_ids=["red_block"],
                                                    hand_pose=pose_to_msg([0, 0, 0.6], [0, 0, 0, 1])),
                             lift_height=0.1, timeout=1.0)
    handle = ros.result(client.send_goal_async(goal, feedback_callback=lambda m: feedback.append(m.feedback)))
    assert handle.accepted
    res = ros.result(handle.get_result_async(), what="action result")
    assert res.result.success and list(res.result.objects_lifted) == ["red_block"]
    ros.wait_for(lambda: len(feedback) == 4, what="4 feedback messages")
    assert [f.phase for f in feedback] == ["reach", "close", "lift", "hold"]

    # Malformed goal (NaN hand pose) is aborted with a reason.
    bad = ExecuteGrasp.Goal(proposal=GraspProposal(hand_pose=pose_to_msg([0, math.nan, 0.6], [0, 0, 0, 1])),
                            lift_height=0.1, timeout=1.0)
    handle = ros.result(client.send_goal_async(bad))
    res = ros.result(handle.get_result_async())
    assert not res.result.success and "non-finite" in res.result.message

    # Cancel a slow goal.
    slow = ExecuteGrasp.Goal(proposal=goal.proposal, lift_height=0.1, timeout=10.0)
    handle = ros.result(client.send_goal_async(slow))
    ros.result(handle.cancel_goal_async(), what="cancel response")
    res = ros.result(handle.get_result_async())
    assert "cancelled" in res.result.message
