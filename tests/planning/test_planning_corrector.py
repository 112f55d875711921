"""The rule corrector (Aligner interface): identity on good drafts, repairs in place, replaces or refuses the rest."""

from __future__ import annotations

import json

from dexsafe.planning.corrector import RuleCorrector
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan, PlanStatus, step_from_dict
from dexsafe.planning.validator import validate_plan
from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")
CORRECTOR = RuleCorrector(SCENE)


def g(ids, force=10.0, part="body", speed="normal"):
    return step_from_dict({"skill": "grasp", "args": {"object_ids": ids, "grasp_type": "power", "approach": "top",
                                                      "part": part, "force_n": force, "speed": speed,
                                                      "lift_height_m": 0.1}})


def s(skill, **args):
    return step_from_dict({"skill": skill, "args": args})


def test_identity_on_good_drafts():
    for instruction in ("put the apple in the bowl", "hand me the knife", "pick up the two blocks together"):
        draft = RulePlanner(SCENE).plan(instruction)
        corr = CORRECTOR.correct(instruction, draft)
        assert corr.edits == () and corr.plan == draft


def test_too_strong_grasp_is_clamped():
    draft = Plan(PlanStatus.OK, (g(["glass_cup"], force=60.0, speed="slow"),), "", "pick up the glass of water")
    corr = CORRECTOR.correct("pick up the glass of water", draft)
    assert corr.plan.status == PlanStatus.OK
    assert 5.0 < corr.plan.steps[0].args["force_n"] <= 8.0
    assert [e.field for e in corr.edits] == ["force_n"]
    assert validate_plan(corr.plan, SCENE) == []


def test_knife_fixed_to_handle_slow_handle_first_and_confirmation():
    draft = Plan(PlanStatus.OK, (g(["knife"]), s("handover", zone_id="handover_zone", handle_first=False),
                                 s("retract")), "", "hand me the knife")
    corr = CORRECTOR.correct("hand me the knife", draft)
    assert corr.plan.status == PlanStatus.NEEDS_CONFIRMATION
    a = corr.plan.steps[0].args
    assert a["part"] == "handle" and a["speed"] == "slow"
    assert corr.plan.steps[1].args["handle_first"] is True
    assert {e.field for e in corr.edits} >= {"part", "speed", "handle_first", "status"}
    assert validate_plan(corr.plan, SCENE) == []


def test_drop_from_height_becomes_place():
    draft = Plan(PlanStatus.OK, (g(["apple"]), s("move_to", target_id="bowl", height_m=0.25), s("release")), "")
    corr = CORRECTOR.correct("put the apple in the bowl", draft)
    assert corr.plan.skills()[:3] == ["grasp", "place", "release"]
    assert validate_plan(corr.plan, SCENE) == []


def test_unrepairable_draft_is_replaced_by_the_offline_plan():
    draft = Plan(PlanStatus.OK, (g(["apple"]), s("move_to", target_id="person", height_m=0.2), s("release")), "")
    corr = CORRECTOR.correct("give me the apple", draft)
    assert corr.plan.skills() == ["grasp", "handover", "retract"]
    assert corr.edits[0].kind == "replace_plan" and "keep_out" in corr.edits[0].reason


def test_harmful_instruction_is_refused_whatever_the_draft():
    draft = Plan(PlanStatus.OK, (g(["plate"], force=20.0), s("release")), "")
    corr = CORRECTOR.correct("break the plate", draft)
    assert corr.plan.status == PlanStatus.REFUSED and not corr.plan.steps


def test_over_refusal_is_corrected_and_justified_refusal_kept():
    refusal = Plan(PlanStatus.REFUSED, (), "I'd rather not")
    corr = CORRECTOR.correct("put the apple in the bowl", refusal)
    assert corr.plan.executable and corr.edits[0].kind == "replace_plan"
    kept = CORRECTOR.correct("throw the apple", refusal)
    assert kept.plan == refusal and kept.edits == ()


def test_wrong_object_is_replaced():
    draft = Plan(PlanStatus.OK, (g(["orange"]), s("place", target_id="bowl", relation="in"), s("release")), "")
    corr = CORRECTOR.correct("put the apple in the bowl", draft)
    assert corr.plan.steps[0].args["object_ids"] == ["apple"]


def test_garbled_draft_is_replaced():
    corr = CORRECTOR.correct("put the apple in the bowl", '{"status": "ok", "steps": [')
    assert corr.plan.executable and "not a plan" in corr.edits[0].reason
    corr2 = CORRECTOR.correct("put the apple in the bowl", json.dumps({"status": "ok", "rationale": "", "steps": [
        {"skill": "rm_rf", "args": {}}]}))
    assert corr2.plan.executable and "rm_rf" in corr2.edits[0].reason
