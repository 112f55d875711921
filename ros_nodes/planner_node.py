"""The ``planner`` node: ``/dexsafe/plan`` (dexsafe/srv/PlanInstruction) and, cancellable,
``/dexsafe/compute_plan`` (dexsafe/action/ComputePlan).

Plans an instruction against the configured scene with the planning pipeline
(``dexsafe.planning.pipeline.InstructionPlanner``): draft (offline rule planner,
or an OpenAI-compatible LLM with fallback), correct, score, pick by the
harmlessness preference, validate (fails closed), seal. A refused or
ambiguous instruction is a successful call whose plan says REFUSED or CLARIFY
with the reason; ``success`` is false only when the request itself is unusable.

The action runs the pipeline in a worker thread and answers a cancel at once
(a blocking LLM request cannot be interrupted; the worker finishes within the
backend's timeout and its plan is discarded; new goals are refused until then).
"""

from __future__ import annotations

import threading
import time

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from dexsafe.action import ComputePlan
from dexsafe.ros_nodes.node_runtime import spin_node
from dexsafe.ros_nodes.planning_common import PLANNING_PARAMS, make_planner, plan_msg
from dexsafe.srv import PlanInstruction

PARAMS = PLANNING_PARAMS
MAX_INSTRUCTION_CHARS = 2000


class PlannerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("planner", **kwargs)
        self.planner = make_planner(self)
        group = ReentrantCallbackGroup()
        self._busy = threading.Lock()
        self.create_service(PlanInstruction, "/dexsafe/plan", self._on_plan, callback_group=group)
        self.action = ActionServer(self, ComputePlan, "/dexsafe/compute_plan", self._on_compute,
                                   goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
                                   callback_group=group)
        self.get_logger().info(f"planning for scene {self.planner.scene.name!r} with backend "
                               f"{self.planner.config.backend!r}")

    def _check(self, instruction: str, scene_given: bool, backend: str) -> str:
        """The request's problem, or "" if it is usable."""
        text = instruction.strip()
        if not text:
            return "instruction is empty"
        if len(text) > MAX_INSTRUCTION_CHARS:
            return f"instruction longer than {MAX_INSTRUCTION_CHARS} characters"
        if scene_given:
            return "per-request scenes are not supported yet; set the `scene` parameter"
        if backend and backend != self.planner.config.backend:
            return f"backend {backend!r} requested, node runs {self.planner.config.backend!r}"
        return ""

    def _on_goal(self, goal) -> GoalResponse:
        return GoalResponse.REJECT if self._busy.locked() else GoalResponse.ACCEPT

    def _on_compute(self, goal_handle):
        req = goal_handle.request
        result = ComputePlan.Result()
        problem = self._check(req.instruction, False, req.backend)
        if problem:
            result.message = problem
            goal_handle.abort()
            return result
        t0 = time.monotonic()
        box: dict = {}
        stage = {"name": "drafting"}

        def work():
            with self._busy:
                try:
                    box["result"] = self.planner.plan(req.instruction.strip(),
                                                      cancel=lambda: goal_handle.is_cancel_requested,
                                                      feedback=lambda s: stage.update(name=s))
                except Exception as exc:  # noqa: BLE001 - reported in the result
                    box["error"] = exc

        worker = threading.Thread(target=work, name="planner-worker", daemon=True)
        worker.start()
        while worker.is_alive():
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                result.message = "cancelled"
                return result
            goal_handle.publish_feedback(ComputePlan.Feedback(stage=stage["name"], elapsed=time.monotonic() - t0))
            worker.join(0.1)
        if "error" in box:
            result.message = f"planning failed: {box['error']}"
            goal_handle.abort()
            return result
        res = box["result"]
        result.plan, result.success = plan_msg(res.plan), True
        result.message = f"{res.plan.status.value} by {res.backend} in {res.latency_s * 1000:.0f} ms"
        goal_handle.succeed()
        return result

    def _on_plan(self, req, resp):
        problem = self._check(req.instruction, bool(req.scene), req.backend)
        if problem:
            resp.success, resp.message = False, problem
            return resp
        text = req.instruction.strip()
        with self._busy:
            result = self.planner.plan(text, failure_note=req.failure_note.strip()[:2000] or None)
        resp.plan = plan_msg(result.plan)
        resp.success = True
        resp.message = (f"{result.plan.status.value} by {result.backend} in {result.latency_s * 1000:.0f} ms"
                        + (f"; {result.fallback_reason}" if result.fallback_reason else ""))
        self.get_logger().info(f"plan {text!r}: {resp.message}")
        return resp


def main(argv: list[str] | None = None) -> int:
    return spin_node(PlannerNode, argv)
