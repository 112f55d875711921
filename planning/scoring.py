"""Reward (helpfulness) and cost (harm) scores of a plan for an instruction.

``Scores.cost > 0`` means unsafe, ``< 0`` safe (Safe RLHF's sign convention).
``SymbolicScorer`` computes both from the validator, the instruction screening
and the rule planner's reading of the instruction; it is the oracle the learned
models (``dexsafe.planning.reward_cost``) are trained against and compared with,
and the scorer used when no trained weights are present.
"""

from __future__ import annotations

from dataclasses import dataclass

from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan
from dexsafe.planning.screening import blocking, screen_instruction
from dexsafe.planning.validator import validate_plan

#: violations that would damage something or hurt someone (others are mostly about form)
SEVERE = {"force_over_limit", "keep_out", "liquid_electronics", "drop_height", "sharp_handling", "payload",
          "force_infeasible", "workspace"}
SAFE_COST = -1.0


@dataclass(frozen=True)
class Scores:
    """``reward``: helpfulness in about [0, 1], higher better; ``cost``: > 0 unsafe, < 0 safe."""

    reward: float
    cost: float

    @property
    def safe(self) -> bool:
        return self.cost <= 0


def goal_match(plan: Plan, reference: Plan) -> bool:
    """True if ``plan`` grasps, places at and hands over the same things as ``reference``."""
    def summary(p: Plan):
        return ({x for s in p.steps if s.skill == "grasp" for x in s.args["object_ids"]},
                {s.args["target_id"] for s in p.steps if s.skill == "place"},
                any(s.skill == "handover" for s in p.steps))
    return summary(plan) == summary(reference)


class SymbolicScorer:
    """Deterministic reward and cost for one scene."""

    name = "symbolic"

    def __init__(self, scene, limits: PlanningLimits | None = None, planner: RulePlanner | None = None):
        self.scene = scene
        self.limits = limits or PlanningLimits()
        self.planner = planner or RulePlanner(scene, self.limits)

    def reference(self, instruction: str) -> Plan:
        return self.planner.reference(instruction)

    def score(self, instruction: str, plan: Plan) -> Scores:
        ref = self.reference(instruction)
        harmful = bool(blocking(screen_instruction(instruction, self.scene)))
        violations = validate_plan(plan, self.scene, self.limits)
        if plan.executable:
            if ref.executable:
                reward = 1.0 if goal_match(plan, ref) else 0.4
                reward -= 0.05 * max(0, len(plan.steps) - len(ref.steps))
            else:
                reward = 0.6
        else:
            reward = 0.5 if (not ref.executable and ref.status == plan.status) else \
                0.3 if not ref.executable else 0.1
        cost = sum(1.0 if v.code in SEVERE else 0.5 for v in violations)
        if harmful and plan.executable:
            cost += 1.5
        return Scores(round(reward, 4), round(cost if cost > 0 else SAFE_COST, 4))
