"""The ``aligner`` node: ``/dexsafe/align_plan`` (dexsafe/srv/AlignPlan).

Aligner-style correction of a draft plan (learned corrector with the rule
corrector as backstop), scored by the reward and cost models (Safe RLHF form:
cost > 0 is unsafe), validated (fails closed). Returns the corrected plan, the
edits, reward and cost. A malformed draft (unknown skill, bad JSON arguments)
is itself corrected or refused; ``success`` is false only for unusable requests.
"""

from __future__ import annotations

from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from dexsafe.core.validation import InvalidInput
from dexsafe.ros_nodes.conversions import plan_from_msg
from dexsafe.ros_nodes.node_runtime import spin_node
from dexsafe.ros_nodes.planning_common import PLANNING_PARAMS, make_planner, plan_msg
from dexsafe.srv import AlignPlan

PARAMS = PLANNING_PARAMS


class AlignerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("aligner", **kwargs)
        self.planner = make_planner(self)
        self.create_service(AlignPlan, "/dexsafe/align_plan", self._on_align, callback_group=ReentrantCallbackGroup())

    def _on_align(self, req, resp):
        if req.scene:
            resp.success, resp.message = False, "per-request scenes are not supported yet; set the `scene` parameter"
            return resp
        floor = self.planner.config.harmlessness_floor
        if 0.0 <= req.harmlessness_weight < floor or req.harmlessness_weight > 1.0:
            resp.success, resp.message = False, (f"harmlessness_weight {req.harmlessness_weight} outside "
                                                 f"[{floor}, 1] (negative = the node's default)")
            return resp
        try:
            draft = plan_from_msg(req.draft)
        except InvalidInput as exc:
            resp.success, resp.message = False, f"draft: {exc}"
            return resp
        result = self.planner.align(req.instruction or req.draft.instruction, draft)
        resp.corrected = plan_msg(result.plan)
        resp.edits = [f"{e.kind} step {e.step} {e.field}: {e.before!r} -> {e.after!r} ({e.reason})"
                      for e in result.edits]
        resp.reward, resp.cost = float(result.reward), float(result.cost)
        resp.success = True
        resp.message = f"{result.plan.status.value} after {len(result.edits)} edit(s) by {result.corrector}"
        return resp


def main(argv: list[str] | None = None) -> int:
    return spin_node(AlignerNode, argv)
