"""JARVIS-1-style memory (on disk, similarity retrieval), self-check and re-planning after failures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dexsafe.planning.embedding import embed_text, similarity
from dexsafe.planning.memory import Episode, EpisodeMemory
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan, PlanStatus
from dexsafe.planning.self_check import explain_failure, replan_after_failure, self_check
from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")
PLANNER = RulePlanner(SCENE)


def test_embedding_is_stable_and_similar_texts_are_close():
    a = embed_text("put the red block in the bowl")
    assert np.allclose(a, embed_text("put the red block in the bowl"))
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    close = similarity(a, embed_text("place the red block into the bowl"))
    far = similarity(a, embed_text("hand me the knife"))
    assert close > far + 0.2


def test_memory_persists_and_retrieves_by_similarity(tmp_path):
    path = tmp_path / "mem" / "episodes.jsonl"
    mem = EpisodeMemory(path)
    for text in ("put the red block in the bowl", "hand me the knife", "charge the phone"):
        mem.add(Episode(text, "kitchen_table", PLANNER.plan(text).to_dict(), "success"))
    mem.add(Episode("put the red block in the bowl", "kitchen_table", {}, "failure", "it slipped"))
    again = EpisodeMemory(path)
    assert len(again) == 4
    hits = again.retrieve("place the red cube into the bowl", "kitchen_table", k=2)
    assert hits[0][1].instruction == "put the red block in the bowl" and hits[0][1].outcome == "success"
    assert again.retrieve("place the red cube into the bowl", "other_scene") == []
    examples = again.as_examples("put the red block in the bowl", "kitchen_table", k=1)
    assert examples[0]["plan"]["steps"][0]["skill"] == "grasp"
    json.dumps(examples)  # prompt-ready data


def test_corrupt_memory_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "x"}\n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        EpisodeMemory(path)
    with pytest.raises(ValueError, match="outcome"):
        Episode("x", "s", {}, "meh")


def test_self_check_catches_a_plan_for_the_wrong_object():
    plan = PLANNER.plan("put the orange in the bowl")
    assert self_check("put the orange in the bowl", plan, SCENE) == []
    problems = self_check("put the apple in the bowl", plan, SCENE)
    assert problems and "objects/targets" in problems[0]


@pytest.mark.parametrize("text, cause", [
    ("the block slipped out", "slip"), ("the cup deformed: too much force", "damage"),
    ("collided with the bowl", "collision"), ("the apple is missing", "missing"),
    ("a person reached into the workspace", "intrusion"), ("???", "unknown")])
def test_failure_explanations(text, cause):
    assert explain_failure(text) == cause


def test_replan_addresses_the_cause():
    plan = PLANNER.plan("put the banana in the bowl")
    f0 = plan.steps[0].args["force_n"]
    slip = replan_after_failure("put the banana in the bowl", plan, 1, "the banana slipped", SCENE)
    assert slip.steps[0].args["force_n"] > f0 and slip.steps[0].args["force_n"] <= 10.0
    assert all(s.args.get("speed", "slow") == "slow" for s in slip.steps)
    damage = replan_after_failure("put the banana in the bowl", plan, 0, "banana was crushed", SCENE)
    assert damage.steps[0].args["force_n"] < f0
    assert replan_after_failure("x", plan, 0, "the banana is gone", SCENE).status == PlanStatus.CLARIFY
    stop = replan_after_failure("x", plan, 2, "a person reached in", SCENE)
    assert stop.skills() == ["retract"]


def test_repeated_failure_stops(tmp_path):
    mem = EpisodeMemory(tmp_path / "m.jsonl")
    plan = PLANNER.plan("put the banana in the bowl")
    for _ in range(2):
        mem.add(Episode("put the banana in the bowl", "kitchen_table", plan.to_dict(), "failure", "it slipped", 1))
    out = replan_after_failure("put the banana in the bowl", plan, 1, "slipped again", SCENE, memory=mem)
    assert out.status == PlanStatus.REFUSED and "replan:repeated" in out.reasons


def test_replan_never_exceeds_limits():
    plan = PLANNER.plan("pick up the glass of water")
    out = replan_after_failure("pick up the glass of water", plan, 0, "slipped", SCENE)
    assert out.steps[0].args["force_n"] <= SCENE.object("glass_cup").max_contact_force
    bad = Plan(PlanStatus.OK, plan.steps, "")
    assert replan_after_failure("x", bad, 7, "slipped", SCENE).status == PlanStatus.REFUSED
