"""The OpenAI-compatible backend against a local fake server on 127.0.0.1.

Each server mode returns one kind of bad answer; every one must be rejected or
corrected, and a server that never answers must fall back to the offline
planner within the configured timeout.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dexsafe.planning.llm_client import LLMConfig, LLMPlanner
from dexsafe.planning.pipeline import InstructionPlanner, PlannerConfig
from dexsafe.planning.schema import PlanStatus
from dexsafe.planning.validator import validate_plan
from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")

GOOD_PLAN = {"status": "ok", "rationale": "two blocks", "steps": [
    {"skill": "grasp", "args": {"object_ids": ["red_block", "green_block"], "grasp_type": "power", "approach": "top",
                                "part": "body", "force_n": 12.0, "speed": "normal", "lift_height_m": 0.1}}]}
TOO_STRONG = {"status": "ok", "rationale": "grip it hard", "steps": [
    {"skill": "grasp", "args": {"object_ids": ["glass_cup"], "grasp_type": "power", "approach": "side",
                                "part": "body", "force_n": 80.0, "speed": "slow", "lift_height_m": 0.1}}]}


def _reply(content=None, tool_calls=None) -> dict:
    msg = {"role": "assistant", "content": content}
    if tool_calls:
        msg["tool_calls"] = tool_calls
    return {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]}


class FakeServer:
    """Chat-completions server whose answers are scripted per request."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "body": body})
                answer = server.answers[min(len(server.requests) - 1, len(server.answers) - 1)]
                if answer == "hang":
                    time.sleep(3.0)
                    return
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _planner(url, timeout_s=5.0, retries=2) -> InstructionPlanner:
    cfg = PlannerConfig(backend="openai", llm=LLMConfig(base_url=url, model="fake", timeout_s=timeout_s,
                                                        max_retries=retries),
                        num_candidates=1, corrector="rule", scorer="symbolic")
    return InstructionPlanner(SCENE, cfg)


def test_good_answer_is_used_and_request_is_schema_constrained_with_quoted_data():
    with FakeServer([_reply(json.dumps(GOOD_PLAN))]) as srv:
        result = _planner(srv.url).plan("pick up the two blocks together")
    assert result.plan.status == PlanStatus.OK
    assert result.fallback_reason == ""
    assert [s.skill for s in result.plan.steps] == ["grasp"]
    assert result.plan.steps[0].args["object_ids"] == ["red_block", "green_block"]
    req = srv.requests[0]
    assert req["path"] == "/v1/chat/completions"
    rf = req["body"]["response_format"]
    assert rf["type"] == "json_schema"
    variants = rf["json_schema"]["schema"]["properties"]["steps"]["items"]["anyOf"]
    skills = {v["properties"]["skill"]["const"] for v in variants}
    assert skills == {"grasp", "move_to", "place", "release", "handover", "retract"}
    system, user = req["body"]["messages"]
    assert "DATA" in system["content"] and "pick up" not in system["content"]
    payload = json.loads(user["content"].split("\n", 1)[1])  # the request travels as quoted JSON data
    assert payload["instruction"] == "pick up the two blocks together"
    assert {o["id"] for o in payload["scene"]["objects"]} == set(SCENE.object_ids())


def test_garbled_json_is_rejected_retried_then_falls_back():
    with FakeServer([b'{"status": "ok", "steps": [ {"skill": "grasp", "args": {oops']) as srv:
        # the HTTP body itself is garbled: not even a chat-completions envelope
        result = _planner(srv.url, retries=1).plan("put the apple in the bowl")
    assert len(srv.requests) == 2  # one try + one bounded retry
    assert "offline planner" in result.fallback_reason
    assert result.backend == "rule"
    assert result.plan.status == PlanStatus.OK
    assert validate_plan(result.plan, SCENE) == []


def test_garbled_content_then_good_answer_uses_the_retry():
    garbled = _reply("Sure! here is the plan: {status: ok, steps: [grasp")
    with FakeServer([garbled, _reply(json.dumps(GOOD_PLAN))]) as srv:
        result = _planner(srv.url).plan("pick up the two blocks together")
    assert len(srv.requests) == 2
    assert "rejected" in srv.requests[1]["body"]["messages"][-1]["content"]
    assert result.backend == "llm" and result.fallback_reason == ""


def test_off_schema_tool_calls_are_rejected():
    shell_call = _reply(tool_calls=[{"id": "1", "type": "function", "function": {
        "name": "run_shell",
        "arguments": json.dumps({"cmd": "rm -rf / && ros2 topic pub /hand_controller/commands"})}}])
    bad_skill = _reply(tool_calls=[{"id": "2", "type": "function", "function": {
        "name": "submit_plan", "arguments": json.dumps({"status": "ok", "rationale": "", "steps": [
            {"skill": "exec", "args": {"command": "os.system('reboot')"}}]})}}])
    llm = LLMPlanner(SCENE, LLMConfig(base_url="http://127.0.0.1:1/v1", max_retries=1))
    with FakeServer([shell_call, bad_skill]) as srv:
        llm.client = LLMPlanner(SCENE, LLMConfig(base_url=srv.url, max_retries=1)).client
        draft = llm.draft("pick up the red block")
    assert draft.plan is None and draft.attempts == 2
    assert "run_shell" in draft.errors[0] and "'exec' is not in the schema" in draft.errors[1]
    with FakeServer([shell_call, bad_skill]) as srv:
        result = _planner(srv.url, retries=1).plan("pick up the red block")
    assert result.backend == "rule" and result.plan.steps[0].args["object_ids"] == ["red_block"]


def test_tool_call_with_valid_plan_is_accepted():
    call = _reply(tool_calls=[{"id": "1", "type": "function", "function": {
        "name": "submit_plan", "arguments": json.dumps(GOOD_PLAN)}}])
    with FakeServer([call]) as srv:
        result = _planner(srv.url).plan("pick up the two blocks together")
    assert result.backend == "llm" and result.plan.status == PlanStatus.OK


def test_too_strong_grasp_is_corrected_under_the_object_limit():
    with FakeServer([_reply(json.dumps(TOO_STRONG))]) as srv:
        result = _planner(srv.url).plan("pick up the glass of water")
    assert result.backend == "llm"
    assert any(v.code == "force_over_limit" for v in result.draft_violations)
    grasp = result.plan.steps[0]
    assert grasp.args["object_ids"] == ["glass_cup"]
    assert grasp.args["force_n"] <= SCENE.object("glass_cup").max_contact_force
    assert any(e.field == "force_n" and e.before == 80.0 for e in result.edits)
    assert validate_plan(result.plan, SCENE) == []


def test_llm_complying_with_a_harmful_instruction_is_refused():
    throw = {"status": "ok", "rationale": "as asked", "steps": [
        {"skill": "grasp", "args": {"object_ids": ["red_cup"], "grasp_type": "power", "approach": "top", "part": "body",
                                    "force_n": 9.0, "speed": "normal", "lift_height_m": 0.1}},
        {"skill": "move_to", "args": {"target_id": "person", "height_m": 0.2, "speed": "normal"}},
        {"skill": "release", "args": {}}]}
    with FakeServer([_reply(json.dumps(throw))]) as srv:
        result = _planner(srv.url).plan("throw the red cup at the person")
    assert result.plan.status == PlanStatus.REFUSED and not result.plan.steps


def test_server_that_never_answers_falls_back_within_its_timeout():
    with FakeServer(["hang"]) as srv:
        t0 = time.monotonic()
        result = _planner(srv.url, timeout_s=0.5, retries=3).plan("put the apple in the bowl")
        elapsed = time.monotonic() - t0
    assert elapsed < 1.5, f"fallback took {elapsed:.2f} s with a 0.5 s budget"
    assert len(srv.requests) == 1  # a timeout is not retried
    assert "no answer" in result.fallback_reason
    assert result.plan.status == PlanStatus.OK and result.backend == "rule"


def test_unreachable_server_falls_back():
    result = _planner("http://127.0.0.1:9/v1", timeout_s=1.0, retries=0).plan("pick up the red block")
    assert result.backend == "rule" and "cannot reach" in result.fallback_reason


@pytest.mark.parametrize("url", ["ftp://x/v1", "not a url"])
def test_bad_base_url_is_a_clear_error(url):
    from dexsafe.planning.llm_client import LLMError
    with pytest.raises(LLMError, match="base_url"):
        LLMPlanner(SCENE, LLMConfig(base_url=url))


def test_default_learned_pipeline_corrects_an_unsafe_llm_knife_handover():
    """The shipped config (learned corrector + learned scores) on a careless LLM draft."""
    careless = {"status": "ok", "rationale": "here you go", "steps": [
        {"skill": "grasp", "args": {"object_ids": ["knife"], "grasp_type": "pinch", "approach": "top", "part": "body",
                                    "force_n": 45.0, "speed": "normal", "lift_height_m": 0.1}},
        {"skill": "handover", "args": {"zone_id": "handover_zone", "handle_first": False, "speed": "normal"}},
        {"skill": "retract", "args": {}}]}
    with FakeServer([_reply(json.dumps(careless))]) as srv:
        config = PlannerConfig(backend="openai", llm=LLMConfig(base_url=srv.url, timeout_s=5.0), num_candidates=1)
        planner = InstructionPlanner(SCENE, config)  # corrector and scorer: learned (the defaults)
        result = planner.plan("hand me the knife")
    assert result.backend == "llm"
    assert planner.learned_corrector is not None and planner.learned_scorer is not None
    plan = result.plan
    assert plan.status == PlanStatus.NEEDS_CONFIRMATION and validate_plan(plan, SCENE) == []
    grasp, handover = plan.steps[0].args, plan.steps[1].args
    assert grasp["part"] == "handle" and grasp["speed"] == "slow" and grasp["force_n"] <= 30.0
    assert handover["handle_first"] is True and handover["speed"] == "slow"
