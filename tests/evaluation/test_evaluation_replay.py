"""Replay evaluation of a recorded scripted-executor run: open loop reproduces the
shield exactly with no constraint violated; a tampered action or policy stream is
flagged; closed loop reproduces the outcome; results, report and CLI."""

from __future__ import annotations

import json

import pytest

from dexsafe.evaluation import topics as T
from dexsafe.evaluation.bag_reader import open_bag
from dexsafe.evaluation.bag_writer import BagWriter
from dexsafe.evaluation.evaluate import evaluate_bag
from dexsafe.evaluation.sim_loop import record_scripted_run


@pytest.fixture(scope="module")
def scripted_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp("replay") / "scripted"
    result = record_scripted_run(path)
    assert all(r > 0.10 for r in result.object_rise.values()), "the scripted grasp lifts both blocks"
    return path


def copy_bag(src, dst, edit=lambda *_: None, plans=()):
    """Copy ``src`` to ``dst``; ``edit(topic, index_on_topic, msg)`` may change a message in place;
    ``plans`` (planning ``Plan``s) are added on the mission's plan topic at the start."""
    with open_bag(src) as bag:
        info = bag.info
        with BagWriter(dst, "mcap", run_info=info.run_info()) as out:
            for name, t in info.topics.items():
                out.add_topic(name, t.msgtype, (T.STACK_TOPICS[name][1],))
            if plans:
                out.add_topic(T.MISSION_PLAN, "dexsafe/msg/Plan", (T.STACK_TOPICS[T.MISSION_PLAN][1],))
            for k, plan in enumerate(plans):
                out.write(T.MISSION_PLAN, info.start_ns + k, _plan_msg(plan))
            seen: dict[str, int] = {}
            for topic, t_ns, msg in bag.messages():
                k = seen.get(topic, 0)
                seen[topic] = k + 1
                edit(topic, k, msg)
                out.write(topic, t_ns, msg)
    return dst


def test_open_loop_of_the_scripted_run_has_zero_divergence_and_no_violations(scripted_bag):
    result = evaluate_bag(scripted_bag, "open")
    s = result.summary
    assert s.passed, s.headline()
    assert s.frames == 770 and s.max_divergence == 0.0 and s.frames_diverged == 0
    assert s.violations == {}
    assert s.cost_replayed == s.cost_recorded  # the shield's cost channel reproduces too
    assert s.latency_p50_s > 0 and s.input_age_p50_s > 0
    policy = s.components["policy"]  # the run says it was scripted: the policy is re-run on what it saw
    assert policy["policy"] == "scripted" and policy["commands"] == 385
    assert policy["max_divergence"] == 0.0 and policy["diverged"] == 0


def test_tampered_action_stream_is_flagged(scripted_bag, tmp_path):
    def tamper(topic, k, msg):
        if topic == T.HAND_COMMANDS and k in (400, 500):
            msg.data = msg.data.copy()  # decoded arrays are read-only views of the bag's bytes
            if k == 400:
                msg.data[10] += 0.2  # a finger jumps 0.2 rad in one tick: diverges and breaks the rate limit
            else:
                msg.data[0] = 5.0  # the wrist 5 m away: outside the workspace

    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "tampered", tamper), "open").summary
    assert not s.passed
    assert s.frames_diverged >= 2 and s.max_divergence > 0.19
    assert s.violations.get("rate_limit", 0) >= 1 and s.violations.get("joint_limits", 0) >= 1
    assert "t=4.0" in s.reasons[0]  # the first diverged frame is named: output 400 at 4.00 s


def test_tampered_policy_stream_is_flagged(scripted_bag, tmp_path):
    def tamper(topic, k, msg):
        if topic == T.POLICY_COMMANDS and 100 <= k < 110:
            msg.data = msg.data + 0.05  # what the policy asked differs from what the recorded shield saw

    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "policy", tamper), "open").summary
    assert not s.passed and s.frames_diverged > 0 and s.violations == {}
    assert s.components["policy"]["diverged"] == 10, "the replayed policy would not have sent these"
    assert any(r.startswith("policy (scripted): 10 recorded command(s)") for r in s.reasons)
    shield_only = evaluate_bag(tmp_path / "policy", "open", policy="recorded").summary
    assert "policy" not in shield_only.components


@pytest.mark.parametrize("policy", ["recorded", "scripted"])
def test_closed_loop_reproduces_the_outcome(scripted_bag, policy):
    s = evaluate_bag(scripted_bag, "closed", policy=policy).summary
    assert s.passed, s.headline()
    assert s.max_divergence < 1e-9  # the sim is deterministic: the same commands give the same run
    objects = s.outcome["objects"]
    assert set(objects) == {"red_block", "blue_block"}
    assert all(o["lifted_recorded"] and o["lifted_replayed"] for o in objects.values())


def test_closed_loop_flags_a_different_outcome(scripted_bag, tmp_path):
    def stop_early(topic, k, msg):
        if topic == T.POLICY_COMMANDS and k >= 200:  # from 4 s on the policy re-sends its 4 s command
            msg.data = keep["cmd"]
        elif topic == T.POLICY_COMMANDS:
            keep["cmd"] = msg.data

    keep: dict = {}
    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "early", stop_early), "closed").summary
    assert not s.passed and any("outcome differs" in r for r in s.reasons)


def test_results_jsonl_report_and_cli(scripted_bag, tmp_path, capsys):
    import argparse

    from dexsafe.cli import eval_bag
    from dexsafe.evaluation.results import read_jsonl

    parser = argparse.ArgumentParser()
    eval_bag.add_arguments(parser)
    out = tmp_path / "out"
    assert eval_bag.run(parser.parse_args([str(scripted_bag), "--out", str(out), "--no-progress"])) == 0
    assert "PASS open-loop" in capsys.readouterr().out
    frames, summary = read_jsonl(out / "result.jsonl")
    assert len(frames) == 770 and summary["passed"] and summary["speed_factor"] > 1
    first = json.loads((out / "result.jsonl").read_text().splitlines()[0])
    assert set(first) == {"Result", "Stamp", "Frame"} and first["Result"]["Success"] is True
    assert (out / "report.png").stat().st_size > 10_000
    assert "PASS" in (out / "report.html").read_text()
    # Exit codes: 1 on a failed evaluation, 2 on an unusable bag (no traceback).
    assert eval_bag.run(parser.parse_args([str(scripted_bag), "--out", str(out), "--no-report",
                                           "--tolerance", "-1"])) == 1
    assert eval_bag.run(parser.parse_args([str(tmp_path / "missing"), "--no-report"])) == 2
    err = capsys.readouterr().err
    assert "no such bag" in err and "Traceback" not in err


def test_bag_without_the_needed_topics_is_a_clear_error(scripted_bag, tmp_path):
    from dexsafe.evaluation.errors import RunContentError

    with BagWriter(tmp_path / "only_clock", "mcap") as out:
        out.add_topic(T.CLOCK, "rosgraph_msgs/msg/Clock")
        with open_bag(scripted_bag) as bag:
            for _, t_ns, msg in bag.messages([T.CLOCK]):
                out.write(T.CLOCK, t_ns, msg)
    with pytest.raises(RunContentError, match="no messages on /dexsafe/policy_commands"):
        evaluate_bag(tmp_path / "only_clock", "open")


def test_vectorised_constraint_check_matches_the_sequential_one():
    import numpy as np

    from dexsafe.evaluation.open_loop import ConstraintChecker
    from dexsafe.evaluation.run_info import RunInfo
    from dexsafe.evaluation.sim_loop import shield_for

    limits = shield_for(RunInfo())[1]
    lo, hi = limits.effective_bounds()
    rng = np.random.default_rng(1)
    rows = [lo + rng.uniform(0, 1, lo.size) * (hi - lo)]
    base = rows[0]
    for k in range(200):
        u = base + rng.normal(0, 0.002, lo.size)
        if k % 17 == 0:
            u[3] += 1.0
        if k % 23 == 0:
            u[0] = hi[0] + 0.1
        if k % 31 == 0:
            u = u[:5]
        if k % 37 == 0:
            u = u.copy()
            u[2] = np.nan
        rows.append(np.clip(u, lo - 0.2, hi + 0.2) if u.size == lo.size else u)
        if u.size == lo.size and np.isfinite(u).all():
            base = rows[-1]
    forces = [{"index_tip": 30.0} if k % 19 == 0 else None for k in range(len(rows))]
    seq = ConstraintChecker(limits)
    expected = [seq.check(u, f) for u, f in zip(rows, forces)]
    assert ConstraintChecker(limits).check_all(rows, forces) == expected
    assert any("rate_limit" in v for v in expected) and any("wrong_length" in v for v in expected)


def _plan_msg(plan):
    """A planning ``Plan`` as the rosbags ``dexsafe/msg/Plan`` the mission publishes."""
    import json as _json

    from dexsafe.evaluation.typestore import typestore
    from dexsafe.planning.plan_message import PLAN_STATUS_CODES

    ty = typestore().types
    d = plan.to_dict()
    steps = [ty["dexsafe/msg/PlanStep"](skill=s["skill"], object_ids=[], args_json=_json.dumps(s["args"]),
                                        rationale="") for s in d["steps"]]
    return ty["dexsafe/msg/Plan"](schema_version=d["schema_version"], plan_id=d["plan_id"],
                                  instruction=d["instruction"], status=PLAN_STATUS_CODES[d["status"]], steps=steps,
                                  rationale=d["rationale"], reasons=d["reasons"],
                                  provenance_json=_json.dumps(d["provenance"]))


def test_open_loop_replans_the_recorded_plans_and_flags_a_changed_one(scripted_bag, tmp_path):
    """The mission's plans are planned again offline (plan, then align, as the mission does) and
    validated; a plan whose grip force was raised past the object's limit diverges and is invalid."""
    from dataclasses import replace

    from dexsafe.planning.pipeline import InstructionPlanner
    from dexsafe.sim.scene_spec import load_scene

    planner = InstructionPlanner(load_scene("two_blocks"))
    lift = planner.plan("pick up the two blocks together and lift them").plan
    lift = planner.align(lift.instruction, lift).plan
    refused = planner.plan("smash the red block against the table").plan
    assert lift.status.value == "ok" and refused.status.value == "refused"

    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "plans", plans=[lift, refused]), "open").summary
    assert s.passed, s.headline()
    planner_found = s.components["planner"]
    assert planner_found["plans"] == 2 and planner_found["compared"] == 2
    assert planner_found["diverged"] == 0 and planner_found["violations"] == 0

    step = lift.steps[0]
    crushing = replace(lift, steps=(replace(step, args={**step.args, "force_n": 60.0}),))  # blocks: 20 N
    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "crushing", plans=[crushing]), "open").summary
    assert not s.passed
    assert s.components["planner"]["diverged"] == 1 and s.components["planner"]["violations"] == 1
    assert any(r.startswith("planner: 1 of 1 re-planned plan(s) differ") for r in s.reasons)
    assert any(r.startswith("planner: 1 plan(s) violate") and "force" in r.lower() for r in s.reasons)

    off_schema = replace(lift, steps=(replace(step, args={**step.args, "force_n": 500.0}),))  # schema: <= 100 N
    s = evaluate_bag(copy_bag(scripted_bag, tmp_path / "off_schema", plans=[off_schema]), "open").summary
    assert not s.passed and s.components["planner"]["violations"] == 1
    assert any("not a valid schema plan" in r for r in s.reasons)
