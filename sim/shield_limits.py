"""The safety shield's limits for a hand in a scene, read off the composed model.

Returns a plain mapping in the form ``dexsafe.policies.ShieldLimits.from_dict``
takes (so this module does not import the policies library): per commanded
joint its position range, velocity and effort limits and position gain; which
joints close which finger (the kinematic chain from the palm to each
fingertip body); the wrist's world-axis slides and the scene's workspace box.

Units (REP-103): rad, rad/s, N m for hinges; m, m/s, N for the wrist slides.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dexsafe.sim.compose import build_scene_model
from dexsafe.sim.hands import WRIST_JOINTS, HandDescription
from dexsafe.sim.scene_spec import SceneSpec


def finger_chains(scene_model) -> dict[str, tuple[list[str], list[str]]]:
    """Fingertip body -> (commanded finger joints on its chain, hand bodies on its chain),
    walking parents from the fingertip up to (excluding) the palm body."""
    m, hand = scene_model.model, scene_model.hand
    joint_of = {int(j): name for j, name in zip(scene_model.joint_ids, hand.joint_names)}
    chains = {}
    for tip_name, tip in zip(hand.fingertip_bodies, scene_model.fingertip_body_ids):
        joints, bodies, b = [], [], int(tip)
        while b > 0 and b != scene_model.palm_body_id:
            bodies.append(scene_model.body_labels[b])
            for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b]):
                if j in joint_of and joint_of[j] not in WRIST_JOINTS:
                    joints.append(joint_of[j])
            b = int(m.body_parentid[b])
        chains[tip_name] = (joints[::-1], bodies[::-1])
    return chains


def shield_limits_for(scene: SceneSpec, hand: HandDescription | str | None = None, *,
                      control_period: float = 0.01, state_timeout: float = 0.1, command_timeout: float = 0.5,
                      max_contact_force: float | None = None) -> dict:
    """ShieldLimits.from_dict input for ``hand`` (default: the scene's) in ``scene``.

    ``max_contact_force`` defaults to the smallest ``max_contact_force`` of the
    scene's objects (N): no finger may press harder than the most fragile object allows.
    """
    sm = build_scene_model(scene, hand)
    hand = sm.hand
    kp = sm.model.actuator_gainprm[sm.actuator_ids, 0]
    w = hand.wrist
    joints = {}
    for i, name in enumerate(hand.joint_names):
        if i < 3:  # wrist slides: absolute world coordinates, bounded by the workspace box
            lower, upper = scene.workspace_min[i], scene.workspace_max[i]
            joints[name] = dict(lower=lower, upper=upper, velocity=w.translation_velocity,
                                effort=w.translation_force, gain=float(kp[i]), closing=0.0)
        elif i < 6:
            joints[name] = dict(lower=w.rotation_lower[i - 3], upper=w.rotation_upper[i - 3],
                                velocity=w.rotation_velocity, effort=w.rotation_torque, gain=float(kp[i]),
                                closing=0.0)
        else:
            lim = hand.joints[i - 6]
            joints[name] = dict(lower=lim.lower, upper=lim.upper, velocity=lim.velocity, effort=lim.effort,
                                gain=float(kp[i]), closing=lim.closing)
    chains = finger_chains(sm)
    if max_contact_force is None:
        forces = [o.max_contact_force for o in scene.objects]
        max_contact_force = float(min(forces)) if forces else float("inf")
    return {
        "joint_names": list(hand.joint_names),
        "joints": joints,
        "control_period": control_period,
        "state_timeout": state_timeout,
        "command_timeout": command_timeout,
        "finger_joints": {tip: js for tip, (js, _) in chains.items() if js},
        "max_contact_force": max_contact_force,
        "wrist_joints": list(WRIST_JOINTS[:3]),
        "wrist_origin": [0.0, 0.0, 0.0],
        "workspace_lower": list(scene.workspace_min),
        "workspace_upper": list(scene.workspace_max),
    }


def finger_of_body(scene: SceneSpec, hand: HandDescription | str | None = None) -> dict[str, str]:
    """Hand body name -> the fingertip body naming its finger (for contact-force per finger)."""
    sm = build_scene_model(scene, hand)
    return {body: tip for tip, (_, bodies) in finger_chains(sm).items() for body in bodies}



@dataclass(frozen=True)
class ExecutorJoints:
    """What a grasp executor needs from the shield limits: command order, target limits, which
    way each joint closes the hand, and each finger's closing joints (indices in command order)."""

    joint_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    closing: np.ndarray
    finger_joints: dict[str, list[int]]

    @classmethod
    def from_limits(cls, limits: dict) -> ExecutorJoints:
        """From ``shield_limits_for``'s dictionary."""
        names = tuple(limits["joint_names"])
        joints = limits["joints"]
        closing = np.array([joints[n]["closing"] for n in names], dtype=float)
        fingers = {f: [names.index(j) for j in js if closing[names.index(j)]]
                   for f, js in limits["finger_joints"].items()}
        return cls(names, np.array([joints[n]["lower"] for n in names], dtype=float),
                   np.array([joints[n]["upper"] for n in names], dtype=float), closing, fingers)
