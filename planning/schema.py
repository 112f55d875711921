"""The closed skill schema and the ``Plan`` / ``PlanStep`` dataclasses.

Only the skills in ``SKILLS`` can ever reach execution; each has a fixed set of
typed arguments (enums, bounded numbers, object/zone ids). A plan from any
source (rule planner, LLM, learned corrector) is parsed with ``plan_from_dict``,
which rejects unknown skills, unknown or missing arguments, wrong types and
out-of-range numbers with a ``SchemaError`` naming the field. Scene-dependent
checks (the ids exist, the force is under *that* object's limit, keep-out
zones...) are the validator's job (``dexsafe.planning.validator``).

Skills (schema ``dexsafe.skills/1``), units SI:

- ``grasp(object_ids, grasp_type, approach, part, force_n, speed, lift_height_m)``:
  propose and execute one grasp of 1..3 objects together (MultiGrasp), then lift.
- ``move_to(target_id, height_m, speed)``: move the hand over an object or zone.
- ``place(target_id, relation, speed)``: lower what is held on/in/next to a target
  until contact (the hand still holds it).
- ``release()``: open the hand; the drop height is what the hand's state says, not an argument.
- ``handover(zone_id, handle_first, speed)``: offer what is held in a handover zone
  and let go when the person takes it.
- ``retract()``: move the hand back to its home pose.
"""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SCHEMA_VERSION = "dexsafe.skills/1"

GRASP_TYPES = ("power", "precision", "pinch", "lateral")
APPROACHES = ("top", "side")
PARTS = ("body", "handle")
SPEEDS = ("slow", "normal")
RELATIONS = ("on", "in", "next_to")
#: Static upper bound on any grip force in the schema, N (the hand's limit and each
#: object's ``max_contact_force`` are checked by the validator, scene-aware).
SCHEMA_MAX_FORCE_N = 100.0
SCHEMA_MAX_HEIGHT_M = 1.0
MAX_RATIONALE_CHARS = 2000
MAX_STEPS = 20


class SchemaError(ValueError):
    """Data that is not a plan in the skill schema. The message names the offending field."""


class PlanStatus(StrEnum):
    """What the robot may do with a plan."""

    OK = "ok"                                   # may execute
    NEEDS_CONFIRMATION = "needs_confirmation"   # may execute after a person confirms
    REFUSED = "refused"                         # will not execute; rationale says why
    CLARIFY = "clarify"                         # the instruction is ambiguous; rationale asks


@dataclass(frozen=True)
class ArgSpec:
    """One typed argument of a skill.

    ``kind`` is one of ``object_ids`` (list of 1..n ids), ``id`` (one object or zone id),
    ``enum`` (one of ``choices``), ``number`` (float in ``[minimum, maximum]`` ``unit``),
    ``bool``.
    """

    name: str
    kind: str
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    default: Any = None
    max_items: int = 3


@dataclass(frozen=True)
class SkillSpec:
    name: str
    doc: str
    args: tuple[ArgSpec, ...] = ()

    def arg(self, name: str) -> ArgSpec:
        for a in self.args:
            if a.name == name:
                return a
        raise KeyError(name)


_SPEED = ArgSpec("speed", "enum", "wrist speed setting", SPEEDS, default="normal")

SKILLS: dict[str, SkillSpec] = {
    s.name: s
    for s in (
        SkillSpec("grasp", "propose and execute one grasp of the listed objects together, then lift", (
            ArgSpec("object_ids", "object_ids", "objects taken in this one grasp (1..3, distinct)"),
            ArgSpec("grasp_type", "enum", "hand shape", GRASP_TYPES, default="power"),
            ArgSpec("approach", "enum", "approach direction", APPROACHES, default="top"),
            ArgSpec("part", "enum", "part of the object to hold", PARTS, default="body"),
            ArgSpec("force_n", "number", "grip force", minimum=0.0, maximum=SCHEMA_MAX_FORCE_N, unit="N"),
            _SPEED,
            ArgSpec("lift_height_m", "number", "lift after closing the hand", minimum=0.0,
                    maximum=SCHEMA_MAX_HEIGHT_M, unit="m", default=0.10),
        )),
        SkillSpec("move_to", "move the hand over an object or zone", (
            ArgSpec("target_id", "id", "object or zone to move over"),
            ArgSpec("height_m", "number", "hand height above the target's top", minimum=0.0,
                    maximum=SCHEMA_MAX_HEIGHT_M, unit="m", default=0.12),
            _SPEED,
        )),
        SkillSpec("place", "lower what is held on/in/next to a target until contact", (
            ArgSpec("target_id", "id", "object or zone to place at"),
            ArgSpec("relation", "enum", "spatial relation to the target", RELATIONS, default="on"),
            _SPEED,
        )),
        SkillSpec("release", "open the hand where it is"),
        SkillSpec("handover", "offer what is held in a handover zone; let go when taken", (
            ArgSpec("zone_id", "id", "a zone of kind handover"),
            ArgSpec("handle_first", "bool", "present the handle (not the blade or body) to the person",
                    default=False),
            _SPEED,
        )),
        SkillSpec("retract", "move the hand back to its home pose"),
    )
}


@dataclass(frozen=True)
class PlanStep:
    """One call of a schema skill. ``args`` holds exactly the skill's arguments."""

    skill: str
    args: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"skill": self.skill, "args": _copy_args(self.args)}

    def object_ids(self) -> list[str]:
        """Object ids this step names (grasped objects or the target), in order."""
        if self.skill == "grasp":
            return list(self.args.get("object_ids", []))
        for key in ("target_id", "zone_id"):
            if key in self.args:
                return [self.args[key]]
        return []


def _copy_args(args: dict) -> dict:
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in args.items()}


def new_plan_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Plan:
    """A plan over the skill schema.

    ``reasons`` are short machine-readable codes for why the status is what it is
    (``harm:throw``, ``injection:override``, ``ambiguous:cup``, ``infeasible:cut``,
    ``confirm:sharp``...); ``rationale`` says the same for a person.
    ``provenance`` records the backend, model, scores and edits that produced it.
    """

    status: PlanStatus
    steps: tuple[PlanStep, ...] = ()
    rationale: str = ""
    instruction: str = ""
    reasons: tuple[str, ...] = ()
    plan_id: str = field(default_factory=new_plan_id)
    schema_version: str = SCHEMA_VERSION
    provenance: dict = field(default_factory=dict)

    @property
    def executable(self) -> bool:
        """True if the status lets the plan run (possibly after confirmation)."""
        return self.status in (PlanStatus.OK, PlanStatus.NEEDS_CONFIRMATION)

    def to_dict(self) -> dict:
        return {
            "schema_version": self.schema_version,
            "plan_id": self.plan_id,
            "instruction": self.instruction,
            "status": self.status.value,
            "steps": [s.to_dict() for s in self.steps],
            "rationale": self.rationale,
            "reasons": list(self.reasons),
            "provenance": self.provenance,
        }

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def skills(self) -> list[str]:
        return [s.skill for s in self.steps]


# ---------------------------------------------------------------------------------------------
# Parsing untrusted data


def _check_number(where: str, value, spec: ArgSpec) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"{where}: expected a number ({spec.unit or 'unitless'}), got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise SchemaError(f"{where}: non-finite value {value!r}")
    if spec.minimum is not None and v < spec.minimum or spec.maximum is not None and v > spec.maximum:
        raise SchemaError(f"{where} = {v} {spec.unit} is outside the schema range "
                          f"[{spec.minimum}, {spec.maximum}] {spec.unit}")
    return v


def _check_id(where: str, value) -> str:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise SchemaError(f"{where}: expected an object or zone id string, got {value!r}")
    if not all(c.islower() or c.isdigit() or c == "_" for c in value) or not value[0].isalpha():
        raise SchemaError(f"{where}: id {value!r} must match [a-z][a-z0-9_]*")
    return value


def step_from_dict(data: Any, where: str = "step") -> PlanStep:
    """Parse one step; fills defaults for missing optional args; raises ``SchemaError``."""
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected an object with 'skill' and 'args', got {type(data).__name__}")
    extra = set(data) - {"skill", "args"}
    if extra:
        raise SchemaError(f"{where}: unknown key(s) {sorted(extra)}; a step has only 'skill' and 'args'")
    skill = data.get("skill")
    if skill not in SKILLS:
        raise SchemaError(f"{where}: skill {skill!r} is not in the schema; allowed: {sorted(SKILLS)}")
    spec = SKILLS[skill]
    args = data.get("args", {})
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise SchemaError(f"{where}.args: expected an object, got {type(args).__name__}")
    known = {a.name for a in spec.args}
    unknown = set(args) - known
    if unknown:
        raise SchemaError(f"{where}.args: unknown argument(s) {sorted(unknown)} for skill {skill!r}; "
                          f"allowed: {sorted(known)}")
    out: dict = {}
    for a in spec.args:
        w = f"{where}.args.{a.name}"
        if a.name not in args or args[a.name] is None:
            if a.default is None:
                raise SchemaError(f"{w}: required argument of {skill!r} is missing")
            out[a.name] = a.default
            continue
        v = args[a.name]
        if a.kind == "enum":
            if v not in a.choices:
                raise SchemaError(f"{w}: {v!r} is not one of {list(a.choices)}")
            out[a.name] = v
        elif a.kind == "number":
            out[a.name] = _check_number(w, v, a)
        elif a.kind == "bool":
            if not isinstance(v, bool):
                raise SchemaError(f"{w}: expected true or false, got {v!r}")
            out[a.name] = v
        elif a.kind == "id":
            out[a.name] = _check_id(w, v)
        elif a.kind == "object_ids":
            if not isinstance(v, (list, tuple)) or not 1 <= len(v) <= a.max_items:
                raise SchemaError(f"{w}: expected a list of 1..{a.max_items} object ids, got {v!r}")
            ids = [_check_id(f"{w}[{i}]", x) for i, x in enumerate(v)]
            if len(set(ids)) != len(ids):
                raise SchemaError(f"{w}: object ids repeat: {ids}")
            out[a.name] = ids
        else:  # pragma: no cover - the table above is closed
            raise SchemaError(f"{w}: unknown argument kind {a.kind!r}")
    return PlanStep(skill=skill, args=out)


def plan_from_dict(data: Any) -> Plan:
    """Parse a plan from untrusted data (LLM output, a service request); raises ``SchemaError``.

    Accepts the keys ``Plan.to_dict`` writes; ``status``, ``steps`` and ``rationale``
    are required, the rest optional. Unknown keys are an error.
    """
    if not isinstance(data, dict):
        raise SchemaError(f"plan: expected a JSON object, got {type(data).__name__}")
    allowed = {"schema_version", "plan_id", "instruction", "status", "steps", "rationale", "reasons",
               "provenance"}
    extra = set(data) - allowed
    if extra:
        raise SchemaError(f"plan: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SchemaError(f"plan.schema_version: {version!r} is not {SCHEMA_VERSION!r}")
    for key in ("status", "steps", "rationale"):
        if key not in data:
            raise SchemaError(f"plan.{key}: required key is missing")
    try:
        status = PlanStatus(data["status"])
    except ValueError:
        raise SchemaError(f"plan.status: {data['status']!r} is not one of "
                          f"{[s.value for s in PlanStatus]}") from None
    steps_raw = data["steps"]
    if not isinstance(steps_raw, list):
        raise SchemaError(f"plan.steps: expected a list, got {type(steps_raw).__name__}")
    if len(steps_raw) > MAX_STEPS:
        raise SchemaError(f"plan.steps: {len(steps_raw)} steps is more than the limit of {MAX_STEPS}")
    steps = tuple(step_from_dict(s, f"plan.steps[{i}]") for i, s in enumerate(steps_raw))
    rationale = data["rationale"]
    if not isinstance(rationale, str):
        raise SchemaError("plan.rationale: expected a string")
    reasons = data.get("reasons", [])
    if not isinstance(reasons, list) or not all(isinstance(r, str) for r in reasons):
        raise SchemaError("plan.reasons: expected a list of strings")
    provenance = data.get("provenance", {})
    if not isinstance(provenance, dict):
        raise SchemaError("plan.provenance: expected an object")
    plan_id = data.get("plan_id") or new_plan_id()
    if not isinstance(plan_id, str):
        raise SchemaError("plan.plan_id: expected a string")
    instruction = data.get("instruction", "")
    if not isinstance(instruction, str):
        raise SchemaError("plan.instruction: expected a string")
    return Plan(status=status, steps=steps, rationale=rationale[:MAX_RATIONALE_CHARS], instruction=instruction,
                reasons=tuple(reasons), plan_id=plan_id, provenance=dict(provenance))


def plan_from_json(text: str) -> Plan:
    """Parse a JSON string into a ``Plan``; garbled JSON raises ``SchemaError``."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"plan: not valid JSON ({exc})") from None
    return plan_from_dict(data)


# ---------------------------------------------------------------------------------------------
# JSON Schema for constrained decoding (LLM backends)


def _arg_json_schema(a: ArgSpec, object_ids: list[str], target_ids: list[str], zone_ids: list[str]) -> dict:
    if a.kind == "enum":
        return {"type": "string", "enum": list(a.choices), "description": a.doc}
    if a.kind == "number":
        return {"type": "number", "minimum": a.minimum, "maximum": a.maximum, "description": f"{a.doc}, {a.unit}"}
    if a.kind == "bool":
        return {"type": "boolean", "description": a.doc}
    if a.kind == "object_ids":
        item = {"type": "string", "enum": object_ids} if object_ids else {"type": "string"}
        return {"type": "array", "items": item, "minItems": 1, "maxItems": a.max_items, "uniqueItems": True,
                "description": a.doc}
    ids = zone_ids if a.name == "zone_id" else target_ids
    return {"type": "string", "enum": ids, "description": a.doc} if ids else {"type": "string", "description": a.doc}


def plan_json_schema(object_ids: list[str] | None = None, zone_ids: list[str] | None = None) -> dict:
    """JSON Schema of a plan, for ``response_format`` / tool parameters.

    With the scene's ids given, id fields are enums of those ids (scene-bounded).
    """
    object_ids = list(object_ids or [])
    zone_ids = list(zone_ids or [])
    targets = object_ids + zone_ids
    variants = []
    for s in SKILLS.values():
        props = {a.name: _arg_json_schema(a, object_ids, targets, zone_ids) for a in s.args}
        variants.append({
            "type": "object",
            "additionalProperties": False,
            "required": ["skill", "args"],
            "properties": {
                "skill": {"const": s.name, "description": s.doc},
                "args": {"type": "object", "additionalProperties": False, "required": [a.name for a in s.args],
                         "properties": props},
            },
        })
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["status", "steps", "rationale"],
        "properties": {
            "status": {"type": "string", "enum": [s.value for s in PlanStatus]},
            "steps": {"type": "array", "maxItems": MAX_STEPS, "items": {"anyOf": variants}},
            "rationale": {"type": "string", "maxLength": MAX_RATIONALE_CHARS},
        },
    }
