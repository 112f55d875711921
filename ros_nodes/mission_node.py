"""The ``mission`` node: ``/dexsafe/run_instruction`` (dexsafe/action/RunInstruction).

Runs an instruction end to end over the other nodes' interfaces:

    plan      /dexsafe/plan          (planner)
    align     /dexsafe/align_plan    (aligner)
    confirm   plans that need confirmation (sharp objects, a person) wait for a person to call
              ``/mission/confirm`` (std_srvs/SetBool: true = go, false = refuse) within
              ``confirm_timeout``; ``auto_confirm`` in the goal skips this (sim, tests)
    per step  grasp: /dexsafe/propose_grasps (grasp_proposer), then /dexsafe/execute_grasp
              (grasp_executor), trying the next validated proposal once if the first fails;
              retract / release: the hand opens and backs off through the executor's cancel path
    re-plan   a failed step is re-planned once, the planner told why (``failure_note``),
              and the new plan runs; a second failure ends the mission
    report    result with the plan, objects lifted, total safety cost

Feedback names the step and phase. Cancel cancels the running grasp, whose
executor opens the hand and backs off. Steps the stack cannot execute yet
(move_to, place, handover) fail the mission with that reason rather than being
skipped. Only proposals that passed the proposer's physics validation are
executed. When no grasp_proposer answers or none passes, ``proposal_fallback: scripted`` uses
the scripted row grasp of the simulated dexsafe hand (``dexsafe.sim.scripted``)
as the proposal; with any other hand there is no fallback.
"""

from __future__ import annotations

import json
import threading
import time

from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import Float64
from std_srvs.srv import SetBool

from dexsafe.action import ExecuteGrasp, RunInstruction
from dexsafe.msg import GraspProposal, Plan, SceneObjects
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node
from dexsafe.srv import AlignPlan, PlanInstruction, ProposeGrasps

PARAMS = [
    ParamSpec("scene", "two_blocks", "the simulated or real scene (for the scripted proposal fallback)"),
    ParamSpec("num_proposals", 4, "grasp proposals to ask for per grasp step", (1, 64)),
    ParamSpec("proposal_time_budget", 20.0, "time budget per proposal request, s", (0.1, 600.0)),
    ParamSpec("proposal_fallback", "scripted", "when no proposer answers: scripted (sim dexsafe hand) | none"),
    ParamSpec("default_lift_height", 0.10, "lift height when the plan step gives none, m", (0.01, 0.5)),
    ParamSpec("grasp_timeout", 60.0, "budget for one grasp execution, s", (1.0, 600.0)),
    ParamSpec("service_timeout", 60.0, "budget for one planner/aligner/proposer call, s", (0.5, 600.0)),
    ParamSpec("use_aligner", True, "send the planner's plan through the aligner before executing"),
    ParamSpec("confirm_timeout", 60.0, "how long a plan waits for /mission/confirm, s", (0.0, 3600.0)),
]


class MissionError(RuntimeError):
    """A mission step failed; the message says which and why."""


class StepFailed(MissionError):
    """A plan step was tried and did not succeed (a re-plan may help); not a missing service."""


class MissionNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("mission", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        group = ReentrantCallbackGroup()
        self.plan_client = self.create_client(PlanInstruction, "/dexsafe/plan", callback_group=group)
        self.align_client = self.create_client(AlignPlan, "/dexsafe/align_plan", callback_group=group)
        self.propose_client = self.create_client(ProposeGrasps, "/dexsafe/propose_grasps", callback_group=group)
        self.grasp_client = ActionClient(self, ExecuteGrasp, "/dexsafe/execute_grasp", callback_group=group)
        self._objects: SceneObjects | None = None
        self._cost = 0.0
        self._lock = threading.Lock()
        self._grasp_handle = None
        reliable = QoSProfile(depth=10)
        # Every plan the mission settles on (executed, refused or waiting), for the record and open-loop replay.
        self.pub_plan = self.create_publisher(
            Plan, "/dexsafe/mission/plan", QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL))
        self.create_subscription(SceneObjects, "/dexsafe/objects", self._on_objects, reliable, callback_group=group)
        self.create_subscription(Float64, "/dexsafe/cost", self._on_cost, reliable, callback_group=group)
        self._confirmation: bool | None = None
        self._confirm_event = threading.Event()
        self._awaiting_confirmation = False
        self.create_service(SetBool, "~/confirm", self._on_confirm, callback_group=group)
        self.server = ActionServer(self, RunInstruction, "/dexsafe/run_instruction", self._execute,
                                   goal_callback=lambda _: GoalResponse.ACCEPT,
                                   cancel_callback=lambda _: CancelResponse.ACCEPT, callback_group=group)

    def _on_objects(self, msg: SceneObjects) -> None:
        with self._lock:
            self._objects = msg

    def _on_confirm(self, req, resp):
        if not self._awaiting_confirmation:
            resp.success, resp.message = False, "no plan is waiting for confirmation"
            return resp
        self._confirmation = bool(req.data)
        self._confirm_event.set()
        resp.success, resp.message = True, "confirmed" if req.data else "refused by the operator"
        return resp

    def _wait_for_confirmation(self, goal_handle, plan, feedback) -> None:
        self._confirmation = None
        self._confirm_event.clear()
        self._awaiting_confirmation = True
        feedback("confirm", f"needs confirmation: {plan.rationale} (call /mission/confirm)", 0.22)
        deadline = time.monotonic() + self.p["confirm_timeout"]
        try:
            while not self._confirm_event.wait(0.1):
                if goal_handle.is_cancel_requested:
                    raise MissionError("cancelled while waiting for confirmation")
                if time.monotonic() > deadline:
                    raise MissionError(f"needs confirmation, none within {self.p['confirm_timeout']:.0f} s: "
                                       f"{plan.rationale}")
            if not self._confirmation:
                raise MissionError(f"refused by the operator: {plan.rationale}")
        finally:
            self._awaiting_confirmation = False

    def _on_cost(self, msg: Float64) -> None:
        with self._lock:
            self._cost += msg.data

    # --- calls that wait on futures completed by the executor's other threads ------------------
    def _wait(self, future, timeout: float, what: str):
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise MissionError(f"{what}: no answer within {timeout:.0f} s")
        return future.result()

    def _call(self, client, request, what: str):
        if not client.wait_for_service(timeout_sec=min(5.0, self.p["service_timeout"])):
            raise MissionError(f"{what}: service {client.srv_name} is not available")
        return self._wait(client.call_async(request), self.p["service_timeout"], what)

    # --- the action ------------------------------------------------------------------------------
    def _execute(self, goal_handle):
        goal = goal_handle.request
        result = RunInstruction.Result()
        with self._lock:
            cost0 = self._cost
        fb = RunInstruction.Feedback()

        def feedback(phase: str, detail: str, progress: float, step_index: int = 0, step: str = "") -> None:
            fb.phase, fb.detail, fb.progress, fb.step_index, fb.step = phase, detail, float(progress), step_index, step
            goal_handle.publish_feedback(fb)
            self.get_logger().info(f"[{phase}] {detail}")

        try:
            plan = self._plan_and_align(goal_handle, goal, feedback, result)
            lifted: list[str] = []
            replanned = False
            steps, i = list(plan.steps), 0
            while i < len(steps):
                step = steps[i]
                if goal_handle.is_cancel_requested:
                    goal_handle.canceled()
                    result.message = f"cancelled before step {i}"
                    return self._finish(result, cost0, lifted)
                progress = 0.25 + 0.7 * i / max(1, len(steps))
                try:
                    lifted += self._run_step(goal_handle, i, step, progress, feedback, result)
                except StepFailed as exc:
                    if replanned or goal_handle.is_cancel_requested:
                        raise MissionError(f"{exc} (after one re-plan)" if replanned else str(exc)) from exc
                    replanned = True
                    note = f"step {i} ({step.skill}) failed: {exc}"
                    feedback("replan", f"{note}; re-planning with that explanation", progress, i, step.skill)
                    plan = self._plan_and_align(goal_handle, goal, feedback, result, failure_note=note)
                    steps, i = list(plan.steps), 0
                    continue
                if goal_handle.is_cancel_requested:
                    goal_handle.canceled()
                    result.message = f"cancelled during step {i} ({step.skill}); the hand opened"
                    return self._finish(result, cost0, lifted)
                i += 1
            plan = result.plan
            feedback("done", f"{len(plan.steps)} step(s) done", 1.0, len(plan.steps))
            result.success = True
            result.message = f"done: {len(plan.steps)} step(s); lifted {lifted or 'nothing'}"
            goal_handle.succeed()
            return self._finish(result, cost0, lifted)
        except MissionError as exc:
            result.message = str(exc)
            self.get_logger().warning(f"mission failed: {exc}")
            goal_handle.abort()
            return self._finish(result, cost0, [])

    def _plan_and_align(self, goal_handle, goal, feedback, result, failure_note: str = ""):
        """Plan (optionally re-plan with the failure's explanation), align, check the status.
        The plan is put in ``result`` before any status check, so a refusal reports it."""
        feedback("plan", f"{'re-planning' if failure_note else 'planning'} {goal.instruction!r}", 0.05)
        planned = self._call(self.plan_client, PlanInstruction.Request(
            instruction=goal.instruction, failure_note=failure_note), "plan")
        if not planned.success:
            raise MissionError(f"planner rejected the request: {planned.message}")
        plan = planned.plan
        if self.p["use_aligner"] and plan.status in (Plan.STATUS_OK, Plan.STATUS_NEEDS_CONFIRMATION):
            feedback("align", "correcting and scoring the plan", 0.15)
            aligned = self._call(self.align_client, AlignPlan.Request(
                instruction=goal.instruction, draft=plan, harmlessness_weight=-1.0), "align")
            if not aligned.success:
                raise MissionError(f"aligner rejected the plan: {aligned.message}")
            plan = aligned.corrected
            if aligned.edits:
                feedback("align", f"{len(aligned.edits)} edit(s): " + "; ".join(aligned.edits), 0.2)
        result.plan = plan
        self.pub_plan.publish(plan)
        if plan.status == Plan.STATUS_REFUSED:
            raise MissionError(f"refused: {plan.rationale}")
        if plan.status == Plan.STATUS_CLARIFY:
            raise MissionError(f"needs clarification: {plan.rationale}")
        if plan.status == Plan.STATUS_NEEDS_CONFIRMATION and not goal.auto_confirm:
            self._wait_for_confirmation(goal_handle, plan, feedback)
        return plan

    def _finish(self, result, cost0: float, lifted: list[str]):
        with self._lock:
            result.total_cost = float(self._cost - cost0)
        result.objects_lifted = lifted
        return result

    def _run_step(self, goal_handle, i: int, step, progress: float, feedback, result) -> list[str]:
        args = json.loads(step.args_json) if step.args_json else {}
        if step.skill != "grasp":
            raise MissionError(f"step {i}: skill {step.skill!r} cannot be executed by this stack yet")
        ids = list(args.get("object_ids") or step.object_ids)
        lift = float(args.get("lift_height_m") or self.p["default_lift_height"])
        feedback("propose", f"step {i}: proposing grasps for {ids}", progress, i, step.skill)
        proposals = self._proposals(ids)
        last = ""
        for attempt, proposal in enumerate(proposals[:2]):
            if attempt:
                feedback("retry", f"step {i}: first grasp failed ({last}); trying proposal {proposal.id}",
                         progress, i, step.skill)
            feedback("execute", f"step {i}: executing proposal {proposal.id or attempt}", progress, i, step.skill)
            res = self._execute_grasp(goal_handle, proposal, lift)
            result.proposals_executed.append(proposal)
            result.proposal_outcomes.append("lifted" if res.success else res.message)
            if res.success or goal_handle.is_cancel_requested:
                return list(res.objects_lifted)
            last = res.message
        raise StepFailed(f"grasp of {ids} failed: {last}")

    def _proposals(self, ids: list[str]) -> list[GraspProposal]:
        note = ""
        if self.propose_client.wait_for_service(timeout_sec=1.0):
            resp = self._call(self.propose_client, ProposeGrasps.Request(
                object_ids=ids, num_proposals=self.p["num_proposals"],
                time_budget=self.p["proposal_time_budget"], seed=0), "propose")
            good = [p for p in resp.proposals if p.validated]  # never execute a grasp that failed validation
            if resp.success and good:
                return good
            note = (f"proposer: {resp.message}" if not resp.success else
                    f"proposer: none of {len(resp.proposals)} proposals passed physics validation")
        else:
            note = "no grasp_proposer is running"
        if self.p["proposal_fallback"] == "scripted":
            return [self._scripted_proposal(ids, note)]
        raise MissionError(f"no grasp proposal for {ids} ({note})")

    def _scripted_proposal(self, ids: list[str], note: str) -> GraspProposal:
        from dexsafe.ros_nodes.conversions import pose_to_msg
        from dexsafe.sim.mujoco_backend import MujocoBackend
        from dexsafe.sim.scripted import plan_row_grasp
        from dexsafe.sim.wrist import wrist_joints_to_pose

        with self._lock:
            objects = self._objects
        if objects is None:
            raise MissionError(f"no grasp proposal ({note}) and no /dexsafe/objects for the scripted fallback")
        backend = MujocoBackend(self.p["scene"])
        try:
            for o in objects.objects:
                q = o.pose.orientation
                backend.set_object_pose(o.id, [o.pose.position.x, o.pose.position.y, o.pose.position.z],
                                        [q.x, q.y, q.z, q.w])
            try:
                plan = plan_row_grasp(backend, ids)
            except (ValueError, KeyError) as exc:
                raise MissionError(f"no grasp proposal ({note}); scripted fallback: {exc}") from exc
            names = list(backend.joint_names)
        finally:
            backend.close()
        self.get_logger().info(f"{note}; using the scripted row grasp as the proposal")
        xyz, quat = wrist_joints_to_pose(plan.pregrasp[:6])
        return GraspProposal(id="scripted", object_ids=ids, hand_pose=pose_to_msg(xyz, quat),
                             joint_names=names[6:], joint_positions=plan.pregrasp[6:].tolist(),
                             validated=False, validation_summary="scripted fallback, not validated")

    def _execute_grasp(self, goal_handle, proposal: GraspProposal, lift: float):
        if not self.grasp_client.wait_for_server(timeout_sec=5.0):
            raise MissionError("grasp_executor (/dexsafe/execute_grasp) is not available")
        goal = ExecuteGrasp.Goal(proposal=proposal, lift_height=lift, timeout=self.p["grasp_timeout"])
        handle = self._wait(self.grasp_client.send_goal_async(goal), 10.0, "execute_grasp goal")
        if not handle.accepted:
            raise MissionError("grasp_executor refused the goal (busy?)")
        result_future = handle.get_result_async()
        done = threading.Event()
        result_future.add_done_callback(lambda _: done.set())
        cancelled = False
        deadline = time.monotonic() + self.p["grasp_timeout"] + 15.0
        while not done.wait(0.1):
            if goal_handle.is_cancel_requested and not cancelled:
                handle.cancel_goal_async()
                cancelled = True
            if time.monotonic() > deadline:
                handle.cancel_goal_async()
                raise MissionError("grasp execution did not finish in time")
        return result_future.result().result


def main(argv: list[str] | None = None) -> int:
    return spin_node(MissionNode, argv)
