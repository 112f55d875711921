"""The closed skill schema: round trips, and everything off-schema is rejected with a precise message."""

from __future__ import annotations

import json

import pytest

from dexsafe.planning.schema import (
    SCHEMA_VERSION,
    SKILLS,
    Plan,
    PlanStatus,
    PlanStep,
    SchemaError,
    plan_from_dict,
    plan_from_json,
    plan_json_schema,
    step_from_dict,
)

GRASP = {"skill": "grasp", "args": {"object_ids": ["red_block"], "grasp_type": "precision", "approach": "top",
                                    "part": "body", "force_n": 10.0, "speed": "normal", "lift_height_m": 0.1}}


def test_skill_set_is_closed_and_versioned():
    assert set(SKILLS) == {"grasp", "move_to", "place", "release", "handover", "retract"}
    assert SCHEMA_VERSION == "dexsafe.skills/1"


def test_round_trip_through_json():
    plan = Plan(PlanStatus.NEEDS_CONFIRMATION, (step_from_dict(GRASP), PlanStep("retract", {})), "why",
                "pick it", ("confirm:sharp",), provenance={"backend": "rule"})
    back = plan_from_json(plan.to_json())
    assert back == plan
    assert json.loads(plan.to_json())["steps"][0] == GRASP


def test_missing_optional_args_get_defaults_but_required_do_not():
    step = step_from_dict({"skill": "move_to", "args": {"target_id": "bowl"}})
    assert step.args == {"target_id": "bowl", "height_m": 0.12, "speed": "normal"}
    with pytest.raises(SchemaError, match=r"args.force_n: required argument of 'grasp' is missing"):
        step_from_dict({"skill": "grasp", "args": {"object_ids": ["apple"]}})


@pytest.mark.parametrize("step, message", [
    ({"skill": "shell", "args": {"cmd": "ls"}}, "skill 'shell' is not in the schema"),
    ({"skill": "grasp", "args": {**GRASP["args"], "command": "x"}}, "unknown argument"),
    ({"skill": "grasp", "args": {**GRASP["args"], "force_n": 500}}, "outside the schema range"),
    ({"skill": "grasp", "args": {**GRASP["args"], "force_n": "10"}}, "expected a number"),
    ({"skill": "grasp", "args": {**GRASP["args"], "force_n": float("nan")}}, "non-finite"),
    ({"skill": "grasp", "args": {**GRASP["args"], "force_n": True}}, "expected a number"),
    ({"skill": "grasp", "args": {**GRASP["args"], "grasp_type": "crush"}}, "is not one of"),
    ({"skill": "grasp", "args": {**GRASP["args"], "object_ids": []}}, "list of 1..3"),
    ({"skill": "grasp", "args": {**GRASP["args"], "object_ids": ["a", "b", "c", "d"]}}, "list of 1..3"),
    ({"skill": "grasp", "args": {**GRASP["args"], "object_ids": ["apple", "apple"]}}, "repeat"),
    ({"skill": "grasp", "args": {**GRASP["args"], "object_ids": ["Robert'); DROP"]}}, "must match"),
    ({"skill": "handover", "args": {"zone_id": "handover_zone", "handle_first": "yes"}}, "true or false"),
    ({"skill": "release", "args": {"height": 1}}, "unknown argument"),
    ({"skill": "retract", "args": {}, "run": "now"}, "unknown key"),
    ("grasp", "expected an object"),
])
def test_off_schema_steps_are_rejected(step, message):
    with pytest.raises(SchemaError, match=message):
        step_from_dict(step)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[]", "expected a JSON object"),
    ('{"status": "ok", "steps": []}', "plan.rationale: required"),
    ('{"status": "go", "steps": [], "rationale": ""}', "plan.status"),
    ('{"status": "ok", "steps": [], "rationale": "", "exec": "x"}', "unknown key"),
    ('{"status": "ok", "steps": [], "rationale": "", "schema_version": "dexsafe.skills/0"}', "schema_version"),
    ('{"status": "ok", "steps": {}, "rationale": ""}', "expected a list"),
])
def test_garbled_or_off_schema_plans_are_rejected(text, message):
    with pytest.raises(SchemaError, match=message):
        plan_from_json(text)


def test_too_many_steps_rejected():
    with pytest.raises(SchemaError, match="more than the limit"):
        plan_from_dict({"status": "ok", "rationale": "", "steps": [{"skill": "retract", "args": {}}] * 21})


def test_json_schema_is_bounded_by_the_scene():
    schema = plan_json_schema(["red_block", "bowl"], ["handover_zone"])
    variants = {v["properties"]["skill"]["const"]: v for v in schema["properties"]["steps"]["items"]["anyOf"]}
    grasp = variants["grasp"]["properties"]["args"]
    assert grasp["additionalProperties"] is False
    assert grasp["properties"]["object_ids"]["items"]["enum"] == ["red_block", "bowl"]
    assert variants["handover"]["properties"]["args"]["properties"]["zone_id"]["enum"] == ["handover_zone"]
    assert variants["place"]["properties"]["args"]["properties"]["target_id"]["enum"] == [
        "red_block", "bowl", "handover_zone"]
    assert schema["properties"]["status"]["enum"] == [s.value for s in PlanStatus]
