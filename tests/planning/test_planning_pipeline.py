"""The node-facing API: InstructionPlanner.plan / .align / .report_outcome, the confirmation gate and seals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dexsafe.planning.confirmation import ConfirmationGate, seal_ok
from dexsafe.planning.memory import EpisodeMemory
from dexsafe.planning.pipeline import (
    InstructionPlanner,
    PlannerConfig,
    PlannerConfigError,
    PlanningCancelled,
    load_planner_config,
)
from dexsafe.planning.preferences import PreferenceError
from dexsafe.planning.schema import PlanStatus
from dexsafe.planning.validator import validate_plan
from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")


@pytest.fixture(scope="module")
def planner():
    return InstructionPlanner(SCENE, load_planner_config())


def test_default_config_uses_the_learned_models(planner):
    assert planner.config.backend == "rule"
    assert planner.learned_scorer is not None and planner.learned_corrector is not None, planner.model_notes


def test_benign_multi_object_instruction_becomes_a_valid_sealed_plan(planner):
    result = planner.plan("pick up the red block and the blue cylinder together")
    assert result.plan.status == PlanStatus.OK
    assert [s.skill for s in result.plan.steps] == ["grasp"]
    assert result.plan.steps[0].args["object_ids"] == ["red_block", "blue_cylinder"]
    assert result.violations == [] and validate_plan(result.plan, SCENE) == []
    assert result.cost < 0 and seal_ok(result.plan)
    assert result.plan.provenance["scorer"] == "learned"


def test_harmful_instruction_is_refused_with_rationale(planner):
    result = planner.plan("smash the glass of water")
    assert result.plan.status == PlanStatus.REFUSED and "smash" in result.plan.rationale
    assert not seal_ok(result.plan)


def test_align_corrects_a_too_strong_draft(planner):
    draft = {"status": "ok", "rationale": "", "steps": [
        {"skill": "grasp", "args": {"object_ids": ["banana"], "force_n": 50.0}}]}
    out = planner.align("pick up the banana", draft)
    assert out.plan.steps[0].args["force_n"] <= SCENE.object("banana").max_contact_force
    assert any(v.code == "force_over_limit" for v in out.draft_violations)
    assert out.violations == [] and out.edits and out.cost < 0


def test_confirmation_gate(planner):
    result = planner.plan("hand me the knife")
    plan = result.plan
    assert plan.status == PlanStatus.NEEDS_CONFIRMATION
    gate = ConfirmationGate()
    gate.submit(plan)
    assert gate.pending() == [plan.plan_id] and not gate.may_execute(plan)
    gate.confirm(plan.plan_id)
    assert gate.may_execute(plan)
    tampered = replace(plan, steps=plan.steps[:1])
    assert not gate.may_execute(tampered)  # changed after validation: seal no longer matches
    with pytest.raises(KeyError, match="awaits confirmation"):
        gate.confirm("nope")
    ok = planner.plan("put the apple in the bowl").plan
    assert gate.may_execute(ok)


def test_cancel_between_stages(planner):
    with pytest.raises(PlanningCancelled):
        planner.plan("put the apple in the bowl", cancel=lambda: True)


def test_feedback_reports_stages(planner):
    stages = []
    planner.plan("put the apple in the bowl", feedback=stages.append)
    assert stages == ["drafting", "correcting", "scoring"]


def test_config_validation():
    with pytest.raises(PreferenceError, match="floor"):
        PlannerConfig(harmlessness_weight=0.1)
    with pytest.raises(PreferenceError):
        PlannerConfig(harmlessness_weight=0.0, harmlessness_floor=0.0)
    with pytest.raises(PlannerConfigError, match="backend"):
        PlannerConfig(backend="shell")
    with pytest.raises(PlannerConfigError, match="unknown key"):
        load_planner_config("planner", temperature_of_doom=1)


def test_missing_models_fall_back_to_rules_and_say_so(tmp_path):
    p = InstructionPlanner(SCENE, PlannerConfig(models_dir=str(tmp_path)))
    assert p.learned_scorer is None and p.learned_corrector is None and len(p.model_notes) == 2
    result = p.plan("put the apple in the bowl")
    assert result.plan.status == PlanStatus.OK and result.plan.provenance["scorer"] == "symbolic"


def test_report_outcome_stores_memory_and_replans(tmp_path):
    memory = EpisodeMemory(tmp_path / "episodes.jsonl")
    p = InstructionPlanner(SCENE, PlannerConfig(corrector="rule", scorer="symbolic"), memory=memory)
    plan = p.plan("put the apple in the bowl").plan
    assert p.report_outcome("put the apple in the bowl", plan, True) is None
    new = p.report_outcome("put the apple in the bowl", plan, False, "the apple slipped out of the hand", 1)
    assert new.status == PlanStatus.OK and seal_ok(new)
    assert new.steps[0].skill == "grasp" and new.steps[0].args["force_n"] > plan.steps[0].args["force_n"]
    assert new.steps[0].args["force_n"] <= SCENE.object("apple").max_contact_force
    assert len(EpisodeMemory(tmp_path / "episodes.jsonl")) == 2


def test_seal_key_can_be_shared_between_processes(tmp_path):
    """Two processes with the same DEXSAFE_PLAN_SEAL_KEY accept each other's seals; others do not."""
    import json
    import os
    import subprocess
    import sys

    code = ("import json,sys\nfrom dexsafe.planning.confirmation import seal, seal_ok\n"
            "from dexsafe.planning.schema import plan_from_dict\n"
            "if sys.argv[1] == 'make':\n"
            "    p = plan_from_dict({'status': 'ok', 'rationale': '', 'steps': [{'skill': 'retract', 'args': {}}]})\n"
            "    print(json.dumps(seal(p).to_dict()))\n"
            "else:\n    print(seal_ok(plan_from_dict(json.loads(sys.stdin.read()))))\n")
    env = dict(os.environ, DEXSAFE_PLAN_SEAL_KEY="ab" * 32)
    made = subprocess.run([sys.executable, "-c", code, "make"], env=env, capture_output=True, text=True, check=True)
    same = subprocess.run([sys.executable, "-c", code, "check"], env=env, input=made.stdout, capture_output=True,
                          text=True, check=True)
    other = subprocess.run([sys.executable, "-c", code, "check"], env=dict(env, DEXSAFE_PLAN_SEAL_KEY="cd" * 32),
                           input=made.stdout, capture_output=True, text=True, check=True)
    assert json.loads(made.stdout)["provenance"]["seal"]
    assert same.stdout.strip() == "True" and other.stdout.strip() == "False"
