"""The rosbags typestore dexsafe reads and writes bags with.

It is the ROS 2 Kilted store (the distro of the rclpy wheels the stack runs
on; ``std_msgs``, ``sensor_msgs``, ``diagnostic_msgs``, ``rosgraph_msgs``,
``trajectory_msgs`` ... with their type hashes) plus the project's own
messages, parsed from the ``.msg`` files of ``msg/`` (installed under the
package's share directory, or the repository root in a checkout). Writers take
the message definitions they embed in MCAP schemas and sqlite3
``message_definitions`` from here, so bags decode without a dexsafe install.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

PACKAGE = "dexsafe"


def msg_dir() -> Path:
    """The folder holding dexsafe's ``.msg`` files (share dir first, then the source tree)."""
    candidates = []
    try:
        from dexsafe.core.paths import share_dir

        candidates.append(share_dir() / "msg")
    except FileNotFoundError:
        pass
    candidates.append(Path(__file__).resolve().parent.parent / "msg")
    for cand in candidates:
        if cand.is_dir() and any(cand.glob("*.msg")):
            return cand
    raise FileNotFoundError(f"dexsafe .msg files not found (looked in: {', '.join(map(str, candidates))})")


def dexsafe_types() -> dict:
    """rosbags type definitions of every ``dexsafe/msg/*`` message."""
    types: dict = {}
    for path in sorted(msg_dir().glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(encoding="utf-8"), f"{PACKAGE}/msg/{path.stem}"))
    return types


@functools.lru_cache(maxsize=1)
def _shared() -> Typestore:
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(dexsafe_types())
    return store


def typestore(fresh: bool = False) -> Typestore:
    """The Kilted store with dexsafe's messages registered. ``fresh=True`` returns a
    private copy that a reader may extend with a bag's own definitions."""
    if not fresh:
        return _shared()
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(dexsafe_types())
    return store


def msgdef(msgtype: str, store: Typestore | None = None) -> str:
    """The concatenated ``.msg`` definition of ``msgtype`` (dependencies after
    ``MSG:`` separators), as rosbag2 and ``mcap_ros2`` embed it."""
    text, _ = (store or typestore()).generate_msgdef(msgtype, ros_version=2)
    return text
