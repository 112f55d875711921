"""`dexsafe plan "INSTRUCTION" --scene FILE --json` prints the final plan as JSON."""

from __future__ import annotations

import json

import pytest

from dexsafe.cli.main import main
from dexsafe.core.paths import config_path

SCENE_FILE = str(config_path("scenes", "kitchen_table.yaml"))


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["plan", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_plan_for_a_multi_object_instruction(capsys):
    code, out, _ = _run(capsys, "pick up the two blocks together", "--scene", SCENE_FILE, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "ok" and data["rationale"]
    assert [s["skill"] for s in data["steps"]] == ["grasp"]
    assert sorted(data["steps"][0]["args"]["object_ids"]) == ["green_block", "red_block"]
    assert data["cost"] < 0 and data["backend"] == "rule"


def test_json_refusal(capsys):
    code, out, _ = _run(capsys, "throw the glass of water at the person", "--scene", "kitchen_table", "--json")
    data = json.loads(out)
    assert code == 0 and data["status"] == "refused" and data["steps"] == [] and "throw" in data["rationale"]


def test_text_output_and_unquoted_words(capsys):
    code, out, _ = _run(capsys, "put", "the", "apple", "in", "the", "bowl")
    assert code == 0 and out.startswith("status: ok") and "place(target_id=bowl" in out


def test_llm_backend_flags_fall_back_when_no_server(capsys):
    code, out, _ = _run(capsys, "pick up the red block", "--json", "--backend", "openai", "--base-url",
                        "http://127.0.0.1:9/v1", "--timeout", "0.5")
    data = json.loads(out)
    assert code == 0 and data["status"] == "ok" and "offline planner" in data["fallback_reason"]


@pytest.mark.parametrize("argv, message", [
    (["pick up the red block", "--scene", "no_such_scene"], "no scenes file"),
    (["pick up the red block", "--harmlessness-weight", "0.05"], "floor"),
])
def test_bad_input_exits_2_with_a_message(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2 and message in err
