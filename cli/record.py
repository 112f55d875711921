"""``dexsafe record``: record the running stack's topics to a rosbag2 bag.

Starts the ``recorder`` node (``dexsafe.ros_nodes.recorder_node``) in this
process until Ctrl-C or ``--duration``; the bag is finalised on exit. Run it
in the same ROS domain as the stack (``ROS_DOMAIN_ID``). ``ros2 bag info``
on Humble and Jazzy reads the result; ``dexsafe eval-bag`` replays it.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", default="", help="bag directory to create "
                                                          "(default out/bags/run_<UTC date-time>)")
    parser.add_argument("-s", "--storage", choices=("mcap", "sqlite3"), default="mcap", help="storage plugin")
    parser.add_argument("topics", nargs="*", help="topics to record (default: the stack's topics)")
    parser.add_argument("-a", "--all", action="store_true", help="record every topic with a known message type")
    parser.add_argument("-d", "--duration", type=float, default=0.0, help="stop after this many seconds")
    parser.add_argument("--instruction", default="", help="instruction of this run, stored with the run info")
    parser.add_argument("--use-sim-time", action="store_true", help="stamp messages with /clock time")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rclpy.parameter import Parameter

    from dexsafe.ros_nodes.node_runtime import spin_node
    from dexsafe.ros_nodes.recorder_node import RecorderNode

    if args.output and Path(args.output).exists():
        print(f"dexsafe record: error: {args.output} exists already; a bag is never overwritten", file=sys.stderr)
        return 2
    overrides = [Parameter("output", value=args.output), Parameter("storage", value=args.storage),
                 Parameter("all_topics", value=bool(args.all)), Parameter("duration", value=float(args.duration)),
                 Parameter("instruction", value=args.instruction),
                 Parameter("use_sim_time", value=bool(args.use_sim_time))]
    if args.topics:
        bad = [t for t in args.topics if not t.startswith("/")]
        if bad:
            print(f"dexsafe record: error: topics must be absolute names, got {bad}", file=sys.stderr)
            return 2
        overrides.append(Parameter("topics", value=list(args.topics)))
    return spin_node(lambda: RecorderNode(parameter_overrides=overrides), [sys.argv[0]])
