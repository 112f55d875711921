"""``dexsafe/Plan`` message fields -> a plan dict, without ROS.

Works on anything with the message's fields: an rclpy ``dexsafe.msg.Plan`` in a node, or the
same message decoded from a bag by ``rosbags`` in replay evaluation (which must run without
the ROS build). ``PLAN_STATUS_NAMES`` restates the ``STATUS_*`` constants of ``msg/Plan.msg``
(a test checks they agree).
"""

from __future__ import annotations

import json
import math

from dexsafe.core.validation import InvalidInput

PLAN_STATUS_NAMES = {0: "ok", 1: "needs_confirmation", 2: "refused", 3: "clarify"}
PLAN_STATUS_CODES = {v: k for k, v in PLAN_STATUS_NAMES.items()}


def plan_from_msg(msg) -> dict:
    """``dexsafe/Plan`` -> JSON-like dict; raises ``InvalidInput`` on unknown status or bad JSON."""
    if msg.status not in PLAN_STATUS_NAMES:
        raise InvalidInput(f"plan status {msg.status} is not a STATUS_* constant")
    steps = []
    for i, s in enumerate(msg.steps):
        try:
            args = json.loads(s.args_json) if s.args_json else {}
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"steps[{i}].args_json is not valid JSON: {exc}") from exc
        if not isinstance(args, dict):
            raise InvalidInput(f"steps[{i}].args_json must be a JSON object")
        for key, val in args.items():
            if isinstance(val, float) and not math.isfinite(val):
                raise InvalidInput(f"steps[{i}].args.{key} is not finite")
        steps.append({"skill": s.skill, "args": args})
    try:
        provenance = json.loads(msg.provenance_json) if msg.provenance_json else {}
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"provenance_json is not valid JSON: {exc}") from exc
    out = {"instruction": msg.instruction, "status": PLAN_STATUS_NAMES[msg.status], "steps": steps,
           "rationale": msg.rationale, "reasons": list(msg.reasons), "provenance": provenance}
    if msg.schema_version:
        out["schema_version"] = msg.schema_version
    if msg.plan_id:
        out["plan_id"] = msg.plan_id
    return out
