"""Messages <-> library types, with the checks every node applies to requests.

Poses: ROS ``geometry_msgs/Pose`` in ``world`` <-> ``(xyz, quat_xyzw)`` tuples
(metres, unit quaternion in ROS x, y, z, w order). Every conversion from a
message validates and raises ``InvalidInput`` with a message the node returns
in its response; nothing here touches the graph.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from geometry_msgs.msg import Point, Pose, Quaternion, Vector3

from dexsafe.core.validation import InvalidInput, finite, in_range, unit_quaternion
from dexsafe.msg import Plan, PlanStep, SceneObject
from dexsafe.planning.plan_message import PLAN_STATUS_CODES, PLAN_STATUS_NAMES, plan_from_msg  # noqa: F401 (re-export)
from dexsafe.sim.scene_spec import SHAPES, ObjectSpec

# Anything further than this from the world origin is a unit or frame error.
MAX_WORLD_COORD = 10.0  # m


def pose_from_msg(msg: Pose, name: str = "pose") -> tuple[list[float], list[float]]:
    """Return ``(xyz, quat_xyzw)``; raise ``InvalidInput`` on NaN, far-away or non-unit poses."""
    p, q = msg.position, msg.orientation
    xyz = finite(f"{name}.position", (p.x, p.y, p.z))
    for axis, v in zip("xyz", xyz):
        in_range(f"{name}.position.{axis}", v, -MAX_WORLD_COORD, MAX_WORLD_COORD, "m")
    quat = unit_quaternion(f"{name}.orientation", (q.x, q.y, q.z, q.w))
    return xyz, quat


def pose_to_msg(xyz: Sequence[float], quat_xyzw: Sequence[float]) -> Pose:
    return Pose(
        position=Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2])),
        orientation=Quaternion(x=float(quat_xyzw[0]), y=float(quat_xyzw[1]),
                               z=float(quat_xyzw[2]), w=float(quat_xyzw[3])),
    )


def vector3(v: Sequence[float]) -> Vector3:
    return Vector3(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def point(v: Sequence[float]) -> Point:
    return Point(x=float(v[0]), y=float(v[1]), z=float(v[2]))


def object_spec_from_msg(msg: SceneObject, index: int = 0) -> tuple[ObjectSpec, tuple[list[float], list[float]]]:
    """A ``SceneObject`` message as ``(ObjectSpec, (xyz, quat_xyzw))``; validated."""
    where = f"objects[{index}]"
    if not msg.id:
        raise InvalidInput(f"{where}.id is empty")
    if msg.shape not in SHAPES:
        raise InvalidInput(f"{where} ({msg.id}): shape {msg.shape!r} is not one of {SHAPES}")
    size = finite(f"{where}.size", msg.size)
    expected = {"box": 3, "cylinder": 2, "sphere": 1, "capsule": 2, "mesh": 1}[msg.shape]
    if len(size) != expected or any(s <= 0 or s > 2.0 for s in size):
        raise InvalidInput(f"{where} ({msg.id}): a {msg.shape} needs {expected} sizes in (0, 2] m, got {size}")
    mass = in_range(f"{where}.mass", msg.mass, 1e-4, 50.0, "kg")
    friction = in_range(f"{where}.friction", msg.friction if msg.friction > 0 else 0.8, 1e-3, 5.0)
    fmax = in_range(f"{where}.max_contact_force", msg.max_contact_force if msg.max_contact_force > 0 else 20.0,
                    1e-2, 1e4, "N")
    pose = pose_from_msg(msg.pose, f"{where}.pose")
    spec = ObjectSpec(id=msg.id, label=msg.label or msg.id.replace("_", " "), shape=msg.shape,
                      size=tuple(size), mass=mass, friction=friction, max_contact_force=fmax,
                      tags=tuple(msg.tags), mesh=msg.mesh_uri or None)
    return spec, pose


def object_spec_to_msg(spec: ObjectSpec, xyz: Sequence[float], quat_xyzw: Sequence[float]) -> SceneObject:
    return SceneObject(
        id=spec.id, label=spec.label, shape=spec.shape, size=[float(s) for s in spec.size],
        mesh_uri=spec.mesh or "", pose=pose_to_msg(xyz, quat_xyzw), mass=float(spec.mass),
        friction=float(spec.friction), max_contact_force=float(spec.max_contact_force), tags=list(spec.tags),
    )


def check_object_ids(requested: Iterable[str], known: Iterable[str]) -> list[str]:
    """Return the requested ids (de-duplicated, order kept); raise on none or unknown ones."""
    req = list(dict.fromkeys(requested))
    if not req:
        raise InvalidInput("no object ids given")
    known = list(known)
    unknown = [i for i in req if i not in known]
    if unknown:
        raise InvalidInput(f"unknown object id(s) {unknown}; known: {known}")
    return req


def plan_to_msg(plan: dict) -> Plan:
    """A plan as a JSON-like dict (``dexsafe.planning.schema.Plan.to_dict()``: ``status``,
    ``steps`` with ``skill``/``args`` and optionally ``object_ids``, ``rationale``,
    ``reasons``, ``plan_id``, ``schema_version``, ``instruction``, ``provenance``) -> ``dexsafe/Plan``."""
    status = plan.get("status", "ok")
    if status not in PLAN_STATUS_CODES:
        raise InvalidInput(f"plan status {status!r} is not one of {list(PLAN_STATUS_CODES)}")
    steps = []
    for step in plan.get("steps", []):
        args = step.get("args", {})
        steps.append(PlanStep(skill=str(step["skill"]), object_ids=[str(o) for o in step.get("object_ids", [])],
                              args_json=json.dumps(args, sort_keys=True), rationale=str(step.get("rationale", ""))))
    return Plan(schema_version=str(plan.get("schema_version", "")), plan_id=str(plan.get("plan_id", "")),
                instruction=str(plan.get("instruction", "")), status=PLAN_STATUS_CODES[status], steps=steps,
                rationale=str(plan.get("rationale", "")), reasons=[str(r) for r in plan.get("reasons", [])],
                provenance_json=json.dumps(plan.get("provenance", {}), sort_keys=True, default=str))
