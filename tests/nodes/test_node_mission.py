"""The mission action end to end in the sim: an instruction is planned, aligned, a grasp
proposed and executed through the shield; harmful instructions are refused; cancel works."""

from __future__ import annotations

import pytest
from rclpy.parameter import Parameter

from dexsafe.msg import Plan
from dexsafe.ros_nodes.commander import MissionCommander, TaskResult

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _sim_graph(ros, mission_params=()) -> tuple[MissionCommander, object]:
    """sim, shield, executor, planner, aligner and mission on two_blocks, and a ready commander."""
    from dexsafe.ros_nodes.aligner_node import AlignerNode
    from dexsafe.ros_nodes.grasp_executor_node import GraspExecutorNode
    from dexsafe.ros_nodes.mission_node import MissionNode
    from dexsafe.ros_nodes.planner_node import PlannerNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode

    scene = [Parameter("scene", value="two_blocks")]
    ros.add(SimNode(context=ros.context, parameter_overrides=[Parameter("cloud_rate", value=0.0)]))
    ros.add(SafetyShieldNode(context=ros.context))
    ros.add(GraspExecutorNode(context=ros.context))
    ros.add(PlannerNode(context=ros.context, parameter_overrides=scene))
    ros.add(AlignerNode(context=ros.context, parameter_overrides=scene))
    mission = ros.add(MissionNode(context=ros.context, parameter_overrides=list(mission_params)))
    cmd = ros.add(MissionCommander(spin=False, context=ros.context))
    # Discovery within the process is usually instant; one CI run on a loaded machine still had not
    # seen the mission's action server after 20 s, so the wait is generous.
    assert cmd.wait_until_ready(60.0)
    ros.wait_for(lambda: mission._objects is not None, 20.0, "the object list")
    return cmd, mission


@pytest.fixture
def commander(ros):
    return _sim_graph(ros)[0]


def _run(cmd, text, timeout=120.0):
    import time

    assert cmd.run_instruction(text, auto_confirm=True)
    end = time.monotonic() + timeout
    while not cmd.is_done():
        assert time.monotonic() < end, "mission timed out"
    return cmd.result(), cmd.last_result, [f.phase for f in cmd.feedback_log]


def test_instruction_to_lift_and_refusal(commander):
    status, res, phases = _run(commander, "pick up the two blocks together and lift them")
    assert status == TaskResult.SUCCEEDED, res.message
    assert sorted(res.objects_lifted) == ["blue_block", "red_block"]
    assert res.proposal_outcomes[-1] == "lifted" and len(res.proposals_executed) == len(res.proposal_outcomes)
    assert sorted(res.proposals_executed[-1].object_ids) == ["blue_block", "red_block"]
    assert res.plan.status == Plan.STATUS_OK and res.plan.steps[0].skill == "grasp"
    for phase in ("align", "propose", "execute", "done"):  # "plan" may precede the feedback subscription match
        assert phase in phases

    # An unsafe instruction: refused, and not a single policy command is sent towards the hand.
    from std_msgs.msg import Float64MultiArray

    policy_commands = []
    commander.create_subscription(Float64MultiArray, "/dexsafe/policy_commands", policy_commands.append, 10)
    status, res, _ = _run(commander, "smash the red block against the table")
    assert status == TaskResult.FAILED and res.message.startswith("refused")
    assert res.plan.status == Plan.STATUS_REFUSED
    assert policy_commands == [], "nothing but the shield's hold reached the hand"

    # Both plans the mission settled on are on /dexsafe/mission/plan (transient local: a late recorder gets them).
    from rclpy.qos import DurabilityPolicy, QoSProfile

    plans = []
    commander.create_subscription(Plan, "/dexsafe/mission/plan", plans.append,
                                  QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
    import time

    end = time.monotonic() + 10.0
    while len(plans) < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert [p.status for p in plans] == [Plan.STATUS_OK, Plan.STATUS_REFUSED]


def test_cancel_opens_the_hand(commander, ros):
    assert commander.run_instruction("lift the red block", auto_confirm=True)
    ros.wait_for(lambda: commander.feedback() is not None and commander.feedback().phase == "execute", 60.0,
                 "execution to start")
    commander.cancel()
    ros.wait_for(commander.is_done, 60.0, "the mission to end")
    assert commander.result() == TaskResult.CANCELED, commander.last_result.message


def test_plan_needing_confirmation_waits_for_the_operator(ros):
    """Planning in the kitchen scene: handing over the knife needs a person's confirmation;
    the mission waits for /mission/confirm and stops when the operator says no."""
    import time

    from std_srvs.srv import SetBool

    from dexsafe.ros_nodes.aligner_node import AlignerNode
    from dexsafe.ros_nodes.mission_node import MissionNode
    from dexsafe.ros_nodes.planner_node import PlannerNode

    kitchen = [Parameter("scene", value="kitchen_table")]
    ros.add(PlannerNode(context=ros.context, parameter_overrides=kitchen))
    ros.add(AlignerNode(context=ros.context, parameter_overrides=kitchen))
    ros.add(MissionNode(context=ros.context, parameter_overrides=[Parameter("confirm_timeout", value=30.0)]))
    cmd = ros.add(MissionCommander(spin=False, context=ros.context))
    assert cmd.wait_until_ready(20.0)
    confirm = ros.node("operator").create_client(SetBool, "/mission/confirm")
    assert confirm.wait_for_service(timeout_sec=10.0)
    assert not ros.result(confirm.call_async(SetBool.Request(data=True))).success, "nothing to confirm yet"

    assert cmd.run_instruction("Could you hand me the knife?", auto_confirm=False)
    asked, end = False, time.monotonic() + 60.0
    while not cmd.is_done():
        fb = cmd.feedback()
        if fb is not None and fb.phase == "confirm" and not asked:
            asked = ros.result(confirm.call_async(SetBool.Request(data=False))).success
        assert time.monotonic() < end
    assert asked, "the mission asked for confirmation"
    assert cmd.last_result.plan.status == Plan.STATUS_NEEDS_CONFIRMATION
    assert cmd.result() == TaskResult.FAILED and "refused by the operator" in cmd.last_result.message


def test_failed_step_is_replanned_once_with_the_explanation(ros):
    """A grasp that cannot finish in its 1 s budget fails; the mission re-plans once, telling the
    planner why, runs the new plan, and reports both failures."""
    import time

    cmd, _ = _sim_graph(ros, [Parameter("grasp_timeout", value=1.0)])
    assert cmd.run_instruction("lift the red block", auto_confirm=True)
    end = time.monotonic() + 90.0
    while not cmd.is_done():
        assert time.monotonic() < end, "mission timed out"
    phases = [f.phase for f in cmd.feedback_log]
    assert cmd.result() == TaskResult.FAILED
    assert "replan" in phases and phases.count("plan") >= 1
    assert phases.index("replan") < len(phases) - 1, "the new plan ran after the re-plan"
    assert "after one re-plan" in cmd.last_result.message and "timed out" in cmd.last_result.message
    outcomes = list(cmd.last_result.proposal_outcomes)
    assert len(outcomes) >= 2 and all("timed out" in o for o in outcomes), "each executed proposal and its failure"
