"""Self-check before execution and re-planning after a failed step (JARVIS-1's self-check / self-explain).

``self_check(instruction, plan, scene)`` simulates the plan against the scene
(the validator's hand-state model) and against what the instruction asks (the
rule planner's reading): it returns human-readable problems, ``[]`` if none.

``replan_after_failure(...)`` takes the failed step and a short explanation
("the red block slipped", "too much force, the cup deformed", "collided with
the bowl", "the apple is missing", "a person reached in") and returns a new plan
for the remaining work with the cause addressed: a stronger grip (within the
object's limit) after a slip, a gentler one after damage, slower and from the
side after a collision, a clarification when an object is missing, and a
refusal after an intrusion or after the same failure repeated in memory.
The new plan is validated; it is never more permissive than the old one.
"""

from __future__ import annotations

import re
from dataclasses import replace

from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep
from dexsafe.planning.scoring import goal_match
from dexsafe.planning.validator import max_grip_force_n, min_grip_force_n, validate_plan

FAILURE_CAUSES = {
    "slip": r"\b(slip|slipped|slipping|dropped|fell|lost (the )?grip|loose)\b",
    "damage": r"\b(too much force|crush|crushed|deformed|dented|cracked|damaged|squeezed too hard|broke)\b",
    "collision": r"\b(collid|collision|bumped|hit|blocked|obstacle|stuck)\w*",
    "missing": r"\b(missing|not found|cannot find|can't find|gone|moved away|not there|no longer)\b",
    "intrusion": r"\b(person|human|someone|hand) (reached|entered|is in|came|moved into)|\bintrusion\b|keep.?out",
}
MAX_REPEATS = 2


def explain_failure(explanation: str) -> str:
    """The cause class of a failure explanation: slip, damage, collision, missing, intrusion or unknown."""
    text = explanation.lower()
    for cause in ("intrusion", "damage", "slip", "collision", "missing"):
        if re.search(FAILURE_CAUSES[cause], text):
            return cause
    return "unknown"


def self_check(instruction: str, plan: Plan, scene, limits: PlanningLimits | None = None,
               planner: RulePlanner | None = None) -> list[str]:
    """Problems with ``plan`` before execution: validator violations and goal mismatch; ``[]`` if none."""
    limits = limits or PlanningLimits()
    problems = [str(v) for v in validate_plan(plan, scene, limits)]
    if plan.executable:
        reference = (planner or RulePlanner(scene, limits)).plan(instruction)
        if reference.executable and not goal_match(plan, reference):
            problems.append("the plan does not handle the objects/targets the instruction names")
    return problems


def replan_after_failure(instruction: str, plan: Plan, failed_step: int, explanation: str, scene,
                         limits: PlanningLimits | None = None, memory=None) -> Plan:
    """A new plan for the rest of ``plan`` from ``failed_step`` (0-based) with the failure's cause addressed."""
    limits = limits or PlanningLimits()
    cause = explain_failure(explanation)
    reasons = (f"replan:{cause}",)
    if not 0 <= failed_step < len(plan.steps):
        return Plan(PlanStatus.REFUSED, (), f"Cannot re-plan: step {failed_step} is not in the plan.", instruction,
                    ("replan:bad_step",), provenance={"backend": "replan"})
    if memory is not None:
        repeats = [e for _, e in memory.retrieve(instruction, scene.name, k=10, outcome="failure", min_similarity=0.95)
                   if explain_failure(e.explanation) == cause]
        if len(repeats) >= MAX_REPEATS:
            return Plan(PlanStatus.REFUSED, (), f"Stopped: the same failure ({cause}) happened {len(repeats)} times "
                        f"before for this instruction. Last: {explanation}", instruction,
                        reasons + ("replan:repeated",),
                        provenance={"backend": "replan"})
    if cause == "intrusion":
        return Plan(PlanStatus.OK, (PlanStep("retract", {}),), f"A person entered the workspace ({explanation}); "
                    "retracting and stopping.", instruction, reasons, provenance={"backend": "replan"})
    if cause == "missing":
        return Plan(PlanStatus.CLARIFY, (), f"Step {failed_step} failed: {explanation}. Where is the object now?",
                    instruction, reasons, provenance={"backend": "replan"})
    objects = {o.id: o for o in scene.objects}
    # restart from the grasp that the failed step depends on
    start = failed_step
    while start > 0 and plan.steps[start].skill != "grasp":
        start -= 1
    if plan.steps[start].skill != "grasp":
        start = failed_step
    steps = [PlanStep(s.skill, dict(s.args)) for s in plan.steps[start:]]
    notes = []
    for s in steps:
        if "speed" in s.args and cause in ("slip", "collision", "damage", "unknown"):
            s.args["speed"] = "slow"
        if s.skill == "grasp":
            objs = [objects[x] for x in s.args["object_ids"] if x in objects]
            fmax, fmin = max_grip_force_n(objs, limits), min_grip_force_n(objs, limits)
            if cause == "slip":
                new = round(min(fmax, max(s.args["force_n"] * 1.25, limits.firm_force_fraction * fmax)), 2)
                notes.append(f"grip {s.args['force_n']} -> {new} N (limit {fmax:.1f} N)")
                s.args["force_n"] = new
            elif cause == "damage":
                new = round(max(1.1 * fmin, min(s.args["force_n"] * 0.7, limits.gentle_force_fraction * fmax)), 2)
                notes.append(f"grip {s.args['force_n']} -> {new} N")
                s.args["force_n"] = min(new, fmax)
            elif cause == "collision":
                s.args["approach"] = "side" if s.args["approach"] == "top" else "top"
                notes.append(f"approach from the {s.args['approach']}")
    new_plan = Plan(plan.status, tuple(steps), f"Re-planned after step {failed_step} failed ({cause}: {explanation}). "
                    + ("; ".join(notes) + "." if notes else "Retrying slowly."), instruction,
                    tuple(dict.fromkeys(plan.reasons + reasons)), provenance={"backend": "replan",
                                                                              "replaces": plan.plan_id})
    violations = validate_plan(new_plan, scene, limits)
    if violations:
        return replace(new_plan, status=PlanStatus.REFUSED, steps=(), rationale=new_plan.rationale
                       + " But the new plan is not safe: " + "; ".join(map(str, violations)))
    return new_plan
