"""The rule corrector: (instruction, scene, draft plan) -> corrected plan + edits.

Aligner's interface ("copy and correct") with deterministic rules. It is the
identity on good drafts (no edits). It repairs parameter-level faults in place
(grip force over the object's limit or under what holds its weight, a sharp
object not held by the handle or moved fast, liquids moved fast, heights out of
range, releasing from too high, a missing confirmation) and replaces drafts it
cannot repair (off-schema, unknown ids, keep-out, liquid over electronics,
refusing a safe request, ignoring what the instruction asked) by the rule
planner's plan. A harmful or injected instruction is always refused, whatever
the draft says. The result is validated once more; anything left is refused
(fails closed).

The learned corrector (``dexsafe.planning.learned_corrector``) proposes the
same kinds of edits from a trained model; this module applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep, SchemaError, plan_from_dict, plan_from_json
from dexsafe.planning.screening import blocking, screen_instruction
from dexsafe.planning.validator import confirmation_reasons, max_grip_force_n, min_grip_force_n, validate_plan

#: violation codes the corrector repairs in place
REPAIRABLE = {"force_over_limit", "force_below_grip", "sharp_handling", "liquid_speed", "height_range", "drop_height",
              "confirmation_required", "no_handle"}
MAX_PASSES = 4


@dataclass(frozen=True)
class Edit:
    """One change the corrector made. ``step`` is 0-based (``None``: the whole plan)."""

    kind: str            # set | insert | replace | replace_plan | status
    step: int | None
    field: str
    before: Any
    after: Any
    reason: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "step": self.step, "field": self.field, "before": self.before,
                "after": self.after, "reason": self.reason}


@dataclass(frozen=True)
class Correction:
    """A corrected plan, the edits that made it, and the draft's violations before correction."""

    plan: Plan
    edits: tuple[Edit, ...]
    draft_violations: tuple

    @property
    def changed(self) -> bool:
        return bool(self.edits)


def coerce_draft(draft: Plan | dict | str) -> tuple[Plan | None, str]:
    """Parse a draft from a ``Plan``, dict or JSON text: ``(plan, "")`` or ``(None, error)``."""
    if isinstance(draft, Plan):
        return draft, ""
    try:
        return (plan_from_json(draft) if isinstance(draft, str) else plan_from_dict(draft)), ""
    except SchemaError as exc:
        return None, str(exc)


def safe_grip_force_n(objects, limits: PlanningLimits) -> float:
    """The force the corrector sets: the default fraction of the limit, at least 1.1x the holding minimum, N."""
    fmax = max_grip_force_n(objects, limits)
    fmin = min_grip_force_n(objects, limits)
    return round(min(fmax, max(limits.default_force_fraction * fmax, 1.1 * fmin)), 2)


class RuleCorrector:
    """Deterministic Aligner-style corrector for one scene."""

    name = "rule"

    def __init__(self, scene, limits: PlanningLimits | None = None, planner: RulePlanner | None = None):
        self.scene = scene
        self.limits = limits or PlanningLimits()
        self.planner = planner or RulePlanner(scene, self.limits)
        self.objects = {o.id: o for o in scene.objects}

    def correct(self, instruction: str, draft: Plan | dict | str) -> Correction:
        """Correct ``draft`` for ``instruction``; the returned plan always passes the validator or is not executable."""
        plan, error = coerce_draft(draft)
        findings = screen_instruction(instruction, self.scene)
        bad = blocking(findings)
        if plan is None:
            fallback = self._fallback(instruction)
            return Correction(fallback, (Edit("replace_plan", None, "plan", None, fallback.status.value,
                                              f"draft is not a plan in the schema: {error}"),), ())
        before = tuple(validate_plan(plan, self.scene, self.limits))
        if bad:
            if plan.status == PlanStatus.REFUSED and not plan.steps:
                return Correction(plan, (), before)
            refused = self.planner.plan(instruction)  # screening refuses it with the reasons
            return Correction(self._stamp(refused, plan), (Edit(
                "replace_plan", None, "status", plan.status.value, refused.status.value,
                "the instruction is harmful or an injection: " + "; ".join(f.code for f in bad)),), before)
        if not plan.executable:
            reference = self.planner.reference(instruction)
            if reference.executable:
                return Correction(self._stamp(reference, plan), (Edit(
                    "replace_plan", None, "status", plan.status.value, reference.status.value,
                    f"the draft {plan.status.value} a safe, feasible instruction"),), before)
            return Correction(plan, (), before)
        edits: list[Edit] = []
        current = plan
        for _ in range(MAX_PASSES):
            violations = validate_plan(current, self.scene, self.limits)
            if not violations:
                break
            if any(v.code not in REPAIRABLE for v in violations):
                fallback = self._fallback(instruction)
                codes = sorted({v.code for v in violations if v.code not in REPAIRABLE})
                edits.append(Edit("replace_plan", None, "plan", len(current.steps), len(fallback.steps),
                                  f"draft cannot be repaired in place ({', '.join(codes)}): "
                                  + "; ".join(str(v) for v in violations if v.code not in REPAIRABLE)))
                return Correction(self._stamp(fallback, plan), tuple(edits), before)
            current = self._repair(current, violations, edits)
        mismatch = self._goal_mismatch(instruction, current)
        if mismatch:
            reference = self.planner.plan(instruction)
            edits.append(Edit("replace_plan", None, "plan", len(current.steps), len(reference.steps), mismatch))
            return Correction(self._stamp(reference, plan), tuple(edits), before)
        final = validate_plan(current, self.scene, self.limits)
        if final:
            refused = Plan(PlanStatus.REFUSED, (), "Refused: the draft could not be made safe: "
                           + "; ".join(str(v) for v in final), instruction,
                           tuple(f"violation:{v.code}" for v in final), plan.plan_id, provenance=dict(plan.provenance))
            edits.append(Edit("status", None, "status", current.status.value, "refused", "violations remain"))
            return Correction(refused, tuple(edits), before)
        if edits:
            current = replace(current, rationale=(current.rationale + " Corrected: "
                                                  + "; ".join(e.reason for e in edits)).strip())
        return Correction(current, tuple(edits), before)

    # -- helpers ---------------------------------------------------------------------------------
    def _fallback(self, instruction: str) -> Plan:
        return self.planner.plan(instruction)

    @staticmethod
    def _stamp(new: Plan, old: Plan) -> Plan:
        prov = dict(old.provenance)
        prov["replaced_by"] = new.provenance.get("backend", "rule")
        return replace(new, plan_id=old.plan_id, provenance=prov)

    def _goal_mismatch(self, instruction: str, plan: Plan) -> str:
        """Why ``plan`` does not do what ``instruction`` asks (by the rule planner's reading), or ''."""
        reference = self.planner.reference(instruction)
        if not reference.executable:
            return ""
        want = {x for s in reference.steps if s.skill == "grasp" for x in s.args["object_ids"]}
        got = {x for s in plan.steps if s.skill == "grasp" for x in s.args["object_ids"]}
        want_t = {s.args["target_id"] for s in reference.steps if s.skill == "place"}
        got_t = {s.args["target_id"] for s in plan.steps if s.skill == "place"}
        want_h = any(s.skill == "handover" for s in reference.steps)
        got_h = any(s.skill == "handover" for s in plan.steps)
        if want != got or want_t != got_t or want_h != got_h:
            return (f"the draft handles {sorted(got)} -> {sorted(got_t)}{' handover' if got_h else ''}, but the "
                    f"instruction asks for {sorted(want)} -> {sorted(want_t)}{' handover' if want_h else ''}")
        return ""

    def _repair(self, plan: Plan, violations, edits: list[Edit]) -> Plan:
        steps = [PlanStep(s.skill, dict(s.args)) for s in plan.steps]
        status = plan.status
        by_step: dict[int | None, set[str]] = {}
        for v in violations:
            by_step.setdefault(v.step, set()).add(v.code)
        holding: list[str] = []
        for i, s in enumerate(steps):
            codes = by_step.get(i, set())
            a = s.args
            if s.skill == "grasp":
                objs = [self.objects[x] for x in a["object_ids"] if x in self.objects]
                if codes & {"force_over_limit", "force_below_grip"}:
                    f = safe_grip_force_n(objs, self.limits)
                    edits.append(Edit("set", i, "force_n", a["force_n"], f, f"grip force {a['force_n']} N -> {f} N "
                                      f"(limit {max_grip_force_n(objs, self.limits):.1f} N)"))
                    a["force_n"] = f
                if any("sharp" in o.tags for o in objs) and a["part"] != "handle":
                    edits.append(Edit("set", i, "part", a["part"], "handle", "hold sharp objects by the handle"))
                    a["part"] = "handle"
                if "no_handle" in codes:
                    edits.append(Edit("set", i, "part", a["part"], "body", "the object has no handle"))
                    a["part"] = "body"
                lo, hi = self.limits.lift_height_range_m
                if "height_range" in codes and not lo <= a["lift_height_m"] <= hi:
                    new = min(hi, max(lo, a["lift_height_m"]))
                    edits.append(Edit("set", i, "lift_height_m", a["lift_height_m"], new, "lift height clamped"))
                    a["lift_height_m"] = new
                holding = list(a["object_ids"])
            held = [self.objects[h] for h in holding if h in self.objects]
            careful = any("sharp" in o.tags or "liquid" in o.tags for o in held)
            if "speed" in a and careful and a["speed"] != "slow" and codes & {"sharp_handling", "liquid_speed"}:
                edits.append(Edit("set", i, "speed", a["speed"], "slow", "move sharp objects and liquids slowly"))
                a["speed"] = "slow"
            if s.skill == "handover" and any("sharp" in o.tags for o in held) and not a["handle_first"]:
                edits.append(Edit("set", i, "handle_first", False, True, "hand sharp objects over handle first"))
                a["handle_first"] = True
            if s.skill == "move_to" and "height_range" in codes:
                lo, hi = self.limits.move_height_range_m
                new = min(hi, max(lo, a["height_m"]))
                edits.append(Edit("set", i, "height_m", a["height_m"], new, "move height clamped"))
                a["height_m"] = new
            if s.skill == "release" and "drop_height" in codes and i > 0:
                prev = steps[i - 1]
                if prev.skill == "move_to" and prev.args["target_id"] in self.objects:
                    tgt = self.objects[prev.args["target_id"]]
                    relation = "in" if "container" in tgt.tags and "surface" not in tgt.tags else "on"
                    steps[i - 1] = PlanStep("place", {"target_id": tgt.id, "relation": relation,
                                                      "speed": prev.args["speed"]})
                    edits.append(Edit("replace", i - 1, "skill", "move_to", "place",
                                      f"lower onto {tgt.id} before releasing instead of dropping"))
                else:
                    fragile = any("fragile" in o.tags or "liquid" in o.tags for o in held)
                    limit = self.limits.fragile_max_drop_height_m if fragile else self.limits.max_drop_height_m
                    key = "height_m" if prev.skill == "move_to" else "lift_height_m" if prev.skill == "grasp" else None
                    if key is not None:
                        edits.append(Edit("set", i - 1, key, prev.args[key], limit,
                                          f"lower to {limit} m before releasing"))
                        prev.args[key] = limit
            if s.skill in ("release", "handover"):
                holding = []
        if None in by_step and "confirmation_required" in by_step[None]:
            edits.append(Edit("status", None, "status", status.value, PlanStatus.NEEDS_CONFIRMATION.value,
                              "sharp objects and handovers need a person's confirmation"))
            status = PlanStatus.NEEDS_CONFIRMATION
        reasons = tuple(dict.fromkeys(list(plan.reasons) + confirmation_reasons(
            replace(plan, steps=tuple(steps)), self.scene, self.limits)))
        return replace(plan, steps=tuple(steps), status=status, reasons=reasons)
