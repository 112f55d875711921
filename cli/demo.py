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


STAGES: list[Callable[[DemoReport], None]] = [stage_interfaces]


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


