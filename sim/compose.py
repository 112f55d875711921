"""Compose one MuJoCo model from a scene file and a hand description (MjSpec API).

World layout (REP-103, metres): a floor plane at z = 0; the table top, a box
whose upper face is at ``scene.table.height``, centred on the world origin; the
objects as free bodies resting on it; two cameras (``overview``, ``top``).

The hand hangs from a 6-DoF wrist (``WRIST_JOINTS``) on a body ``hand_base``:
three slides whose positions are the world x, y, z of the flange (limits: the
scene's workspace), then roll/pitch/yaw hinges; then the fixed mount
transform of the hand description; then the hand model's ``root_body`` and its
subtree, with every name prefixed ``hand/``. Wrist and finger joints are
position-controlled. Hand bodies get gravity compensation when the
description asks for it: the (absent) arm carries the hand's weight, so the
position loop only fights contacts and payload.

Collision filtering: hand geoms have contype 2, conaffinity 1 (no hand-hand
contacts except a model's explicit ``<pair>``s); objects, table and floor have
contype 1, conaffinity 3 (they touch each other and the hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import mujoco
import numpy as np

from dexsafe.sim.geometry import rpy_to_wxyz, yaw_to_wxyz
from dexsafe.sim.hands import WRIST_JOINTS, HandDescription, HandError, load_hand
from dexsafe.sim.meshes import load_mesh
from dexsafe.sim.placement import ObjectGeometry, Placement, sample_placements
from dexsafe.sim.scene_spec import ObjectSpec, SceneError, SceneSpec

HAND_PREFIX = "hand/"
OBJECT_PREFIX = "object/"
TABLE_THICKNESS = 0.04  # m
HAND_BITS = (2, 1)  # contype, conaffinity
WORLD_BITS = (1, 3)
CAMERAS = ("overview", "top")
TABLE_COLOR = (0.62, 0.47, 0.33, 1.0)

# Child-spec settings that differ from a fresh spec and would only produce attach-conflict warnings.
_CHILD_SIZE_FIELDS = ("nuser_jnt", "nuser_site", "nuser_tendon", "nuser_actuator", "nuser_sensor",
                      "nuser_body", "nuser_geom", "nuser_cam", "njmax", "nconmax", "nstack")


def object_geometry(obj: ObjectSpec) -> ObjectGeometry:
    """Half height, footprint and bounding radius of an upright object (meshes via trimesh), m."""
    if obj.shape == "mesh":
        half = load_mesh(obj.mesh, obj.size[0]).half_extents
        return ObjectGeometry(float(half[2]), float(math.hypot(half[0], half[1])), float(np.linalg.norm(half)))
    h = obj.half_height()
    r = obj.footprint_radius()
    box_half = (obj.size[0] / 2, obj.size[1] / 2) if obj.shape == "box" else None
    return ObjectGeometry(h, r, math.hypot(r, h), box_half)


@dataclass
class SceneModel:
    """A compiled scene and the index arrays everything else uses.

    Index arrays are in command order (``hand.joint_names``); names in
    ``body_labels`` are what contacts report: a hand body's name in its own
    model file, an object id, ``table``, ``floor`` or ``world``.
    """

    model: mujoco.MjModel
    scene: SceneSpec
    hand: HandDescription
    geometry: dict[str, ObjectGeometry]
    joint_ids: np.ndarray
    qpos_adr: np.ndarray
    dof_adr: np.ndarray
    actuator_ids: np.ndarray
    passive_qpos_adr: np.ndarray
    passive_dof_adr: np.ndarray
    object_body_ids: dict[str, int]
    object_qpos_adr: dict[str, int]
    object_dof_adr: dict[str, int]
    hand_body_mask: np.ndarray
    palm_body_id: int
    fingertip_body_ids: np.ndarray
    body_labels: list[str]
    table_geom_id: int
    floor_geom_id: int
    default_placements: dict[str, Placement] = field(default_factory=dict)

    @property
    def ctrl_lower(self) -> np.ndarray:
        return self.model.actuator_ctrlrange[self.actuator_ids, 0].copy()

    @property
    def ctrl_upper(self) -> np.ndarray:
        return self.model.actuator_ctrlrange[self.actuator_ids, 1].copy()


def _look_at_quat(pos, target) -> np.ndarray:
    """Camera quaternion (w, x, y, z) looking from ``pos`` at ``target`` with world +z up."""
    fwd = np.asarray(target, float) - np.asarray(pos, float)
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:
        right = np.array([1.0, 0.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    mat = np.column_stack([right, up, -fwd]).ravel()
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat)
    return quat


def _add_environment(spec: mujoco.MjSpec, scene: SceneSpec) -> None:
    spec.add_texture(name="skybox", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, rgb1=[0.55, 0.65, 0.8], rgb2=[0.1, 0.12, 0.15],
                     width=64, height=64)
    spec.add_texture(name="floor", type=mujoco.mjtTexture.mjTEXTURE_2D, builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER,
                     rgb1=[0.3, 0.32, 0.35], rgb2=[0.22, 0.24, 0.26], width=256, height=256)
    mat = spec.add_material(name="floor", texrepeat=[6, 6], reflectance=0.05)
    mat.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = "floor"
    wb = spec.worldbody
    ct, ca = WORLD_BITS
    wb.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1], material="floor",
                contype=ct, conaffinity=ca)
    h = scene.table.height
    sx, sy = scene.table.size
    table = wb.add_body(name="table", pos=[0, 0, h - TABLE_THICKNESS / 2])
    table.add_geom(name="table_top", type=mujoco.mjtGeom.mjGEOM_BOX, size=[sx / 2, sy / 2, TABLE_THICKNESS / 2],
                   rgba=TABLE_COLOR, friction=[scene.table.friction, 0.005, 0.0001], contype=ct, conaffinity=ca)
    leg_h = (h - TABLE_THICKNESS) / 2
    for i, (lx, ly) in enumerate([(1, 1), (1, -1), (-1, 1), (-1, -1)]):
        table.add_geom(name=f"table_leg{i}", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.02, 0.02, leg_h],
                       pos=[lx * (sx / 2 - 0.04), ly * (sy / 2 - 0.04), -TABLE_THICKNESS / 2 - leg_h],
                       rgba=TABLE_COLOR, contype=0, conaffinity=0)
    wb.add_light(name="sun", pos=[0.3, -0.5, 2.5], dir=[-0.1, 0.2, -1.0], diffuse=[0.7, 0.7, 0.7],
                 specular=[0.2, 0.2, 0.2], castshadow=True)
    wb.add_light(name="fill", pos=[-1.0, 1.0, 2.0], dir=[0.4, -0.4, -1.0], diffuse=[0.3, 0.3, 0.3], castshadow=False)
    over_pos = [0.75, -0.75, h + 0.55]
    wb.add_camera(name="overview", pos=over_pos, quat=_look_at_quat(over_pos, [0.0, 0.0, h + 0.08]), fovy=50)
    wb.add_camera(name="top", pos=[0.0, 0.0, h + 1.0], quat=[1, 0, 0, 0], fovy=45)


def _load_hand_spec(hand: HandDescription) -> mujoco.MjSpec:
    try:
        child = mujoco.MjSpec.from_file(str(hand.model))
    except Exception as exc:
        raise HandError(f"hand {hand.name!r}: model {hand.model} does not load: {exc}") from exc
    for f in _CHILD_SIZE_FIELDS:
        setattr(child, f, -1)
    child.option.iterations = 100  # a fresh spec's default; the scene sets its own solver options
    return child


def _add_wrist(spec: mujoco.MjSpec, scene: SceneSpec, hand: HandDescription):
    w = hand.wrist
    centre = 0.5 * (np.array(scene.workspace_min) + np.array(scene.workspace_max))
    base = spec.worldbody.add_body(name="hand_base", pos=centre, mass=0.3, inertia=[1e-3, 1e-3, 1e-3],
                                   gravcomp=1.0 if hand.gravity_compensation else 0.0)
    for i, (jname, axis) in enumerate(zip(WRIST_JOINTS[:3], np.eye(3))):
        base.add_joint(name=jname, type=mujoco.mjtJoint.mjJNT_SLIDE, axis=axis, ref=centre[i],
                       range=[scene.workspace_min[i], scene.workspace_max[i]], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                       damping=w.translation_damping, armature=0.05)
    for i, (jname, axis) in enumerate(zip(WRIST_JOINTS[3:], np.eye(3))):
        base.add_joint(name=jname, type=mujoco.mjtJoint.mjJNT_HINGE, axis=axis,
                       range=[w.rotation_lower[i], w.rotation_upper[i]], limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                       damping=w.rotation_damping, armature=0.01)
    for i, jname in enumerate(WRIST_JOINTS):
        kp, force = (w.translation_kp, w.translation_force) if i < 3 else (w.rotation_kp, w.rotation_torque)
        if i < 3:
            rng = [scene.workspace_min[i], scene.workspace_max[i]]
        else:
            rng = [w.rotation_lower[i - 3], w.rotation_upper[i - 3]]
        act = spec.add_actuator(name=jname, target=jname, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp)
        act.ctrlrange = rng
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-force, force]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    return base


def _attach_hand(spec: mujoco.MjSpec, base, hand: HandDescription) -> None:
    child = _load_hand_spec(hand)
    root = child.body(hand.root_body)
    if root is None:
        raise HandError(f"hand {hand.name!r}: root_body {hand.root_body!r} is not a body of {hand.model}")
    root.pos = [0.0, 0.0, 0.0]
    root.quat = [1.0, 0.0, 0.0, 0.0]
    frame = base.add_frame(pos=hand.wrist.mount_xyz, quat=rpy_to_wxyz(hand.wrist.mount_rpy))
    frame.attach_body(root, HAND_PREFIX, "")
    # Actuators for joints the model file does not drive (URDF hands): position servos from the description.
    have = {a.name for a in spec.actuators}
    for j in hand.joints:
        full = HAND_PREFIX + (j.actuator or j.name)
        if full in have:
            continue
        if spec.joint(HAND_PREFIX + j.name) is None:
            raise HandError(f"hand {hand.name!r}: joint {j.name!r} is not in {hand.model}")
        act = spec.add_actuator(name=HAND_PREFIX + j.name, target=HAND_PREFIX + j.name,
                                trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=hand.default_kp)
        act.ctrlrange = [j.lower, j.upper]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = [-j.effort, j.effort]
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for body in spec.bodies:
        if body.name.startswith(HAND_PREFIX):
            if hand.gravity_compensation:
                body.gravcomp = 1.0
            for geom in body.geoms:
                if geom.contype or geom.conaffinity:
                    geom.contype, geom.conaffinity = HAND_BITS


def _add_object(spec: mujoco.MjSpec, obj: ObjectSpec, geo: ObjectGeometry, place: Placement, table_h: float) -> None:
    ct, ca = WORLD_BITS
    pos = [place.x, place.y, table_h + geo.half_height]
    body = spec.worldbody.add_body(name=OBJECT_PREFIX + obj.id, pos=pos, quat=yaw_to_wxyz(place.yaw))
    body.add_freejoint(name=OBJECT_PREFIX + obj.id)
    common = dict(rgba=obj.color, friction=[obj.friction, 0.005, 0.0001], condim=4, contype=ct, conaffinity=ca,
                  mass=obj.mass)
    G = mujoco.mjtGeom
    if obj.shape == "box":
        body.add_geom(name=OBJECT_PREFIX + obj.id, type=G.mjGEOM_BOX, size=[s / 2 for s in obj.size], **common)
    elif obj.shape == "cylinder":
        body.add_geom(name=OBJECT_PREFIX + obj.id, type=G.mjGEOM_CYLINDER, size=[obj.size[0], obj.size[1] / 2],
                      **common)
    elif obj.shape == "sphere":
        body.add_geom(name=OBJECT_PREFIX + obj.id, type=G.mjGEOM_SPHERE, size=[obj.size[0], 0, 0], **common)
    elif obj.shape == "capsule":
        body.add_geom(name=OBJECT_PREFIX + obj.id, type=G.mjGEOM_CAPSULE, size=[obj.size[0], obj.size[1] / 2],
                      **common)
    elif obj.shape == "mesh":
        mesh = load_mesh(obj.mesh, obj.size[0])
        spec.add_mesh(name=obj.id, uservert=mesh.vertices.ravel().tolist(), userface=mesh.faces.ravel().tolist(),
                      inertia=mujoco.mjtMeshInertia.mjMESH_INERTIA_CONVEX)
        body.add_geom(name=OBJECT_PREFIX + obj.id, type=G.mjGEOM_MESH, meshname=obj.id, **common)
    else:  # scene_spec validates shapes; this guards against a new shape added there only
        raise SceneError(f"object {obj.id!r}: shape {obj.shape!r} is not supported by the MuJoCo composer")


def build_spec(scene: SceneSpec, hand: HandDescription, placements: dict[str, Placement],
               geometry: dict[str, ObjectGeometry], timestep: float = 0.002) -> mujoco.MjSpec:
    """The scene as an (uncompiled) ``MjSpec``; see the module docstring for the layout."""
    spec = mujoco.MjSpec()
    spec.modelname = f"{scene.name}__{hand.name}"
    spec.compiler.degree = False
    spec.option.timestep = timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.impratio = 10.0
    spec.visual.global_.offwidth = 1920
    spec.visual.global_.offheight = 1080
    spec.visual.quality.shadowsize = 2048
    spec.stat.center = [0.0, 0.0, scene.table.height]
    spec.stat.extent = 1.0
    _add_environment(spec, scene)
    base = _add_wrist(spec, scene, hand)
    _attach_hand(spec, base, hand)
    for obj in scene.objects:
        _add_object(spec, obj, geometry[obj.id], placements[obj.id], scene.table.height)
    return spec


def _index(model: mujoco.MjModel, kind, name: str, what: str) -> int:
    idx = mujoco.mj_name2id(model, kind, name)
    if idx < 0:
        raise HandError(f"{what} {name!r} not found in the composed model")
    return idx


def build_scene_model(scene: SceneSpec, hand: HandDescription | str | None = None,
                      timestep: float = 0.002) -> SceneModel:
    """Compile ``scene`` with ``hand`` (default: the scene's hand) into a ``SceneModel``.

    Objects start at the poses sampled for ``scene.seed`` (not yet settled).
    Raises ``SceneError`` / ``HandError`` with what is wrong.
    """
    if not (timestep > 0 and math.isfinite(timestep)):
        raise ValueError(f"timestep must be a positive number of seconds, got {timestep!r}")
    if hand is None or isinstance(hand, str):
        hand = load_hand(hand or scene.hand)
    geometry = {o.id: object_geometry(o) for o in scene.objects}
    placements = sample_placements(scene, geometry, scene.seed)
    spec = build_spec(scene, hand, placements, geometry, timestep)
    try:
        model = spec.compile()
    except ValueError as exc:
        raise SceneError(f"scene {scene.name!r} with hand {hand.name!r} does not compile: {exc}") from exc
    J, B, A, G = (mujoco.mjtObj.mjOBJ_JOINT, mujoco.mjtObj.mjOBJ_BODY, mujoco.mjtObj.mjOBJ_ACTUATOR,
                  mujoco.mjtObj.mjOBJ_GEOM)
    full = lambda n: n if n in WRIST_JOINTS else HAND_PREFIX + n  # noqa: E731
    joint_ids = np.array([_index(model, J, full(n), "joint") for n in hand.joint_names])
    act_names = list(WRIST_JOINTS) + [HAND_PREFIX + (j.actuator or j.name) for j in hand.joints]
    actuator_ids = np.array([_index(model, A, n, "actuator") for n in act_names])
    for a, j, name in zip(actuator_ids, joint_ids, hand.joint_names):
        if model.actuator_trnid[a, 0] != j:
            raise HandError(f"hand {hand.name!r}: actuator of joint {name!r} drives another joint")
    passive = np.array([_index(model, J, HAND_PREFIX + n, "joint") for n in hand.passive_joints], dtype=int)
    labels = []
    hand_mask = np.zeros(model.nbody, dtype=bool)
    for b in range(model.nbody):
        name = model.body(b).name
        if name.startswith(HAND_PREFIX):
            labels.append(name[len(HAND_PREFIX):])
            hand_mask[b] = True
        elif name == "hand_base":
            labels.append(name)
            hand_mask[b] = True
        elif name.startswith(OBJECT_PREFIX):
            labels.append(name[len(OBJECT_PREFIX):])
        else:
            labels.append(name or "world")
    obj_ids = {o.id: _index(model, B, OBJECT_PREFIX + o.id, "object body") for o in scene.objects}
    obj_jnt = {o.id: _index(model, J, OBJECT_PREFIX + o.id, "object joint") for o in scene.objects}
    return SceneModel(
        model=model,
        scene=scene,
        hand=hand,
        geometry=geometry,
        joint_ids=joint_ids,
        qpos_adr=model.jnt_qposadr[joint_ids].copy(),
        dof_adr=model.jnt_dofadr[joint_ids].copy(),
        actuator_ids=actuator_ids,
        passive_qpos_adr=model.jnt_qposadr[passive].copy() if len(passive) else np.zeros(0, dtype=int),
        passive_dof_adr=model.jnt_dofadr[passive].copy() if len(passive) else np.zeros(0, dtype=int),
        object_body_ids=obj_ids,
        object_qpos_adr={k: int(model.jnt_qposadr[v]) for k, v in obj_jnt.items()},
        object_dof_adr={k: int(model.jnt_dofadr[v]) for k, v in obj_jnt.items()},
        hand_body_mask=hand_mask,
        palm_body_id=_index(model, B, HAND_PREFIX + hand.palm_body, "palm body"),
        fingertip_body_ids=np.array([_index(model, B, HAND_PREFIX + n, "fingertip body")
                                     for n in hand.fingertip_bodies]),
        body_labels=labels,
        table_geom_id=_index(model, G, "table_top", "geom"),
        floor_geom_id=_index(model, G, "floor", "geom"),
        default_placements=placements,
    )
