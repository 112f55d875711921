"""The validator: each safety rule is enforced, good plans pass, and it fails closed."""

from __future__ import annotations

import pytest

from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep, step_from_dict
from dexsafe.planning.validator import min_grip_force_n, validate_plan
from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")


def grasp(ids, force=10.0, part="body", speed="normal", lift=0.1, approach="top"):
    return step_from_dict({"skill": "grasp", "args": {"object_ids": ids, "grasp_type": "power", "approach": approach,
                                                      "part": part, "force_n": force, "speed": speed,
                                                      "lift_height_m": lift}})


def step(skill, **args):
    return step_from_dict({"skill": skill, "args": args})


def plan(*steps, status=PlanStatus.OK):
    return Plan(status, tuple(steps), "test")


def codes(p):
    return sorted({v.code for v in validate_plan(p, SCENE)})


def test_good_plans_pass():
    assert codes(plan(grasp(["red_block", "green_block"]))) == []
    assert codes(plan(grasp(["apple"]), step("place", target_id="bowl", relation="in"), step("release"),
                      step("retract"))) == []
    knife = plan(grasp(["knife"], part="handle", speed="slow"),
                 step("handover", zone_id="handover_zone", handle_first=True, speed="slow"), step("retract"),
                 status=PlanStatus.NEEDS_CONFIRMATION)
    assert codes(knife) == []


@pytest.mark.parametrize("p, code", [
    (plan(grasp(["glass_cup"], force=30.0, speed="slow")), "force_over_limit"),
    (plan(grasp(["red_block"], force=41.0)), "force_over_limit"),
    (plan(grasp(["knife_block"], force=2.0)), "force_below_grip"),
    (plan(step("place", target_id="bowl", relation="in")), "precondition"),
    (plan(step("release")), "precondition"),
    (plan(grasp(["apple"]), grasp(["orange"])), "precondition"),
    (plan(grasp(["knife"], part="body", speed="slow"), status=PlanStatus.NEEDS_CONFIRMATION), "sharp_handling"),
    (plan(grasp(["knife"], part="handle", speed="normal"), status=PlanStatus.NEEDS_CONFIRMATION), "sharp_handling"),
    (plan(grasp(["knife", "apple"], part="handle", speed="slow"), status=PlanStatus.NEEDS_CONFIRMATION),
     "sharp_handling"),
    (plan(grasp(["knife"], part="handle", speed="slow"),
          step("handover", zone_id="handover_zone", handle_first=False, speed="slow"),
          status=PlanStatus.NEEDS_CONFIRMATION), "sharp_handling"),
    (plan(grasp(["knife"], part="handle", speed="slow")), "confirmation_required"),
    (plan(grasp(["apple"]), step("move_to", target_id="person", height_m=0.1)), "keep_out"),
    (plan(grasp(["apple"]), step("handover", zone_id="person")), "keep_out"),
    (plan(grasp(["apple"]), step("move_to", target_id="bowl", height_m=0.2), step("release")), "drop_height"),
    (plan(grasp(["glass_cup"], force=6.0, speed="slow"), step("move_to", target_id="bowl", height_m=0.04,
                                                                   speed="slow"), step("release")), "drop_height"),
    (plan(grasp(["glass_cup"], force=6.0, speed="slow"), step("move_to", target_id="phone", speed="slow")),
     "liquid_electronics"),
    (plan(grasp(["glass_cup"], force=6.0, speed="slow"), step("place", target_id="charging_pad", speed="slow"),
          step("release")), "liquid_electronics"),
    (plan(grasp(["phone"]), step("place", target_id="glass_cup", relation="in")), "liquid_electronics"),
    (plan(grasp(["glass_cup"], force=6.0, speed="normal")), "liquid_speed"),
    (plan(grasp(["hammer"])), "unknown_id"),
    (plan(grasp(["apple"]), step("place", target_id="floor")), "unknown_id"),
    (plan(grasp(["tray"], force=20.0)), "aperture"),
    (plan(grasp(["apple"]), step("place", target_id="plate", relation="in")), "place_target"),
    (plan(grasp(["apple"], lift=0.6)), "height_range"),
    (plan(grasp(["apple"]), status=PlanStatus.REFUSED), "status_steps"),
    (plan(), "status_steps"),
])
def test_each_rule_is_enforced(p, code):
    assert code in codes(p)


def test_too_heavy_multi_object_grasp_is_rejected():
    limits = PlanningLimits(hand_max_payload_kg=0.3)
    vs = validate_plan(plan(grasp(["knife_block"], force=30.0)), SCENE, limits)
    assert any(v.code == "payload" for v in vs)


def test_min_grip_force_is_physics():
    glass = SCENE.object("glass_cup")
    assert min_grip_force_n([glass], PlanningLimits()) == pytest.approx(1.5 * 0.35 * 9.81 / (2 * 0.5))


def test_fails_closed_on_garbage():
    assert [v.code for v in validate_plan({"status": "ok", "steps": [{"skill": "fly"}], "rationale": ""}, SCENE)] == [
        "schema"]
    assert validate_plan("not a plan", SCENE)[0].code == "schema"
    weird = Plan(PlanStatus.OK, (PlanStep("grasp", {"object_ids": ["apple"]}),), "")  # built without parsing
    assert validate_plan(weird, SCENE)[0].code == "schema"
    assert validate_plan(Plan(PlanStatus.OK, (PlanStep("teleport", {}),), ""), SCENE)[0].code == "schema"


def test_messages_name_the_numbers():
    (v,) = [v for v in validate_plan(plan(grasp(["glass_cup"], force=30.0, speed="slow")), SCENE)
            if v.code == "force_over_limit"]
    assert "30.0 N exceeds 8.0 N" in v.message and "glass_cup" in v.message and v.step == 0
