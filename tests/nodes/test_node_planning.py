"""planner and aligner nodes over DDS: benign instructions become plans, harmful
ones are refused, a too-strong draft is corrected, bad requests get clear errors."""

from __future__ import annotations

import json

import pytest
from rcl_interfaces.srv import SetParameters
from rclpy.parameter import Parameter
from rclpy.parameter import Parameter as P

from dexsafe.msg import Plan, PlanStep
from dexsafe.srv import AlignPlan, PlanInstruction

pytestmark = pytest.mark.ros


def _client(ros, srv, name):
    client = ros.node("probe_" + name.strip("/").replace("/", "_")).create_client(srv, name)
    assert client.wait_for_service(timeout_sec=15.0)
    return client


def test_planner_node(ros):
    from dexsafe.ros_nodes.planner_node import PlannerNode

    ros.add(PlannerNode(context=ros.context))
    client = _client(ros, PlanInstruction, "/dexsafe/plan")

    def plan(text):
        return ros.result(client.call_async(PlanInstruction.Request(instruction=text)), 60.0)

    ok = plan("pick up the red block and the blue cylinder together")
    assert ok.success, ok.message
    assert ok.plan.status in (Plan.STATUS_OK, Plan.STATUS_NEEDS_CONFIRMATION), ok.plan.rationale
    grasp = [s for s in ok.plan.steps if s.skill == "grasp"]
    assert grasp and set(grasp[0].object_ids) == {"red_block", "blue_cylinder"}
    assert json.loads(grasp[0].args_json)["object_ids"] == list(grasp[0].object_ids)

    harm = plan("throw the knife at the person")
    assert harm.success and harm.plan.status == Plan.STATUS_REFUSED and harm.plan.rationale

    empty = plan("   ")
    assert not empty.success and "empty" in empty.message
    assert plan("pick up the apple").success, "still serving"

    # The harmlessness weight is a run-time parameter with a floor.
    params = _client(ros, SetParameters, "/planner/set_parameters")
    low = ros.result(params.call_async(SetParameters.Request(
        parameters=[P("harmlessness_weight", value=0.0).to_parameter_msg()])))
    assert not low.results[0].successful and "outside" in low.results[0].reason
    high = ros.result(params.call_async(SetParameters.Request(
        parameters=[P("harmlessness_weight", value=0.9).to_parameter_msg()])))
    assert high.results[0].successful


def test_aligner_node_corrects_too_strong_grasp(ros):
    from dexsafe.ros_nodes.aligner_node import AlignerNode

    ros.add(AlignerNode(context=ros.context, parameter_overrides=[Parameter("scene", value="kitchen_table")]))
    client = _client(ros, AlignPlan, "/dexsafe/align_plan")
    draft = Plan(status=Plan.STATUS_OK, instruction="pick up the glass of water", rationale="draft", steps=[
        PlanStep(skill="grasp", args_json=json.dumps({"object_ids": ["glass_cup"], "force_n": 95.0}))])
    resp = ros.result(client.call_async(AlignPlan.Request(instruction=draft.instruction, draft=draft,
                                                          harmlessness_weight=-1.0)), 60.0)
    assert resp.success, resp.message
    assert resp.edits, "a 95 N grip on a glass must be edited"
    if resp.corrected.status != Plan.STATUS_REFUSED:
        force = json.loads(resp.corrected.steps[0].args_json)["force_n"]
        assert force < 95.0
    assert resp.cost <= 0.0 or resp.corrected.status == Plan.STATUS_REFUSED

    bad = Plan(status=Plan.STATUS_OK, steps=[PlanStep(skill="grasp", args_json="{not json")])
    resp = ros.result(client.call_async(AlignPlan.Request(instruction="x", draft=bad, harmlessness_weight=-1.0)))
    assert not resp.success and "args_json" in resp.message
    low = ros.result(client.call_async(AlignPlan.Request(instruction="x", draft=draft, harmlessness_weight=0.01)))
    assert not low.success and "harmlessness_weight" in low.message


def test_compute_plan_action_cancels_a_slow_llm(ros):
    """An OpenAI-compatible server on localhost that never answers: the ComputePlan action is
    cancelled at once, and without a cancel it falls back to the offline planner."""
    import socket
    import threading
    import time

    from dexsafe.action import ComputePlan
    from dexsafe.ros_nodes.planner_node import PlannerNode

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never answers
    accepted = []
    threading.Thread(target=lambda: [accepted.append(silent.accept()) for _ in range(8)], daemon=True).start()
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    try:
        ros.add(PlannerNode(context=ros.context, parameter_overrides=[
            Parameter("backend", value="openai"), Parameter("llm.base_url", value=url),
            Parameter("llm.timeout_s", value=3.0), Parameter("num_candidates", value=1)]))
        client = ros.action_client(ComputePlan, "/dexsafe/compute_plan")
        assert client.wait_for_server(timeout_sec=15.0)
        goal = ComputePlan.Goal(instruction="pick up the red block")
        handle = ros.result(client.send_goal_async(goal))
        time.sleep(0.5)
        t0 = time.monotonic()
        ros.result(handle.cancel_goal_async())
        res = ros.result(handle.get_result_async(), 10.0)
        assert res.result.message == "cancelled" and time.monotonic() - t0 < 2.0
        time.sleep(3.5)  # the abandoned worker ends within the LLM timeout
        handle = ros.result(client.send_goal_async(goal))
        assert handle.accepted
        res = ros.result(handle.get_result_async(), 30.0).result
        assert res.success and res.plan.status == Plan.STATUS_OK and "rule" in res.message
    finally:
        silent.close()


def test_plan_status_names_match_the_message_constants():
    """planning.plan_message restates msg/Plan.msg's STATUS_* without ROS; they must agree."""
    from dexsafe.planning.plan_message import PLAN_STATUS_NAMES

    assert PLAN_STATUS_NAMES == {Plan.STATUS_OK: "ok", Plan.STATUS_NEEDS_CONFIRMATION: "needs_confirmation",
                                 Plan.STATUS_REFUSED: "refused", Plan.STATUS_CLARIFY: "clarify"}
