"""``dexsafe demo`` (``make demo``): the stack in simulation, headless, end to end.

Brings up the sim graph (sim, safety_shield, grasp_executor, planner, aligner,
mission, recorder) in one process over real DDS (loopback only), sends an
instruction to the mission through ``MissionCommander``, shows its progress,
then stresses the shield (garbage policy output, e-stop). Writes a report folder
(``--out``): before/after renders, the plan, the outcome and the costs as
``report.json``, the run as an MCAP bag (``bag/``) and its open-loop replay
evaluation (``replay/``).
Exits non-zero if the objects were not lifted or any check failed.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DEFAULT_INSTRUCTION = "pick up the two blocks together and lift them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the report, renders and bag")
    parser.add_argument("--instruction", default=DEFAULT_INSTRUCTION, help="what to ask the robot")
    parser.add_argument("--scene", default="two_blocks", help="scene name or path")


class DemoReport:
    """Collects pass/fail lines and prints them as they happen."""

    def __init__(self) -> None:
        self.failures = 0
        self.t0 = time.monotonic()
        self.checks: list[dict] = []

    def check(self, ok: bool, what: str) -> bool:
        mark = "ok  " if ok else "FAIL"
        print(f"[{time.monotonic() - self.t0:6.1f} s] {mark} {what}", flush=True)
        self.failures += 0 if ok else 1
        self.checks.append({"ok": bool(ok), "what": what})
        return ok


def _save_png(rgb, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _render(sim, path: Path) -> None:
    with sim._lock:
        rgb, _ = sim._backend.render(None, 640, 480)
    _save_png(rgb, path)


def proposal_summary(proposal, outcome: str) -> dict:
    """A grasp proposal as the report shows it: where the wrist went, the fingers, how it was judged."""
    pose = proposal.hand_pose
    return {"id": proposal.id, "object_ids": list(proposal.object_ids), "outcome": outcome,
            "hand_position_m": [pose.position.x, pose.position.y, pose.position.z],
            "hand_quaternion_xyzw": [pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w],
            "joint_positions_rad": dict(zip(proposal.joint_names, proposal.joint_positions)),
            "energy_total": proposal.energy_total, "score": proposal.score, "validated": proposal.validated,
            "validation_summary": proposal.validation_summary}


def run_demo(args: argparse.Namespace, report: DemoReport) -> dict:
    import numpy as np
    from rclpy.parameter import Parameter
    from std_msgs.msg import Bool, Float64, Float64MultiArray

    from dexsafe.msg import SceneObjects
    from dexsafe.ros_nodes.aligner_node import AlignerNode
    from dexsafe.ros_nodes.commander import MissionCommander, TaskResult
    from dexsafe.ros_nodes.conversions import plan_from_msg
    from dexsafe.ros_nodes.grasp_executor_node import GraspExecutorNode
    from dexsafe.ros_nodes.mission_node import MissionNode
    from dexsafe.ros_nodes.node_runtime import own_group
    from dexsafe.ros_nodes.planner_node import PlannerNode
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode
    from dexsafe.ros_nodes.testing import RosHarness

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"instruction": args.instruction, "scene": args.scene}
    scene = [Parameter("scene", value=args.scene)]
    with RosHarness() as ros:
        print("--- bringing up sim, safety_shield, grasp_executor, planner, aligner, mission", flush=True)
        sim = ros.add(SimNode(context=ros.context, parameter_overrides=[*scene, Parameter("cloud_rate", value=0.0)]))
        shield = ros.add(SafetyShieldNode(context=ros.context, parameter_overrides=scene))
        ros.add(GraspExecutorNode(context=ros.context, parameter_overrides=scene))
        ros.add(PlannerNode(context=ros.context, parameter_overrides=scene))
        ros.add(AlignerNode(context=ros.context, parameter_overrides=scene))
        mission = ros.add(MissionNode(context=ros.context, parameter_overrides=scene))
        from dexsafe.ros_nodes.recorder_node import RecorderNode

        bag = out / "bag"
        if bag.exists():
            import shutil

            shutil.rmtree(bag)
        recorder = ros.add(RecorderNode(context=ros.context, parameter_overrides=[
            Parameter("output", value=str(bag)), Parameter("instruction", value=args.instruction)]))
        commander = ros.add(MissionCommander(spin=False, context=ros.context))
        probe = ros.node("demo_probe")
        objects, costs, sent = [], [], []
        # Each probe input in a group of its own: in one shared group the 100 Hz cost messages starved
        # the shield's output, and the e-stop check read a command from before the e-stop.
        probe.create_subscription(SceneObjects, "/dexsafe/objects", objects.append, 10, callback_group=own_group())
        probe.create_subscription(Float64, "/dexsafe/cost", lambda m: costs.append(m.data), 10,
                                  callback_group=own_group())
        probe.create_subscription(Float64MultiArray, "/hand_controller/commands", lambda m: sent.append(m.data), 10,
                                  callback_group=own_group())
        report.check(commander.wait_until_ready(30.0), "mission action server up")
        ros.wait_for(lambda: objects and mission._objects is not None, 30.0, "the object list")
        z0 = {o.id: o.pose.position.z for o in objects[-1].objects}
        report.check(True, f"scene {args.scene!r}: objects {list(z0)}, hand {sim._backend.hand.name!r}")
        _render(sim, out / "before.png")

        print(f"--- mission: {args.instruction!r}", flush=True)
        commander.run_instruction(args.instruction, auto_confirm=True)
        last = None
        while not commander.is_done(poll=0.1):
            fb = commander.feedback()
            if fb is not None and (fb.phase, fb.detail) != last:
                last = (fb.phase, fb.detail)
                print(f"           [{fb.progress * 100:5.1f} %] {fb.phase:<8} {fb.detail}", flush=True)
        res = commander.last_result
        summary["plan"] = plan_from_msg(res.plan) if res.plan.steps or res.plan.rationale else None
        summary["mission"] = {"status": commander.result().name, "message": res.message,
                              "objects_lifted": list(res.objects_lifted), "total_cost": res.total_cost}
        summary["proposals"] = [proposal_summary(p, outcome)
                                for p, outcome in zip(res.proposals_executed, res.proposal_outcomes)]
        report.check(bool(summary["proposals"]), "proposal(s) executed: " + "; ".join(
            f"{p['id']} for {p['object_ids']} -> {p['outcome']}" for p in summary["proposals"]))
        rise = {o.id: o.pose.position.z - z0[o.id] for o in objects[-1].objects}
        summary["rise_m"] = rise
        _render(sim, out / "after.png")
        report.check(commander.result() == TaskResult.SUCCEEDED and sorted(res.objects_lifted) == sorted(z0),
                     f"mission {commander.result().name}: {res.message}")
        held_up = ", ".join(f"{k} {v * 100:.1f} cm" for k, v in rise.items())
        report.check(all(r >= 0.08 for r in rise.values()), f"objects held up after the mission: {held_up}")
        report.check(True, f"safety cost during the mission: {res.total_cost:.0f} shield ticks")

        print("--- shield stress: a policy sending garbage, then an e-stop", flush=True)
        pub = probe.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
        estop = probe.create_publisher(Bool, "/dexsafe/estop", 10)
        lo, hi = np.asarray(shield.limits.position_lower), np.asarray(shield.limits.position_upper)
        n = len(shield.joint_names)
        first_bad = len(sent)
        garbage = np.full(n, 50.0)
        garbage[3] = float("nan")
        for cmd in (np.full(n, 50.0), garbage, -np.full(n, 50.0)):
            pub.publish(Float64MultiArray(data=cmd.tolist()))
            time.sleep(0.2)
        out_cmds = np.array(sent[first_bad:])
        inside = bool(out_cmds.size and np.all(np.isfinite(out_cmds)) and np.all(out_cmds >= lo - 1e-9)
                      and np.all(out_cmds <= hi + 1e-9))
        report.check(inside, f"garbage in: {len(out_cmds)} shield commands out, all finite and inside the limits")
        estop.publish(Bool(data=True))
        # Judge from the moment the shield has the e-stop (a loaded graph may take longer than a fixed
        # sleep), and on every output it computes while a moving command comes in, then on the wire.
        ros.wait_for(lambda: shield._estop, 5.0, "the shield to take the e-stop")
        time.sleep(0.05)
        held = np.array(shield.last_result.command)
        pub.publish(Float64MultiArray(data=(held + 0.3).tolist()))
        outputs, end = [], time.monotonic() + 0.5
        while time.monotonic() < end:
            outputs.append(np.array(shield.last_result.command))
            time.sleep(0.01)
        end = time.monotonic() + 2.0
        while not np.allclose(sent[-1], held) and time.monotonic() < end:
            time.sleep(0.01)
        report.check(all(np.allclose(o, held) for o in outputs) and bool(np.allclose(sent[-1], held)),
                     "e-stop: the shield holds the last safe posture")
        estop.publish(Bool(data=False))
        report.check(sim.rejected_commands == 0, f"the sim rejected {sim.rejected_commands} commands "
                                                 "(everything reached it through the shield)")
        summary["shield"] = {"ticks": shield.ticks, "cost_ticks": shield.total_cost}
        recorder.close_bag()
    report.check((bag / "metadata.yaml").is_file(), f"run recorded to {bag} (MCAP)")
    from dexsafe.evaluation.evaluate import evaluate_bag

    evaluation = evaluate_bag(bag, "open", out_dir=out / "replay", report=True)
    s_ = evaluation.summary
    summary["replay"] = {"passed": s_.passed, "reasons": s_.reasons, "frames": s_.frames,
                         "speed_factor": s_.speed_factor, "violations": s_.violations}
    # Informational: the scripted close may press harder than the blocks' force limit (a cost, not a crash).
    print(f"           open-loop replay of the bag: {s_.frames} frames at {s_.speed_factor:.0f}x real time, "
          f"{'passed' if s_.passed else 'flagged: ' + '; '.join(s_.reasons)}", flush=True)
    return summary


def run(args: argparse.Namespace) -> int:
    from dexsafe.ros_nodes.testing import ensure_local_discovery

    domain = ensure_local_discovery()
    print(f"dexsafe demo: ROS_DOMAIN_ID={domain}, discovery on localhost only; report in {args.out}/", flush=True)
    report = DemoReport()
    try:
        summary = run_demo(args, report)
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure and exits non-zero
        report.check(False, f"demo raised {type(exc).__name__}: {exc}")
        summary = {}
    summary["checks"] = report.checks
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"demo finished: {report.failures} failure(s); report {out / 'report.json'}, renders "
          f"{out / 'before.png'} and {out / 'after.png'}")
    return 1 if report.failures else 0
