"""What a recorded run was: scene, seed, goal and shield settings.

Stored in the bag's ``custom_data`` (rosbag2 metadata v6+, a string -> string
map) under the key ``dexsafe.run`` as JSON, so replay can rebuild the shield
with the limits it had and reset the sim to the recorded initial scene. Bags
written by other tools have no run info; replay then falls back to defaults
(``RunInfo()``) and says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

CUSTOM_DATA_KEY = "dexsafe.run"
FORMAT_VERSION = 1


@dataclass
class RunInfo:
    """Settings of one recorded run; every field has the stack's default."""

    scene: str = "two_blocks"
    """scene name (config/scenes) or path, as the sim node's ``scene`` parameter"""
    hand: str = ""
    """hand description name or path; empty = the scene's hand"""
    seed: int = -1
    """object placement seed; -1 = the scene file's seed"""
    goal: list[str] = field(default_factory=list)
    """object ids the run tries to lift (empty = all of the scene's objects)"""
    instruction: str = ""
    """the instruction the run executed, if any"""
    control_rate: float = 100.0
    """shield ticks per second, Hz"""
    state_timeout: float = 0.1
    """shield: joint states older than this make it hold, s"""
    command_timeout: float = 0.5
    """shield: policy commands older than this make it hold, s"""
    max_contact_force: float = -1.0
    """shield: finger force limit, N; < 0 = the scene's most fragile object"""
    source: str = ""
    """what wrote the bag: ``recorder_node``, ``scripted_sim_run``, ..."""
    policy: str = ""
    """what produced the policy commands: ``scripted`` (sim_loop's row grasp, re-runnable open loop),
    ``grasp_executor``, a checkpoint path, ...; empty = unknown"""

    def to_custom_data(self) -> dict[str, str]:
        return {CUSTOM_DATA_KEY: json.dumps({"format": FORMAT_VERSION, **asdict(self)}, sort_keys=True)}

    @classmethod
    def from_custom_data(cls, custom: dict[str, str] | None) -> RunInfo | None:
        """The run info in a bag's custom_data, or None when the bag has none.

        Unknown keys (from a newer dexsafe) are ignored; a malformed entry raises ValueError.
        """
        if not custom or CUSTOM_DATA_KEY not in custom:
            return None
        try:
            data = json.loads(custom[CUSTOM_DATA_KEY])
        except json.JSONDecodeError as exc:
            raise ValueError(f"custom_data[{CUSTOM_DATA_KEY!r}] is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"custom_data[{CUSTOM_DATA_KEY!r}] is not a JSON object")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
