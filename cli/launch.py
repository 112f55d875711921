"""``dexsafe launch sim|real|replay [name:=value ...]``: start a node graph without a ROS distro,
exactly as ``ros2 launch dexsafe <graph>.launch.py`` would (same nodes, config files, overrides,
remappings)."""

from __future__ import annotations

import argparse
import sys

from dexsafe.ros_nodes.graph import ARGUMENTS, graph

INTERMIXED_ARGS = True  # `name:=value` arguments may come before or after the options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", choices=("sim", "real", "replay"))
    parser.add_argument("arguments", nargs="*", metavar="name:=value",
                        help="launch arguments: " + "; ".join(f"{a.name} (default {a.default!r}): {a.description}"
                                                              for a in ARGUMENTS.values()))
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--show", action="store_true", help="print the nodes and commands, start nothing")


def run(args: argparse.Namespace) -> int:
    from dexsafe.ros_nodes.launcher import node_command, run_graph

    given = {}
    for item in args.arguments:
        name, sep, value = item.partition(":=")
        if not sep:
            print(f"dexsafe launch: expected name:=value, got {item!r}", file=sys.stderr)
            return 2
        given[name] = value
    try:
        specs = graph(args.graph, given)
    except ValueError as exc:
        print(f"dexsafe launch: {exc}", file=sys.stderr)
        return 2
    if args.show:
        for spec in specs:
            print(" ".join(node_command(spec)))
        return 0
    return run_graph(specs, duration=args.duration)
