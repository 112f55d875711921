"""``dexsafe demo`` (``make demo``): bring up the node graph in simulation,
exercise it, and print what happened.

The graph grows as nodes land; each stage below prints one line per check and
the command exits non-zero if any check failed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="out/demo", help="folder for the demo's report files")


class DemoReport:
    """Collects pass/fail lines and prints them as they happen."""

    def __init__(self) -> None:
        self.failures = 0
        self.t0 = time.monotonic()

    def check(self, ok: bool, what: str) -> bool:
        mark = "ok  " if ok else "FAIL"
        print(f"[{time.monotonic() - self.t0:6.1f} s] {mark} {what}", flush=True)
        self.failures += 0 if ok else 1
        return ok


def stage_interfaces(report: DemoReport) -> None:
    """The generated interfaces and the node registry load."""
    from dexsafe.msg import GraspProposal, Plan  # noqa: F401
    from dexsafe.ros_nodes.registry import node_entries

    report.check(True, "generated interfaces dexsafe.msg/srv/action import")
    names = sorted(node_entries())
    report.check(True, f"{len(names)} node(s) registered: {', '.join(names) or '(none yet)'}")


def _save_png(rgb, path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _render(sim):
    with sim._lock:
        rgb, _ = sim._backend.render(None, 640, 480)
    return rgb


def _stream(pub, start, target, seconds: float, rate: float = 50.0) -> None:
    """Publish targets interpolated linearly from ``start`` to ``target`` over ``seconds``."""
    import numpy as np
    from std_msgs.msg import Float64MultiArray

    steps = max(1, int(seconds * rate))
    for a in np.linspace(0.0, 1.0, steps + 1)[1:]:
        pub.publish(Float64MultiArray(data=(start + a * (target - start)).tolist()))
        time.sleep(1.0 / rate)


def stage_sim_and_shield(report: DemoReport, out_dir: str = "out/demo") -> None:
    """sim + safety_shield: a scripted grasp lifts two blocks through the shield; garbage is clamped; e-stop holds."""
    from pathlib import Path

    import numpy as np
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64, Float64MultiArray

    from dexsafe.msg import HandContacts, SceneObjects
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode
    from dexsafe.ros_nodes.testing import RosHarness

    out = Path(out_dir)
    with RosHarness() as ros:
        sim = ros.add(SimNode(context=ros.context, parameter_overrides=[Parameter("cloud_rate", value=0.0)]))
        shield = ros.add(SafetyShieldNode(context=ros.context))
        policy = ros.node("demo_policy")
        states, objects, contacts, costs, sent = [], [], [], [], []
        policy.create_subscription(JointState, "/joint_states", states.append, 10)
        policy.create_subscription(SceneObjects, "/dexsafe/objects", objects.append, 10)
        policy.create_subscription(HandContacts, "/dexsafe/contacts", contacts.append, 10)
        policy.create_subscription(Float64, "/dexsafe/cost", lambda m: costs.append(m.data), 10)
        policy.create_subscription(Float64MultiArray, "/hand_controller/commands", lambda m: sent.append(m.data), 10)
        pub = policy.create_publisher(Float64MultiArray, "/dexsafe/policy_commands", 10)
        estop = policy.create_publisher(Bool, "/dexsafe/estop", 10)
        ros.wait_for(lambda: states and objects and sent, 30.0, "sim and shield streaming")
        names = shield.joint_names
        n = len(names)
        report.check(True, f"sim up: scene {sim._backend.scene.name!r}, hand {sim._backend.hand.name!r}, "
                           f"{n} commanded joints, objects {[o.id for o in objects[-1].objects]}")
        _save_png(_render(sim), out / "before.png")

        # A scripted "policy" (dexsafe.sim.scripted's row grasp): approach, pre-grasp, close, lift,
        # streamed at 50 Hz to the shield, which forwards it to the sim.
        from dexsafe.sim.scripted import plan_row_grasp

        with sim._lock:
            grasp = plan_row_grasp(sim._backend)
        z0 = {o.id: o.pose.position.z for o in objects[-1].objects}
        q_now = np.array(states[-1].position[:n])
        lo, hi = np.asarray(shield.limits.position_lower), np.asarray(shield.limits.position_upper)
        for name, (a, b, secs) in {"approach": (q_now, grasp.approach, 1.5),
                                   "pre-grasp": (grasp.approach, grasp.pregrasp, 1.2),
                                   "close": (grasp.pregrasp, grasp.closed, 0.9),
                                   "lift": (grasp.closed, grasp.lifted, 1.5)}.items():
            _stream(pub, a, b, secs)
            print(f"           phase {name:<9} done, peak contact force so far "
                  f"{max((c.normal_force for m in contacts for c in m.contacts), default=0.0):.1f} N", flush=True)
        time.sleep(0.3)
        _save_png(_render(sim), out / "lifted.png")
        # Hold for one second with the e-stop engaged: the shield holds the posture.
        estop.publish(Bool(data=True))
        pub.publish(Float64MultiArray(data=q_now.tolist()))  # a policy trying to open the hand is ignored
        time.sleep(1.0)
        rise = {o.id: o.pose.position.z - z0[o.id] for o in objects[-1].objects}
        report.check(all(r >= 0.10 for r in rise.values()),
                     "objects lifted together and held 1 s under e-stop: rise "
                     + ", ".join(f"{k} {v * 100:.1f} cm" for k, v in rise.items()) + " (success: >= 10 cm)")
        estop.publish(Bool(data=False))
        # Put them down again before the stress test.
        _stream(pub, grasp.lifted, grasp.closed, 1.5)
        _stream(pub, grasp.closed, grasp.pregrasp, 0.8)
        _stream(pub, grasp.pregrasp, grasp.approach, 1.0)

        # Garbage from the policy: out of range and NaN. The shield clamps or holds; nothing unsafe is sent.
        first_bad = len(sent)
        garbage = np.full(n, 50.0)
        garbage[3] = float("nan")
        for cmd in (np.full(n, 50.0), garbage, -np.full(n, 50.0)):
            pub.publish(Float64MultiArray(data=cmd.tolist()))
            time.sleep(0.2)
        out_cmds = np.array(sent[first_bad:])
        inside = bool(np.all(np.isfinite(out_cmds)) and np.all(out_cmds >= lo - 1e-9) and np.all(out_cmds <= hi + 1e-9))
        report.check(inside, f"garbage policy output: {len(out_cmds)} shield commands, all finite and inside "
                             f"the joint limits; cost ticks {int(sum(costs))}")
        # E-stop: the shield holds the last safe posture whatever the policy sends.
        estop.publish(Bool(data=True))
        time.sleep(0.2)
        held = np.array(sent[-1])
        pub.publish(Float64MultiArray(data=q_now.tolist()))
        time.sleep(0.5)
        report.check(bool(np.allclose(sent[-1], held)), "e-stop: shield holds the last safe posture")
        estop.publish(Bool(data=False))
        _save_png(_render(sim), out / "after.png")
        report.check(sim.rejected_commands == 0, f"sim rejected {sim.rejected_commands} commands (the shield "
                                                 f"filtered everything first); renders in {out}/")


STAGES: list[Callable[[DemoReport], None]] = [stage_interfaces, stage_sim_and_shield]


def run(args: argparse.Namespace) -> int:
    from dexsafe.ros_nodes.testing import ensure_local_discovery

    domain = ensure_local_discovery()
    print(f"dexsafe demo: ROS_DOMAIN_ID={domain}, discovery on localhost only")
    report = DemoReport()
    for stage in STAGES:
        print(f"--- {stage.__doc__.strip().splitlines()[0]}")
        try:
            stage(report)
        except Exception as exc:  # noqa: BLE001 - a failed stage is reported, the next still runs
            report.check(False, f"{stage.__name__} raised {type(exc).__name__}: {exc}")
    print(f"demo finished: {report.failures} failure(s)")
    return 1 if report.failures else 0


