"""The ``planner`` node: ``/dexsafe/plan`` (dexsafe/srv/PlanInstruction).

Plans an instruction against the configured scene with the planning pipeline
(``dexsafe.planning.pipeline.InstructionPlanner``): draft (offline rule planner,
or an OpenAI-compatible LLM with fallback), correct, score, pick by the
harmlessness preference, validate (fails closed), seal. A refused or
ambiguous instruction is a successful call whose plan says REFUSED or CLARIFY
with the reason; ``success`` is false only when the request itself is unusable.
"""

from __future__ import annotations

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from dexsafe.ros_nodes.node_runtime import spin_node
from dexsafe.ros_nodes.planning_common import PLANNING_PARAMS, make_planner, plan_msg
from dexsafe.srv import PlanInstruction

PARAMS = PLANNING_PARAMS
MAX_INSTRUCTION_CHARS = 2000


class PlannerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("planner", **kwargs)
        self.planner = make_planner(self)
        self.create_service(PlanInstruction, "/dexsafe/plan", self._on_plan, callback_group=ReentrantCallbackGroup())
        self.get_logger().info(f"planning for scene {self.planner.scene.name!r} with backend "
                               f"{self.planner.config.backend!r}")

    def _on_plan(self, req, resp):
        text = req.instruction.strip()
        if not text:
            resp.success, resp.message = False, "instruction is empty"
            return resp
        if len(text) > MAX_INSTRUCTION_CHARS:
            resp.success, resp.message = False, f"instruction longer than {MAX_INSTRUCTION_CHARS} characters"
            return resp
        if req.scene:
            resp.success, resp.message = False, "per-request scenes are not supported yet; set the `scene` parameter"
            return resp
        if req.backend and req.backend != self.planner.config.backend:
            resp.success, resp.message = False, (f"backend {req.backend!r} requested, node runs "
                                                 f"{self.planner.config.backend!r}")
            return resp
        result = self.planner.plan(text)
        resp.plan = plan_msg(result.plan)
        resp.success = True
        resp.message = (f"{result.plan.status.value} by {result.backend} in {result.latency_s * 1000:.0f} ms"
                        + (f"; {result.fallback_reason}" if result.fallback_reason else ""))
        self.get_logger().info(f"plan {text!r}: {resp.message}")
        return resp


def main(argv: list[str] | None = None) -> int:
    return spin_node(PlannerNode, argv)
