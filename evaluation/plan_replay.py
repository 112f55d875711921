"""Open-loop replay of the planner: each plan the mission recorded (``/dexsafe/mission/plan``)
is planned again from its instruction and checked against the validator.

For every recorded plan:

- constraints: an executable plan (ok, needs confirmation) must pass ``validate_plan``
  in the run's scene (schema, objects exist, preconditions, force and keep-out
  limits); a violation fails the run whatever planned it;
- divergence: when the plan came from the deterministic offline backend
  (provenance ``backend: rule``), ``InstructionPlanner`` with the recorded
  harmlessness weight plans the instruction again, and an executable result is
  corrected by the aligner as the mission does. The plan diverges when its
  status, skills, objects or arguments differ. Plans from an LLM backend are
  only validated (their drafts cannot be reproduced offline) and the summary
  says so.

The offline backend ignores a re-plan's failure note, so re-plans compare too.
The scene is the run's (``RunInfo.scene``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from dexsafe.evaluation.bag_reader import BagReader
from dexsafe.evaluation.run_info import RunInfo


@dataclass
class PlanReplay:
    """What the planner's open-loop replay found (``Summary.components['planner']``)."""

    plans: int
    """recorded plans"""
    compared: int
    """plans planned again and compared (offline backend)"""
    diverged: int
    violations: int
    """recorded plans that are no valid schema plan, or executable ones the validator rejects"""
    details: list[dict] = field(default_factory=list)
    """per recorded plan: instruction, recorded and replayed status and skills, what differed, violations"""

    def as_dict(self) -> dict:
        return asdict(self)


def _comparable(plan) -> tuple:
    return (plan.status.value, tuple((s.skill, tuple(sorted(s.args.items(), key=lambda kv: kv[0])))
                                     for s in plan.steps))


@dataclass
class RecordedPlan:
    """One recorded plan: parsed, or the reason it is not a valid schema plan."""

    instruction: str
    plan: object | None
    """``dexsafe.planning.schema.Plan``; None when ``error`` says why it does not parse"""
    error: str = ""


def recorded_plans(reader: BagReader, topic: str) -> list[RecordedPlan]:
    """The ``dexsafe/Plan`` messages on ``topic`` (empty if none were recorded). A message that is no
    valid schema plan is kept with its error: it reached the record, so it counts as a violation."""
    if topic not in reader.info.topics:
        return []
    from dexsafe.core.validation import InvalidInput
    from dexsafe.planning.plan_message import plan_from_msg
    from dexsafe.planning.schema import SchemaError, plan_from_dict

    plans = []
    for _, _, msg in reader.messages([topic]):
        try:
            plans.append(RecordedPlan(msg.instruction, plan_from_dict(plan_from_msg(msg))))
        except (InvalidInput, SchemaError, ValueError) as exc:
            plans.append(RecordedPlan(msg.instruction, None, f"not a valid schema plan: {exc}"))
    return plans


def replay_plans(plans: list[RecordedPlan], info: RunInfo) -> tuple[PlanReplay, list[str]]:
    """Validate every recorded plan and re-plan the offline ones; returns what it found and the reasons to fail."""
    from dexsafe.planning.pipeline import InstructionPlanner, PlannerConfig
    from dexsafe.planning.validator import validate_plan
    from dexsafe.sim.scene_spec import load_scene

    scene = load_scene(info.scene)
    planners: dict[float, InstructionPlanner] = {}
    found = PlanReplay(plans=len(plans), compared=0, diverged=0, violations=0)
    for recorded in plans:
        plan = recorded.plan
        if plan is None:
            found.violations += 1
            found.details.append({"instruction": recorded.instruction, "violations": [recorded.error]})
            continue
        detail: dict = {"instruction": plan.instruction, "status": plan.status.value, "skills": plan.skills()}
        problems = [str(v) for v in validate_plan(plan, scene)] if plan.executable else []
        if problems:
            found.violations += 1
            detail["violations"] = problems
        prov = plan.provenance or {}
        if prov.get("backend") != "rule":
            detail["replayed"] = f"not re-planned: backend {prov.get('backend') or '(unknown)'} is not reproducible"
            found.details.append(detail)
            continue
        w = float(prov.get("harmlessness_weight", PlannerConfig.harmlessness_weight))
        if w not in planners:
            planners[w] = InstructionPlanner(scene, PlannerConfig(harmlessness_weight=w))
        planner = planners[w]
        again = planner.plan(plan.instruction).plan
        if again.executable:
            again = planner.align(plan.instruction, again).plan
        found.compared += 1
        detail["replayed_status"], detail["replayed_skills"] = again.status.value, again.skills()
        if _comparable(again) != _comparable(plan):
            found.diverged += 1
            detail["differs"] = True
        found.details.append(detail)
    reasons = []
    if found.diverged:
        first = next(d for d in found.details if d.get("differs"))
        reasons.append(f"planner: {found.diverged} of {found.compared} re-planned plan(s) differ (first: "
                       f"{first['instruction']!r} recorded {first['status']} {first['skills']}, replayed "
                       f"{first['replayed_status']} {first['replayed_skills']})")
    if found.violations:
        first = next(d for d in found.details if d.get("violations"))
        reasons.append(f"planner: {found.violations} plan(s) violate the schema or constraints (first: "
                       f"{first['instruction']!r}: {first['violations'][0]})")
    return found, reasons
