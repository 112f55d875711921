"""Generate the dexsafe hand: ``dexsafe_hand.xml`` (MJCF) and its URDF twin.

Run from anywhere: ``python urdf/make_dexsafe_hand.py``. Both files are written
next to this script, and the hand description ``config/hands/dexsafe_hand.yaml``
next to them, from the one table of parameters below, so the MJCF that MuJoCo
simulates, the URDF that robot_state_publisher reads and the limits the safety
code checks cannot drift.

Hand frame (``palm`` body, REP-103 units): origin at the wrist flange, +z along
the fingers, +x out of the palm (the side that grasps), thumb on the -y side
(a right hand). Every finger curls towards +x: its flexion joints turn about
the link's local +y axis. Dimensions follow the Wonik Allegro hand (finger
pitch 43.5 mm, link lengths 54/38.4/26.7 mm, 19.6 mm wide links); masses are
those of a ~1 kg four-finger hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
NAME = "dexsafe_hand"

# --- parameters -------------------------------------------------------------
PALM_HALF = (0.0204, 0.0560, 0.0550)  # half extents of the palm box, m (x thickness, y width, z length)
PALM_MASS = 0.40  # kg
LINK_RADIUS = 0.0098  # capsule radius of finger links, m
TIP_RADIUS = 0.0120  # fingertip sphere radius, m
FINGER_KP = 3.0  # position gain, N m / rad
FINGER_EFFORT = 0.70  # actuator torque limit, N m (Allegro motors: ~0.7 N m)
THUMB_BASE_EFFORT = 1.00  # N m, the thumb's two base joints
THUMB_FLEX_EFFORT = 1.40  # N m, the thumb's flexion joints: it opposes three fingers
THUMB_ROOT = (0.0, -0.035, 0.0)  # thumb rotation axis on the palm, m (heel, index side)
THUMB_TILT = 0.0  # rad the un-rotated thumb points up (towards the fingers) from straight sideways
FINGER_VELOCITY = 6.0  # rad/s, joint speed limit (for the safety limits in the description file)
JOINT_DAMPING = 0.10  # N m s / rad
JOINT_ARMATURE = 0.005  # kg m^2, reflected motor inertia
LINK_DENSITY_MASS = {"knuckle": 0.010, "proximal": 0.045, "middle": 0.030, "distal": 0.025}


@dataclass(frozen=True)
class Link:
    """One revolute joint and the link it moves.

    ``offset`` is the joint's position in the parent link frame (m); ``axis``
    its axis in its own link frame; ``length`` how far the link extends along
    its local +z (m); ``rpy`` a fixed rotation of the link frame (URDF
    roll-pitch-yaw, fixed axes X-Y-Z, rad).
    """

    name: str
    offset: tuple[float, float, float]
    axis: tuple[float, float, float]
    limit: tuple[float, float]
    length: float
    mass: float
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    effort: float = FINGER_EFFORT
    tip: bool = False


def finger(prefix: str, y: float, z: float) -> list[Link]:
    """An Allegro-like finger: abduction, then three flexion joints."""
    m = LINK_DENSITY_MASS
    return [
        Link(f"{prefix}_knuckle", (0.0, y, z), (1, 0, 0), (-0.47, 0.47), 0.0164, m["knuckle"]),
        Link(f"{prefix}_proximal", (0.0, 0.0, 0.0164), (0, 1, 0), (-0.196, 1.61), 0.054, m["proximal"]),
        Link(f"{prefix}_middle", (0.0, 0.0, 0.054), (0, 1, 0), (-0.174, 1.709), 0.0384, m["middle"]),
        Link(f"{prefix}_distal", (0.0, 0.0, 0.0384), (0, 1, 0), (-0.227, 1.618), 0.0267, m["distal"], tip=True),
    ]


def _rpy_matrix(rpy) -> np.ndarray:
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, math.cos(r), -math.sin(r)], [0, math.sin(r), math.cos(r)]])
    ry = np.array([[math.cos(p), 0, math.sin(p)], [0, 1, 0], [-math.sin(p), 0, math.cos(p)]])
    rz = np.array([[math.cos(y), -math.sin(y), 0], [math.sin(y), math.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _rpy_from_matrix(r: np.ndarray) -> tuple[float, float, float]:
    """URDF rpy (R = Rz(yaw) Ry(pitch) Rx(roll)) of a rotation matrix, gimbal lock included."""
    if abs(r[2, 0]) > 1 - 1e-9:  # pitch = -+pi/2: only roll - +yaw is defined; take yaw = 0
        pitch = -math.copysign(math.pi / 2, r[2, 0])
        roll = math.atan2(-r[0, 1], r[1, 1])
        out = (roll, pitch, 0.0)
    else:
        out = (math.atan2(r[2, 1], r[2, 2]), math.asin(-r[2, 0]), math.atan2(r[1, 0], r[0, 0]))
    assert np.allclose(_rpy_matrix(out), r, atol=1e-9), "rpy extraction failed"
    return out


def thumb() -> list[Link]:
    """The opposable thumb, mounted at the heel of the palm on the -y side.

    ``thumb_rotation`` turns the whole thumb about the palm's long axis (+z):
    at 0 it lies in the palm plane pointing out sideways (-y, tilted
    ``THUMB_TILT`` towards the fingers); at pi/2 it points straight out of the
    palm (+x) and opposes the curled fingers; beyond, it swings under the palm.
    ``thumb_abduction`` tilts it towards/away from the palm; the two flexion
    joints curl it towards the fingertips.
    """
    phi = THUMB_TILT
    # Columns: local x (curl direction), local y (flexion axis), local z (thumb direction).
    x_l = np.array([0.0, math.sin(phi), math.cos(phi)])
    z_l = np.array([0.0, -math.cos(phi), math.sin(phi)])
    y_l = np.cross(z_l, x_l)
    tilt = _rpy_from_matrix(np.column_stack([x_l, y_l, z_l]))
    m = LINK_DENSITY_MASS
    return [
        Link("thumb_rotation", THUMB_ROOT, (0, 0, 1), (0.0, 1.90), 0.0, m["knuckle"],
             effort=THUMB_BASE_EFFORT),
        # The thumb's own frame: fixed tilt, then abduction about the local x axis.
        Link("thumb_abduction", (0.0, -0.012, 0.0), (1, 0, 0), (-0.30, 0.90), 0.0177, m["knuckle"], rpy=tilt,
             effort=THUMB_BASE_EFFORT),
        Link("thumb_proximal", (0.0, 0.0, 0.0177), (0, 1, 0), (-0.19, 1.44), 0.0514, m["proximal"],
             effort=THUMB_FLEX_EFFORT),
        Link("thumb_distal", (0.0, 0.0, 0.0514), (0, 1, 0), (-0.16, 1.72), 0.0423, m["distal"], tip=True,
             effort=THUMB_FLEX_EFFORT),
    ]


FINGERS = {
    "index": finger("index", -0.0435, 0.1100),
    "middle": finger("middle", 0.0, 0.1140),
    "ring": finger("ring", 0.0435, 0.1100),
    "thumb": thumb(),
}


# --- inertia of primitives ----------------------------------------------------
def capsule_inertia(mass: float, radius: float, length: float) -> tuple[float, float, float]:
    """Diagonal inertia (about the centre) of a solid cylinder of the capsule's size, kg m^2.

    A cylinder of length ``length + 2 r`` approximates the capsule within ~10 %,
    which is what a motor-driven link's nominal inertia is good to anyway.
    """
    h = max(length, 1e-3) + 2 * radius
    ixx = mass * (3 * radius**2 + h**2) / 12
    izz = mass * radius**2 / 2
    return (ixx, ixx, izz)


def box_inertia(mass: float, half: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = (2 * h for h in half)
    return (mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12)


def _f(v) -> str:
    return " ".join(f"{x:.6g}" for x in v)


# --- MJCF -------------------------------------------------------------------
def mjcf() -> str:
    lines = [
        f'<mujoco model="{NAME}">',
        "  <!-- Generated by make_dexsafe_hand.py; edit the parameters there, not this file. -->",
        '  <compiler angle="radian" eulerseq="XYZ" autolimits="true"/>',
        '  <option integrator="implicitfast"/>',
        "  <default>",
        '    <default class="dexsafe_hand">',
        f'      <joint type="hinge" damping="{JOINT_DAMPING}" armature="{JOINT_ARMATURE}" frictionloss="0.001"/>',
        f'      <position kp="{FINGER_KP}"/>',
        '      <geom type="capsule" condim="4" friction="1.0 0.01 0.0002" solref="0.004 1"'
        ' rgba="0.15 0.15 0.17 1" contype="2" conaffinity="1" priority="1"/>',
        '      <default class="fingertip">',
        '        <geom type="sphere" rgba="0.85 0.85 0.82 1" condim="6" friction="1.2 0.02 0.0005"/>',
        "      </default>",
        "    </default>",
        "  </default>",
        "  <worldbody>",
        '    <body name="palm" childclass="dexsafe_hand">',
        f'      <inertial pos="0 0 {PALM_HALF[2]:.6g}" mass="{PALM_MASS}"'
        f' diaginertia="{_f(box_inertia(PALM_MASS, PALM_HALF))}"/>',
        f'      <geom name="palm" type="box" pos="0 0 {PALM_HALF[2]:.6g}" size="{_f(PALM_HALF)}"'
        ' rgba="0.2 0.22 0.25 1"/>',
        f'      <site name="palm_center" pos="{PALM_HALF[0]:.6g} 0 {PALM_HALF[2]:.6g}" size="0.005" rgba="1 0 0 0.5"/>',
    ]
    actuators = []
    for fname, links in FINGERS.items():
        depth = 3
        for link in links:
            ind = "  " * depth
            rpy = f' euler="{_f(link.rpy)}"' if any(link.rpy) else ""
            lines.append(f'{ind}<body name="{link.name}" pos="{_f(link.offset)}"{rpy}>')
            inertia = capsule_inertia(link.mass, LINK_RADIUS, link.length)
            lines.append(f'{ind}  <inertial pos="0 0 {link.length / 2:.6g}" mass="{link.mass}"'
                         f' diaginertia="{_f(inertia)}"/>')
            joint = f"{link.name}_joint"
            lines.append(f'{ind}  <joint name="{joint}" axis="{_f(link.axis)}" range="{_f(link.limit)}"/>')
            if link.length > 0:
                lines.append(f'{ind}  <geom name="{link.name}" fromto="0 0 0 0 0 {link.length:.6g}"'
                             f' size="{LINK_RADIUS}"/>')
            if link.tip:
                lines.append(f'{ind}  <geom name="{fname}_tip" class="fingertip" pos="0 0 {link.length:.6g}"'
                             f' size="{TIP_RADIUS}"/>')
                lines.append(f'{ind}  <site name="{fname}_tip" pos="0 0 {link.length + TIP_RADIUS:.6g}" size="0.004"/>')
            actuators.append(
                f'    <position name="{joint}" joint="{joint}" class="dexsafe_hand" ctrlrange="{_f(link.limit)}"'
                f' forcerange="{-link.effort:.6g} {link.effort:.6g}"/>'
            )
            depth += 1
        for d in range(depth - 1, 2, -1):
            lines.append("  " * d + "</body>")
    lines += ["    </body>", "  </worldbody>", "  <actuator>", *actuators, "  </actuator>", "</mujoco>", ""]
    return "\n".join(lines)


# --- URDF -------------------------------------------------------------------
WRIST_MOUNT_RPY = (0.0, 1.5708, 0.0)  # hand_base -> palm, as `wrist.mount` in the hand description
WRIST_SLIDE_LIMIT = 2.0  # m, URDF limits of the wrist slides (the simulator uses the scene's workspace)


def wrist_chain() -> list[str]:
    """URDF links and joints world -> hand_base -> palm: the 6-DoF wrist dexsafe adds in simulation.

    Slides along world x, y, z (joint value = world coordinate of the flange, m), then roll, pitch,
    yaw hinges about the turning frame's axes (rad), like the composed MuJoCo model.
    """
    out = ['  <link name="world"/>']
    chain = [("wrist_x", "prismatic", "1 0 0"), ("wrist_y", "prismatic", "0 1 0"), ("wrist_z", "prismatic", "0 0 1"),
             ("wrist_roll", "revolute", "1 0 0"), ("wrist_pitch", "revolute", "0 1 0"),
             ("wrist_yaw", "revolute", "0 0 1")]
    parent = "world"
    for name, kind, axis in chain:
        child = "hand_base" if name == "wrist_yaw" else f"{name}_link"
        lim = WRIST_SLIDE_LIMIT if kind == "prismatic" else math.pi
        vel = 0.5 if kind == "prismatic" else 2.0
        eff = 150.0 if kind == "prismatic" else 20.0
        out.append(f'  <link name="{child}"/>')
        out.append(f'  <joint name="{name}" type="{kind}"><parent link="{parent}"/><child link="{child}"/>'
                   f'<axis xyz="{axis}"/><limit lower="{-lim:.6g}" upper="{lim:.6g}" velocity="{vel}" effort="{eff}"/>'
                   "</joint>")
        parent = child
    out.append(f'  <joint name="hand_mount" type="fixed"><parent link="hand_base"/><child link="palm"/>'
               f'<origin xyz="0 0 0" rpy="{_f(WRIST_MOUNT_RPY)}"/></joint>')
    return out


def urdf(with_wrist: bool = False) -> str:
    name = f"{NAME}_on_wrist" if with_wrist else NAME
    what = "with dexsafe's 6-DoF wrist (world -> hand_base -> palm)" if with_wrist else "the hand alone"
    out = [
        '<?xml version="1.0"?>',
        f"<!-- Generated by make_dexsafe_hand.py: the kinematic twin of dexsafe_hand.xml, {what}. -->",
        f'<robot name="{name}">',
        '  <material name="dark"><color rgba="0.15 0.15 0.17 1"/></material>',
        '  <material name="tip"><color rgba="0.85 0.85 0.82 1"/></material>',
        '  <link name="palm">',
        f'    <inertial><origin xyz="0 0 {PALM_HALF[2]:.6g}"/><mass value="{PALM_MASS}"/>'
        + '<inertia ixx="{:.6g}" iyy="{:.6g}" izz="{:.6g}" ixy="0" ixz="0" iyz="0"/></inertial>'.format(
            *box_inertia(PALM_MASS, PALM_HALF)),
    ]
    box = f'<geometry><box size="{_f([2 * h for h in PALM_HALF])}"/></geometry>'
    out += [f'    <visual><origin xyz="0 0 {PALM_HALF[2]:.6g}"/>{box}<material name="dark"/></visual>',
            f'    <collision><origin xyz="0 0 {PALM_HALF[2]:.6g}"/>{box}</collision>', "  </link>"]
    for fname, links in FINGERS.items():
        parent = "palm"
        for link in links:
            ixx, iyy, izz = capsule_inertia(link.mass, LINK_RADIUS, link.length)
            out.append(f'  <link name="{link.name}">')
            out.append(f'    <inertial><origin xyz="0 0 {link.length / 2:.6g}"/><mass value="{link.mass}"/>'
                       f'<inertia ixx="{ixx:.6g}" iyy="{iyy:.6g}" izz="{izz:.6g}" ixy="0" ixz="0" iyz="0"/></inertial>')
            if link.length > 0:
                cyl = f'<geometry><cylinder radius="{LINK_RADIUS}" length="{link.length:.6g}"/></geometry>'
                org = f'<origin xyz="0 0 {link.length / 2:.6g}"/>'
                out.append(f'    <visual>{org}{cyl}<material name="dark"/></visual>')
                out.append(f"    <collision>{org}{cyl}</collision>")
            if link.tip:
                sph = f'<geometry><sphere radius="{TIP_RADIUS}"/></geometry>'
                org = f'<origin xyz="0 0 {link.length:.6g}"/>'
                out.append(f'    <visual>{org}{sph}<material name="tip"/></visual>')
                out.append(f"    <collision>{org}{sph}</collision>")
            out.append("  </link>")
            out.append(f'  <joint name="{link.name}_joint" type="revolute">')
            out.append(f'    <parent link="{parent}"/><child link="{link.name}"/>')
            out.append(f'    <origin xyz="{_f(link.offset)}" rpy="{_f(link.rpy)}"/><axis xyz="{_f(link.axis)}"/>')
            out.append(f'    <limit lower="{link.limit[0]:.6g}" upper="{link.limit[1]:.6g}" effort="{link.effort:.6g}"'
                       f' velocity="{FINGER_VELOCITY:.6g}"/>')
            out.append(f'    <dynamics damping="{JOINT_DAMPING}" friction="0.001"/>')
            out.append("  </joint>")
            parent = link.name
        tip = f"{fname}_tip"
        out.append(f'  <link name="{tip}"/>')
        out.append(f'  <joint name="{tip}_fixed" type="fixed"><parent link="{parent}"/><child link="{tip}"/>'
                   f'<origin xyz="0 0 {links[-1].length + TIP_RADIUS:.6g}"/></joint>')
    if with_wrist:
        out += wrist_chain()
    out += ["</robot>", ""]
    return "\n".join(out)


# --- hand description (config/hands/dexsafe_hand.yaml) ---------------------------
OPEN_POSTURE = {  # finger joints not listed: 0
    "thumb_rotation_joint": 1.2,  # thumb under the palm, opposing the fingers
    "thumb_abduction_joint": 0.2,
    "index_proximal_joint": 0.1,
    "middle_proximal_joint": 0.1,
    "ring_proximal_joint": 0.1,
    "thumb_proximal_joint": 0.1,
}


# Joints that do not close the hand around an object (abduction, thumb opposition).
NON_CLOSING = ("_knuckle", "thumb_rotation", "thumb_abduction")


def description() -> str:
    tips = [links[-1].name for links in FINGERS.values()]
    joints = [
        f"  - {{name: {link.name}_joint, actuator: {link.name}_joint, lower: {link.limit[0]:.6g}, "
        f"upper: {link.limit[1]:.6g}, velocity: {FINGER_VELOCITY:.6g}, effort: {link.effort:.6g}"
        + (", closing: 0}" if link.name.endswith(NON_CLOSING) else "}")
        for links in FINGERS.values() for link in links
    ]
    posture = [f"  {k}: {v}" for k, v in OPEN_POSTURE.items()]
    return "\n".join([
        "# The project's own four-finger hand (urdf/dexsafe_hand.xml). GENERATED by urdf/make_dexsafe_hand.py",
        "# together with the model: edit the parameters there. Format: see dexsafe.sim.hands.",
        "# Units: rad, rad/s, N m (fingers); m, m/s, N (wrist slides).",
        "# Command order of /hand_controller/commands: wrist_x, wrist_y, wrist_z, wrist_roll, wrist_pitch,",
        "# wrist_yaw (added by dexsafe when it composes a scene), then `joints` below in this order.",
        f"name: {NAME}",
        'description: "Allegro-sized 16-DoF hand: index, middle, ring and an opposable thumb; primitive collision."',
        f"model: ../../urdf/{NAME}.xml",
        "root_body: palm",
        "palm_body: palm",
        f"palm_center: [{PALM_HALF[0]:.6g}, 0.0, {PALM_HALF[2]:.6g}]   # centre of the palm's grasping face, "
        "palm frame, m",
        f"fingertip_bodies: [{', '.join(tips)}]",
        "gravity_compensation: true",
        "wrist:",
        "  # hand_base -> palm: the fingers (palm +z) point along world +x and the palm (+x) faces down.",
        f"  mount: {{xyz: [0.0, 0.0, 0.0], rpy: [{', '.join(f'{a:.6g}' for a in WRIST_MOUNT_RPY)}]}}",
        "  translation: {kp: 2000.0, damping: 120.0, force: 150.0, velocity: 0.5}",
        "  rotation: {kp: 60.0, damping: 2.0, torque: 20.0, velocity: 2.0,",
        "             lower: [-1.6, -1.6, -3.1], upper: [1.6, 1.6, 3.1]}",
        "joints:",
        *joints,
        "passive_joints: []",
        "open_posture:",
        *posture,
        "",
    ])


def main() -> None:
    (HERE / f"{NAME}.xml").write_text(mjcf())
    (HERE / f"{NAME}.urdf").write_text(urdf())
    (HERE / f"{NAME}_on_wrist.urdf").write_text(urdf(with_wrist=True))
    desc = HERE.parent / "config" / "hands" / f"{NAME}.yaml"
    desc.write_text(description())
    print(f"wrote {HERE / (NAME + '.xml')}, {HERE / (NAME + '.urdf')}, {HERE / (NAME + '_on_wrist.urdf')} "
          f"and {desc}")


if __name__ == "__main__":
    main()
