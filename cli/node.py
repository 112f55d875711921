"""``dexsafe node NAME [--ros-args ...]``: run one node, as ``ros2 run dexsafe NAME`` does."""

from __future__ import annotations

import argparse

from dexsafe.ros_nodes.registry import node_entries, run_node


def add_arguments(parser: argparse.ArgumentParser) -> None:
    entries = node_entries()
    parser.add_argument("name", help="node: " + ", ".join(f"{n} ({e.description})" for n, e in entries.items()))
    parser.add_argument("ros_args", nargs=argparse.REMAINDER, help="passed to rclpy, e.g. --ros-args -p rate:=100")


def run(args: argparse.Namespace) -> int:
    return run_node(args.name, args.ros_args)
