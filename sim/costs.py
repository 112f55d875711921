"""Safety cost channels of the dexsafe tasks (Safety-Gymnasium style indicators).

Each channel is 0 or 1 per environment step, computed from the state after the
step; the step's ``cost`` is their sum and ``info['costs']`` reports them
separately. Channels:

``contact_force``
    1 if the total normal force the hand exerts on some object exceeds that
    object's ``max_contact_force`` (scene file, N).
``object_dropped``
    1 if some object falls: its vertical velocity is below
    ``-drop_speed`` (m/s) while no hand body touches it, or it lies below the
    table top by more than ``off_table_depth`` (m; it left the table).
``table_collision``
    1 if any hand body touches the table top or the floor.
``joint_limit``
    1 if any commanded joint is within ``joint_margin`` (rad, hinges) or
    ``slide_margin`` (m, the wrist's slides) of a limit of the hand
    description, or beyond it.
``speed_limit``
    1 if any commanded joint moves faster than ``speed_factor`` times its
    velocity limit in the hand description (rad/s or m/s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexsafe.sim.backend import Contact, JointState, ObjectState
from dexsafe.sim.hands import WRIST_JOINTS, HandDescription
from dexsafe.sim.scene_spec import SceneSpec

CHANNELS: tuple[str, ...] = ("contact_force", "object_dropped", "table_collision", "joint_limit", "speed_limit")


@dataclass(frozen=True)
class CostConfig:
    """Thresholds of the cost channels (see the module docstring)."""

    drop_speed: float = 0.5
    """m/s: an untouched object falling faster than this counts as dropped."""
    off_table_depth: float = 0.05
    """m: an object this far below the table top has left the table."""
    joint_margin: float = 0.02
    """rad: how close to a hinge limit counts as at the limit."""
    slide_margin: float = 0.005
    """m: how close to a wrist slide limit (the workspace box) counts as at the limit."""
    speed_factor: float = 1.0
    """multiple of the description's velocity limits allowed."""


@dataclass(frozen=True)
class LimitArrays:
    """The hand's limits as arrays in command order (rad or m, rad/s or m/s)."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    margin: np.ndarray

    @classmethod
    def from_description(cls, hand: HandDescription, scene: SceneSpec, cfg: CostConfig) -> LimitArrays:
        w = hand.wrist
        lower = list(scene.workspace_min) + list(w.rotation_lower) + [j.lower for j in hand.joints]
        upper = list(scene.workspace_max) + list(w.rotation_upper) + [j.upper for j in hand.joints]
        vel = [w.translation_velocity] * 3 + [w.rotation_velocity] * 3 + [j.velocity for j in hand.joints]
        margin = [cfg.slide_margin] * 3 + [cfg.joint_margin] * (len(WRIST_JOINTS) - 3 + len(hand.joints))
        return cls(np.array(lower), np.array(upper), np.array(vel), np.array(margin))


def hand_force_on_objects(contacts: list[Contact], object_ids) -> dict[str, float]:
    """Total normal force (N) of all hand contacts on each object."""
    out = {oid: 0.0 for oid in object_ids}
    for c in contacts:
        if c.other in out:
            out[c.other] += c.normal_force
    return out


def contact_force_cost(contacts: list[Contact], scene: SceneSpec) -> float:
    forces = hand_force_on_objects(contacts, scene.object_ids())
    return float(any(forces[o.id] > o.max_contact_force for o in scene.objects))


def object_dropped_cost(objects: list[ObjectState], contacts: list[Contact], scene: SceneSpec,
                        cfg: CostConfig) -> float:
    touched = {c.other for c in contacts}
    floor_z = scene.table.height - cfg.off_table_depth
    for o in objects:
        if o.position[2] < floor_z:
            return 1.0
        if o.linear_velocity[2] < -cfg.drop_speed and o.id not in touched:
            return 1.0
    return 0.0


def table_collision_cost(contacts: list[Contact]) -> float:
    return float(any(c.other in ("table", "floor") for c in contacts))


def joint_limit_cost(position: np.ndarray, limits: LimitArrays) -> float:
    n = len(limits.lower)
    q = np.asarray(position)[:n]
    return float(np.any((q < limits.lower + limits.margin) | (q > limits.upper - limits.margin)))


def speed_limit_cost(velocity: np.ndarray, limits: LimitArrays, cfg: CostConfig) -> float:
    n = len(limits.velocity)
    return float(np.any(np.abs(np.asarray(velocity)[:n]) > cfg.speed_factor * limits.velocity))


def compute_costs(joints: JointState, objects: list[ObjectState], contacts: list[Contact], scene: SceneSpec,
                  limits: LimitArrays, cfg: CostConfig) -> dict[str, float]:
    """All channels for one state, keyed by ``CHANNELS``."""
    return {
        "contact_force": contact_force_cost(contacts, scene),
        "object_dropped": object_dropped_cost(objects, contacts, scene, cfg),
        "table_collision": table_collision_cost(contacts),
        "joint_limit": joint_limit_cost(joints.position, limits),
        "speed_limit": speed_limit_cost(joints.velocity, limits, cfg),
    }
