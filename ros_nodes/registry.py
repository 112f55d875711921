"""The package's nodes by name, read from ``nodes.txt`` beside this file.

``run_node(name, argv)`` is what ``ros2 run dexsafe NAME`` and
``dexsafe node NAME`` call.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeEntry:
    name: str
    entry_point: str  # "module:function"
    description: str


def node_entries() -> dict[str, NodeEntry]:
    entries: dict[str, NodeEntry] = {}
    for raw in Path(__file__).with_name("nodes.txt").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, entry, *desc = line.split(None, 2)
        entries[name] = NodeEntry(name, entry, desc[0] if desc else "")
    return entries


def node_class(name: str) -> type:
    """The rclpy ``Node`` subclass that node ``name``'s module defines (one per module), for in-process use."""
    from rclpy.node import Node

    entries = node_entries()
    if name not in entries:
        raise KeyError(f"unknown node {name!r}; known: {', '.join(sorted(entries))}")
    module = importlib.import_module(entries[name].entry_point.split(":")[0])
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, Node) and c.__module__ == module.__name__]
    if len(classes) != 1:
        raise LookupError(f"{module.__name__} defines {len(classes)} Node classes; expected one")
    return classes[0]


def run_node(name: str, argv: list[str] | None = None) -> int:
    # Same default as the CLI: discovery on this host unless widened explicitly.
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    entries = node_entries()
    if name not in entries:
        raise SystemExit(f"unknown node {name!r}; known: {', '.join(sorted(entries)) or '(none)'}")
    module, func = entries[name].entry_point.split(":")
    return int(getattr(importlib.import_module(module), func)(argv) or 0)


if __name__ == "__main__":
    import sys

    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m dexsafe.ros_nodes.registry NODE [--ros-args ...]")
    sys.exit(run_node(sys.argv[1], sys.argv[2:]))
