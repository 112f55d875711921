"""A differentiable hand built from the hand's MuJoCo model: batched FK, contacts, surface points.

Nothing here is hand-specific: ``HandModel(hand)`` composes the hand on dexsafe's wrist with
``dexsafe.sim.compose`` (an empty scene), reads the kinematic tree (body offsets, joint axes,
anchors and ranges) and the collision geoms (sphere, capsule, cylinder, box, mesh) from the
compiled ``MjModel``, and generates from that geometry

- **contact candidates**: small square patches (``patch_size`` m across) on the collision
  surfaces, ``contact_density`` per m^2, on the palmar side of each link (see
  ``palmar_direction``) and on the palm face nearest ``palm_center``. A contact is a convex
  combination of a patch's four corners, ``x = sum_c softmax(w)_c v_c`` (MultiGrasp's quads),
  so it slides inside its patch when the logits ``w`` change;
- **penetration spheres**: the collision geoms swept by spheres (along each capsule/cylinder
  axis and on a grid in each box's mid-plane, at most ``PEN_SPHERE_SPACING`` radii apart, with
  the geom's radius or half-thickness, plus a shell of ``BOX_EDGE_RADIUS`` spheres that keeps box
  edges, and radius-0 points along each box edge, which the spheres round off; sphere geoms as
  they are). A sphere ``(c, r)`` reaches
  ``r - phi(c)`` into an object, so the depth of a link in an object is measured wherever the
  object touches it (sparse surface points miss an object edge pressed between them). Mesh
  geoms fall back to their surface points (``r = 0``);
- **surface points** (``surface_density`` per m^2): MultiGrasp's penetration points (energy
  option ``penetration: surface``) and what the node draws;
- **self-penetration keypoints**: spheres along each capsule/cylinder axis, at sphere centres
  and on a grid inside boxes, with the geom's radius; pairs on the same link, on adjacent
  links, or overlapping in the open or zero posture are excluded.

Configuration vector (per sample, MultiGrasp's ``q``)::

    q = [t (3), r6 (6), theta (J)]

``t``: position of ``hand_base`` (the wrist flange) in ``world``, m; ``r6``: the first two
columns of its rotation ``R`` (``dexsafe.grasping.rotation``); ``theta``: the hand's joints
in ``joint_names`` order: the description's commanded finger joints, then its passive joints
(rad, or m for slides). ``hand_base`` at ``R = I`` is the wrist at roll = pitch = yaw = 0: for
dexsafe's hand files, fingers along world +x and palm facing down.

Forward kinematics follows MuJoCo: body ``i`` with parent ``p`` has
``R_i = R_p Q_i``, ``x_i = x_p + R_p b_i`` (``b_i``, ``Q_i``: ``body_pos``/``body_quat``),
then each of its joints in order: a hinge with axis ``a`` and anchor ``c`` (body frame)
rotates the frame about the anchor, ``R_i <- R_i Rot(a, theta)``,
``x_i <- x_i + (R_i^old - R_i^new) c``; a slide moves it, ``x_i <- x_i + R_i a theta``.
``tests/grasping`` checks it against ``mj_kinematics`` at random configurations.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from dataclasses import dataclass

import mujoco
import numpy as np
import torch

from dexsafe.grasping.object_sdf import fibonacci_sphere
from dexsafe.grasping.rotation import rot6d_to_matrix
from dexsafe.sim.compose import HAND_PREFIX, SceneModel, build_scene_model
from dexsafe.sim.hands import HandDescription, load_hand
from dexsafe.sim.scene_spec import SceneSpec

MIN_GEOM_SIZE = 0.002  # m; collision geoms smaller than this (placeholders) are ignored
BOX_EDGE_RADIUS = 0.008  # m: small spheres near box edges: alone, an edge would read up to rho (sqrt 2 - 1) = 3.3 mm
                         # shallow, a corner 5.9 mm; the edge points below read edges and corners exactly
BOX_EDGE_POINT_SPACING = 0.004  # m: points on box edges (radius-0 spheres); a convex object of radius R pressed on
                                # an edge between two reads at most spacing^2 / (8 R) shallow (0.1 mm at R = 2 cm)
PEN_SPHERE_SPACING = 0.5  # penetration spheres at most this many radii apart: the swept surface dips at most
                          # r (1 - sqrt(1 - 0.5^2 / 4)) = 0.03 r between two (0.3 mm on a 1 cm finger)
G = mujoco.mjtGeom


class HandModelError(ValueError):
    """A hand whose model cannot be turned into a differentiable hand; the message says why."""


@dataclass(frozen=True)
class _Joint:
    var: int  # index into theta
    kind: int  # mjtJoint
    axis: np.ndarray
    anchor: np.ndarray


@dataclass(frozen=True)
class _Body:
    name: str  # label without the ``hand/`` prefix (``hand_base`` for the root)
    parent: int  # index into HandModel.bodies, -1 for hand_base
    pos: np.ndarray
    rot: np.ndarray
    joints: tuple[_Joint, ...]


def _tensors_to(obj, device: torch.device):
    """A copy of the dataclass ``obj`` with its tensor fields (and those of nested tuples) on ``device``."""
    def move(v):
        if isinstance(v, torch.Tensor):
            return v.to(device)
        if isinstance(v, tuple):
            return tuple(move(x) for x in v)
        return v
    return dataclasses.replace(obj, **{f.name: move(getattr(obj, f.name)) for f in dataclasses.fields(obj)})


@dataclass(frozen=True)
class _FKSlot:
    """The ``s``-th joint of every body of one tree depth (bodies without one: angle 0, K = 0, no slide)."""
    hinge_var: torch.Tensor  # (n,) index into theta, J = none
    hinge_k: torch.Tensor | None  # (n, 3, 3) [a]x of the hinge axis, zeros for none; None: no hinge here
    hinge_k2: torch.Tensor | None  # (n, 3, 3) its square
    anchor: torch.Tensor | None  # (n, 3) hinge anchors in the body frame, m; None: all at the origin
    slide_var: torch.Tensor  # (n,) index into theta, J = none
    slide_axis: torch.Tensor | None  # (n, 3), zeros for none; None: no slide here


@dataclass(frozen=True)
class _FKLevel:
    """The bodies of one tree depth: their parents' places in the level above, body offsets, joints."""
    parent: torch.Tensor  # (n,) index into the previous level
    pos: torch.Tensor  # (n, 3) body_pos, m
    rot: torch.Tensor  # (n, 3, 3) body_quat as a matrix
    slots: tuple[_FKSlot, ...]

    def to(self, device: torch.device) -> _FKLevel:
        return dataclasses.replace(_tensors_to(self, device), slots=tuple(_tensors_to(s, device) for s in self.slots))


# --- surface sampling in a geom's own frame --------------------------------------------------------

def _tangents(n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    helper = np.where(np.abs(n[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
    t1 = np.cross(n, helper)
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    return t1, np.cross(n, t1)


def _geom_area(kind: int, size: np.ndarray, mesh: tuple[np.ndarray, np.ndarray] | None) -> float:
    if kind == G.mjGEOM_SPHERE:
        return 4 * math.pi * size[0] ** 2
    if kind == G.mjGEOM_CAPSULE:
        return 4 * math.pi * size[0] ** 2 + 2 * math.pi * size[0] * 2 * size[1]
    if kind == G.mjGEOM_CYLINDER:
        return 2 * math.pi * size[0] ** 2 + 2 * math.pi * size[0] * 2 * size[1]
    if kind == G.mjGEOM_BOX:
        a, b, c = 2 * size[:3]
        return 2 * (a * b + b * c + a * c)
    if kind == G.mjGEOM_MESH and mesh is not None:
        import trimesh

        return float(trimesh.Trimesh(*mesh, process=False).area)
    raise HandModelError(f"collision geom type {kind} is not supported (sphere, capsule, cylinder, box, mesh)")


def _sample_geom(kind: int, size: np.ndarray, n: int, mesh) -> tuple[np.ndarray, np.ndarray]:
    """About ``n`` surface points and outward normals of a geom, in the geom frame (deterministic)."""
    n = max(1, int(n))
    if kind == G.mjGEOM_SPHERE:
        u = fibonacci_sphere(n)
        return size[0] * u, u
    if kind in (G.mjGEOM_CAPSULE, G.mjGEOM_CYLINDER):
        r, h = size[0], size[1]
        side = 2 * math.pi * r * 2 * h
        caps = 4 * math.pi * r * r if kind == G.mjGEOM_CAPSULE else 2 * math.pi * r * r
        n_side = max(1, int(round(n * side / (side + caps))))
        n_ring = max(3, int(round(math.sqrt(n_side * 2 * math.pi * r / (2 * h)))))
        n_z = max(1, int(math.ceil(n_side / n_ring)))
        th, z = np.meshgrid(np.linspace(0, 2 * math.pi, n_ring, endpoint=False),
                            (np.arange(n_z) + 0.5) / n_z * 2 * h - h)
        th, z = th.ravel(), z.ravel()
        nrm = np.stack([np.cos(th), np.sin(th), np.zeros_like(th)], 1)
        pts = [np.stack([r * np.cos(th), r * np.sin(th), z], 1)]
        nrms = [nrm]
        n_cap = max(1, n - len(th))
        if kind == G.mjGEOM_CAPSULE:
            u = fibonacci_sphere(2 * (n_cap // 2 + 1))
            for sgn in (1.0, -1.0):
                uu = u[u[:, 2] * sgn > 0]
                pts.append(r * uu + np.array([0, 0, sgn * h]))
                nrms.append(uu)
        else:
            k = max(1, n_cap // 2)
            rad = r * np.sqrt((np.arange(k) + 0.5) / k)
            ang = np.arange(k) * math.pi * (3 - 5 ** 0.5)
            for sgn in (1.0, -1.0):
                pts.append(np.stack([rad * np.cos(ang), rad * np.sin(ang), np.full(k, sgn * h)], 1))
                nrms.append(np.tile([0, 0, sgn], (k, 1)))
        return np.concatenate(pts), np.concatenate(nrms)
    if kind == G.mjGEOM_BOX:
        h = size[:3]
        area = _geom_area(kind, size, None)
        pts, nrms = [], []
        for ax in range(3):
            u, v = [a for a in range(3) if a != ax]
            face = 4 * h[u] * h[v]
            m = max(1, int(round(n * face / area)))
            nu = max(1, int(round(math.sqrt(m * h[u] / h[v]))))
            nv = max(1, int(math.ceil(m / nu)))
            gu, gv = np.meshgrid((np.arange(nu) + 0.5) / nu * 2 - 1, (np.arange(nv) + 0.5) / nv * 2 - 1)
            for sgn in (1.0, -1.0):
                p = np.zeros((gu.size, 3))
                p[:, u], p[:, v], p[:, ax] = gu.ravel() * h[u], gv.ravel() * h[v], sgn * h[ax]
                nn = np.zeros_like(p)
                nn[:, ax] = sgn
                pts.append(p)
                nrms.append(nn)
        return np.concatenate(pts), np.concatenate(nrms)
    if kind == G.mjGEOM_MESH and mesh is not None:
        import trimesh

        tm = trimesh.Trimesh(*mesh, process=False)
        pts, face = trimesh.sample.sample_surface_even(tm, n, seed=0)
        return np.asarray(pts), np.asarray(tm.face_normals[face])
    raise HandModelError(f"collision geom type {kind} is not supported (sphere, capsule, cylinder, box, mesh)")


def _project(kind: int, size: np.ndarray, p: np.ndarray, n_ref: np.ndarray) -> np.ndarray:
    """Put patch corners ``p`` (geom frame) back on the geom's surface."""
    if kind == G.mjGEOM_SPHERE:
        return size[0] * p / np.linalg.norm(p, axis=-1, keepdims=True)
    if kind == G.mjGEOM_CAPSULE:
        c = np.zeros_like(p)
        c[..., 2] = np.clip(p[..., 2], -size[1], size[1])
        d = p - c
        return c + size[0] * d / np.linalg.norm(d, axis=-1, keepdims=True)
    if kind == G.mjGEOM_CYLINDER:
        out = p.copy()
        side = np.abs(n_ref[..., 2]) < 0.5
        rad = np.linalg.norm(p[..., :2], axis=-1, keepdims=True)
        out[..., :2] = np.where(side[..., None], p[..., :2] * size[0] / rad, p[..., :2])
        out[..., 2] = np.clip(out[..., 2], -size[1], size[1])
        return out
    if kind == G.mjGEOM_BOX:
        return np.clip(p, -size[:3], size[:3])
    return p


def _box_mid_plane(size: np.ndarray) -> tuple[np.ndarray, float, int, int]:
    """A box's half extents, its half-thickness (smallest half extent) and the two axes of its
    mid-plane."""
    h = np.asarray(size[:3], dtype=float)
    ax = int(np.argmin(h))
    u, v = [a for a in range(3) if a != ax]
    return h, float(h[ax]), u, v


def _keypoints(kind: int, size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Self-penetration spheres (centres in the geom frame, radii), m."""
    if kind == G.mjGEOM_SPHERE:
        return np.zeros((1, 3)), np.array([size[0]])
    if kind in (G.mjGEOM_CAPSULE, G.mjGEOM_CYLINDER):
        r, h = size[0], size[1]
        k = max(2, int(math.ceil(2 * h / r)) + 1)
        z = np.linspace(-h, h, k)
        return np.stack([np.zeros(k), np.zeros(k), z], 1), np.full(k, r)
    if kind == G.mjGEOM_BOX:
        h, r, u, v = _box_mid_plane(size)
        nu = max(1, int(math.ceil(h[u] / r)))
        nv = max(1, int(math.ceil(h[v] / r)))
        gu, gv = np.meshgrid(np.linspace(-h[u] + r, h[u] - r, nu) if nu > 1 else [0.0],
                             np.linspace(-h[v] + r, h[v] - r, nv) if nv > 1 else [0.0])
        p = np.zeros((gu.size, 3))
        p[:, u], p[:, v] = gu.ravel(), gv.ravel()
        return p, np.full(len(p), r)
    return np.zeros((0, 3)), np.zeros(0)


def _axis_spheres(r: float, h: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Spheres of radius ``r`` along the z axis over ``[-h, h]``, at most ``spacing * r`` apart."""
    k = int(math.ceil(2 * h / (spacing * r))) + 1
    z = np.linspace(-h, h, k)
    return np.stack([np.zeros(k), np.zeros(k), z], 1), np.full(k, r)


def _box_edge_points(h: np.ndarray, spacing: float) -> np.ndarray:
    """Points on the 12 edges of a box with half extents ``h`` (corners included), at most ``spacing`` apart."""
    out = []
    for ax in range(3):
        u, v = [a for a in range(3) if a != ax]
        t = np.linspace(-h[ax], h[ax], max(2, int(math.ceil(2 * h[ax] / spacing)) + 1))
        for su in (-1.0, 1.0):
            for sv in (-1.0, 1.0):
                p = np.zeros((len(t), 3))
                p[:, ax], p[:, u], p[:, v] = t, su * h[u], sv * h[v]
                out.append(p)
    return np.unique(np.concatenate(out).round(12), axis=0)


def _penetration_spheres(kind: int, size: np.ndarray, spacing: float = PEN_SPHERE_SPACING
                         ) -> tuple[np.ndarray, np.ndarray] | None:
    """Spheres whose union lies inside the geom and covers it (box and cylinder edges rounded by at
    most ``BOX_EDGE_RADIUS``), centres in the geom frame and radii, m; ``None`` for meshes."""
    if kind == G.mjGEOM_SPHERE:
        return np.zeros((1, 3)), np.array([size[0]])
    if kind == G.mjGEOM_CAPSULE:
        r, h = size[0], size[1]
        return _axis_spheres(r, h, spacing)
    if kind == G.mjGEOM_CYLINDER:
        # Axis spheres of radius r only where they stay inside (|z| <= h - r); the flat ends and
        # their rims get small spheres (radius rho) on the cylinder shrunk by rho.
        r, h = size[0], size[1]
        rho = min(r, h, BOX_EDGE_RADIUS)
        centres, radii = [], []
        if h >= r:
            c, rr = _axis_spheres(r, h - r, spacing)
            centres.append(c)
            radii.append(rr)
        z_side = max(h - r, 0.0)  # the side below this |z| is covered by the axis spheres
        for sgn in (1.0, -1.0):
            n_rad = int(math.ceil((r - rho) / rho)) + 1
            for rad in np.linspace(0.0, r - rho, n_rad):  # the end disc, ring by ring
                k = max(1, int(math.ceil(2 * math.pi * rad / rho)))
                a = np.linspace(0, 2 * math.pi, k, endpoint=False)
                centres.append(np.stack([rad * np.cos(a), rad * np.sin(a), np.full(k, sgn * (h - rho))], 1))
            n_z = int(math.ceil(max(h - rho - z_side, 0.0) / rho)) + 1
            k = max(3, int(math.ceil(2 * math.pi * (r - rho) / rho)))
            a = np.linspace(0, 2 * math.pi, k, endpoint=False)
            for z in np.linspace(z_side, h - rho, n_z):  # the side near this end
                centres.append(np.stack([(r - rho) * np.cos(a), (r - rho) * np.sin(a), np.full(k, sgn * z)], 1))
        small = np.concatenate(centres[len(radii):])
        return np.concatenate(centres[:len(radii)] + [small]), np.concatenate(radii + [np.full(len(small), rho)])
    if kind == G.mjGEOM_BOX:
        h, r, u, v = _box_mid_plane(size)
        grids = []
        for a in (u, v):
            half = h[a] - r
            n = int(math.ceil(2 * half / (spacing * r))) + 1 if half > 1e-9 else 1
            grids.append(np.linspace(-half, half, n) if n > 1 else np.zeros(1))
        gu, gv = np.meshgrid(*grids)
        p = np.zeros((gu.size, 3))
        p[:, u], p[:, v] = gu.ravel(), gv.ravel()
        centres, radii = [p], [np.full(len(p), r)]
        # The mid-plane spheres round every edge off by r; a shell of small spheres (radius rho,
        # on the faces of the box shrunk by rho) keeps edges and corners within rho (sqrt 3 - 1).
        rho = min(r, BOX_EDGE_RADIUS)
        if rho < r:
            inner = h - rho
            axes = [np.linspace(-inner[a], inner[a], int(math.ceil(2 * inner[a] / rho)) + 1) for a in range(3)]
            g = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
            on_shell = np.any(np.isclose(np.abs(g), inner, atol=1e-9), axis=1)
            centres.append(g[on_shell])
            radii.append(np.full(int(on_shell.sum()), rho))
        # Spheres round edges and corners off; points (radius 0) on them read their exact depth.
        edges = _box_edge_points(h, BOX_EDGE_POINT_SPACING)
        centres.append(edges)
        radii.append(np.zeros(len(edges)))
        return np.concatenate(centres), np.concatenate(radii)
    return None


def _quat_to_mat(q) -> np.ndarray:
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, np.asarray(q, dtype=float))
    return m.reshape(3, 3)


@functools.lru_cache(maxsize=8)
def hand_scene_model(hand_name_or_path: str) -> SceneModel:
    """The hand alone on dexsafe's wrist (an empty scene), compiled; cached per hand."""
    scene = SceneSpec(name="grasp_hand", objects=(), workspace_min=(-5.0, -5.0, -5.0), workspace_max=(5.0, 5.0, 5.0))
    return build_scene_model(scene, load_hand(hand_name_or_path))


class HandModel:
    """The differentiable hand; see the module docstring. ``hand``: a name, a path or a loaded
    ``HandDescription``. Densities in points per m^2, ``patch_size`` in m."""

    def __init__(self, hand: HandDescription | str = "dexsafe_hand", *, contact_density: float = 4000.0,
                 surface_density: float = 8000.0, patch_size: float = 0.008, palmar_cos: float = -0.2,
                 palm_contacts: bool = True,
                 dtype: torch.dtype = torch.float32, scene_model: SceneModel | None = None):
        if isinstance(hand, str):
            hand = load_hand(hand)
        self.description = hand
        self.dtype = dtype
        if scene_model is None:
            src = str(hand.source) if hand.source is not None else hand.name
            scene_model = hand_scene_model(src)
        self.scene_model = sm = scene_model
        m = sm.model
        self.mj_model = m
        base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "hand_base")
        if base < 0:
            raise HandModelError("the composed model has no hand_base body")
        # Bodies of the hand subtree, in MuJoCo order (parents first).
        index = {base: 0}
        bodies = [_Body("hand_base", -1, np.zeros(3), np.eye(3), ())]
        self.mj_body_ids = [base]
        commanded = list(hand.finger_joint_names)
        passive = list(hand.passive_joints)
        self.joint_names: tuple[str, ...] = tuple(commanded + passive)
        self.num_commanded = len(commanded)
        seen: set[str] = set()
        for b in range(base + 1, m.nbody):
            parent = int(m.body_parentid[b])
            if parent not in index:
                continue
            name = m.body(b).name
            joints = []
            for j in range(m.body_jntadr[b], m.body_jntadr[b] + m.body_jntnum[b]):
                jname = m.joint(j).name[len(HAND_PREFIX):]
                kind = int(m.jnt_type[j])
                if kind not in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                    raise HandModelError(f"hand {hand.name!r}: joint {jname!r} is a ball or free joint; "
                                         "only hinges and slides are supported")
                if jname not in self.joint_names:
                    raise HandModelError(f"hand {hand.name!r}: joint {jname!r} is neither a commanded nor a "
                                         "passive joint of the description")
                seen.add(jname)
                joints.append(_Joint(self.joint_names.index(jname), kind, m.jnt_axis[j].copy(), m.jnt_pos[j].copy()))
            index[b] = len(bodies)
            self.mj_body_ids.append(b)
            label = name[len(HAND_PREFIX):] if name.startswith(HAND_PREFIX) else name
            bodies.append(_Body(label, index[parent], m.body_pos[b].copy(), _quat_to_mat(m.body_quat[b]),
                                tuple(joints)))
        missing = [j for j in self.joint_names if j not in seen]
        if missing:
            raise HandModelError(f"hand {hand.name!r}: joints {missing} are not in the hand's body tree")
        self.bodies = bodies
        self.body_names = [b.name for b in bodies]
        # Finger (kinematic chain) of each body: its ancestor just below the palm body (the palm and
        # bodies above it are their own chain), as indices into ``bodies``.
        palm = self.body_names.index(hand.palm_body) if hand.palm_body in self.body_names else 0
        finger = []
        for i in range(len(bodies)):
            j = i
            while bodies[j].parent >= 0 and bodies[j].parent != palm:
                j = bodies[j].parent
            finger.append(j if bodies[j].parent == palm else i)
        self.finger_of_body = torch.tensor(finger, dtype=torch.long)
        # Joint limits: the description's for commanded joints, the model's for passive ones.
        lo, hi = [], []
        for j in hand.joints:
            lo.append(j.lower)
            hi.append(j.upper)
        for jn in passive:
            jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, HAND_PREFIX + jn)
            limited = bool(m.jnt_limited[jid])
            lo.append(float(m.jnt_range[jid, 0]) if limited else -math.pi)
            hi.append(float(m.jnt_range[jid, 1]) if limited else math.pi)
        self.joint_lower = torch.tensor(lo, dtype=dtype)
        self.joint_upper = torch.tensor(hi, dtype=dtype)
        self._read_couplings(m)
        self.open_posture = torch.tensor(np.concatenate([hand.finger_open_posture(), np.zeros(len(passive))]),
                                         dtype=dtype).clamp(self.joint_lower, self.joint_upper)
        self._eye = torch.eye(3, dtype=dtype)
        self._joint_k = {}
        for b in bodies:
            for j in b.joints:
                a = j.axis / np.linalg.norm(j.axis)
                Kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
                self._joint_k[j.var] = (torch.tensor(Kx, dtype=dtype), torch.tensor(Kx @ Kx, dtype=dtype))
        self._build_fk_levels()
        self._build_geometry(contact_density, surface_density, patch_size, palmar_cos, palm_contacts)

    def _read_couplings(self, m: mujoco.MjModel) -> None:
        """Joint couplings from the model's limited fixed tendons over two or more hand joints
        (the Shadow Hand's distal joints follow the middle ones this way): ``coupling_rows`` (T, J)
        and bounds ``coupling_lower``/``coupling_upper`` (T,), each row divided by its largest
        coefficient so a violation reads in rad."""
        rows, lo, hi = [], [], []
        for t in range(m.ntendon):
            if not m.tendon_limited[t]:
                continue
            adr, num = int(m.tendon_adr[t]), int(m.tendon_num[t])
            row = np.zeros(len(self.joint_names))
            for w in range(adr, adr + num):
                name = m.joint(int(m.wrap_objid[w])).name if m.wrap_type[w] == mujoco.mjtWrap.mjWRAP_JOINT else ""
                name = name[len(HAND_PREFIX):] if name.startswith(HAND_PREFIX) else None
                if name not in self.joint_names:
                    row[:] = 0.0  # a spatial tendon or one over joints outside the hand: not a coupling
                    break
                row[self.joint_names.index(name)] += float(m.wrap_prm[w])
            if np.count_nonzero(row) < 2:
                continue
            scale = float(np.abs(row).max())
            rows.append(row / scale)
            lo.append(float(m.tendon_range[t, 0]) / scale)
            hi.append(float(m.tendon_range[t, 1]) / scale)
        J = len(self.joint_names)
        self.coupling_rows = torch.tensor(np.array(rows).reshape(-1, J), dtype=self.dtype)
        self.coupling_lower = torch.tensor(lo, dtype=self.dtype)
        self.coupling_upper = torch.tensor(hi, dtype=self.dtype)

    def joint_violation(self, theta: torch.Tensor) -> torch.Tensor:
        """(B,) summed violation of the joint limits and the joint couplings, rad."""
        v = (torch.relu(theta - self.joint_upper) + torch.relu(self.joint_lower - theta)).sum(-1)
        if len(self.coupling_rows):
            c = theta @ self.coupling_rows.T
            v = v + (torch.relu(c - self.coupling_upper) + torch.relu(self.coupling_lower - c)).sum(-1)
        return v

    def satisfy_couplings(self, theta: torch.Tensor, steps: int = 100) -> torch.Tensor:
        """``theta`` (B, J) moved by subgradient steps on ``joint_violation`` until the joint limits
        and couplings hold (to 1e-4 rad); unchanged for hands without couplings. For initial states."""
        if not len(self.coupling_rows):
            return theta
        th = theta.detach().clone()
        for i in range(steps):
            th.requires_grad_(True)
            v = self.joint_violation(th)
            if float(v.detach().max()) < 1e-4:
                break
            (g,) = torch.autograd.grad(v.sum(), th)
            th = (th - 0.2 * 0.97 ** i * g).detach()
        return th.detach()

    # --- device ----------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.joint_lower.device

    def to(self, device: torch.device | str) -> HandModel:
        """A copy whose tensors live on ``device`` (the MuJoCo model and geometry lists are shared)."""
        device = torch.device(device)
        if device == self.device:
            return self
        out = copy.copy(self)
        for name, v in vars(self).items():
            if isinstance(v, torch.Tensor):
                setattr(out, name, v.to(device))
        out._joint_k = {k: tuple(t.to(device) for t in v) for k, v in self._joint_k.items()}
        out._fk_levels = [level.to(device) for level in self._fk_levels]
        return out

    # --- sizes -----------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def dof(self) -> int:
        """Length of ``q``: 3 + 6 + number of joints."""
        return 9 + self.num_joints

    @property
    def num_contact_candidates(self) -> int:
        return int(self.cand_body.shape[0])

    # --- kinematics ------------------------------------------------------------------------
    def forward_kinematics(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World poses of every body for ``q`` (B, dof): positions (B, NB, 3) m, rotations (B, NB, 3, 3).

        All bodies of one tree depth are moved together (``_FKLevel``): a few batched operations per
        depth instead of per body, which is what a CPU step spends its time on."""
        q = q.to(self.dtype)
        theta = torch.cat([q[:, 9:], q.new_zeros(q.shape[0], 1)], 1)  # last column: "no joint", angle 0
        pos, rot = [q[:, None, :3]], [rot6d_to_matrix(q[:, 3:9])[:, None]]
        for level in self._fk_levels:
            Rp = torch.index_select(rot[-1], 1, level.parent)
            R = Rp @ level.rot
            x = torch.index_select(pos[-1], 1, level.parent) + (Rp @ level.pos[..., None])[..., 0]
            for slot in level.slots:
                Rn = R
                if slot.hinge_k is not None:
                    # Rodrigues with constant axes: Rot(a, th) = I + sin(th) K + (1 - cos(th)) K^2, K = [a]x
                    th = torch.index_select(theta, 1, slot.hinge_var)[..., None, None]
                    Rn = R @ (self._eye + torch.sin(th) * slot.hinge_k + (1 - torch.cos(th)) * slot.hinge_k2)
                    if slot.anchor is not None:
                        x = x + ((R - Rn) @ slot.anchor[..., None])[..., 0]
                if slot.slide_axis is not None:
                    x = x + (R @ slot.slide_axis[..., None])[..., 0] * torch.index_select(theta, 1, slot.slide_var)[
                        ..., None]
                R = Rn
            pos.append(x)
            rot.append(R)
        return (torch.index_select(torch.cat(pos, 1), 1, self._fk_order),
                torch.index_select(torch.cat(rot, 1), 1, self._fk_order))

    def _build_fk_levels(self) -> None:
        """Group the bodies by tree depth for ``forward_kinematics`` (see ``_FKLevel``)."""
        depth = [0]
        for b in self.bodies[1:]:
            depth.append(depth[b.parent] + 1)
        dt, J = self.dtype, self.num_joints
        levels, order = [], [0]
        previous = [0]
        for d in range(1, max(depth) + 1):
            ids = [i for i in range(len(self.bodies)) if depth[i] == d]
            slots = []
            for s in range(max(len(self.bodies[i].joints) for i in ids)):
                joints = [self.bodies[i].joints[s] if s < len(self.bodies[i].joints) else None for i in ids]
                hinge = [j if j is not None and j.kind == mujoco.mjtJoint.mjJNT_HINGE else None for j in joints]
                slide = [j if j is not None and j.kind == mujoco.mjtJoint.mjJNT_SLIDE else None for j in joints]
                zero3 = np.zeros((3, 3))
                k = [self._joint_k[j.var][0].numpy() if j else zero3 for j in hinge]
                anchor = np.array([j.anchor if j else np.zeros(3) for j in hinge])
                slots.append(_FKSlot(
                    hinge_var=torch.tensor([j.var if j else J for j in hinge], dtype=torch.long),
                    hinge_k=torch.tensor(np.array(k), dtype=dt) if any(hinge) else None,
                    hinge_k2=torch.tensor(np.array([m @ m for m in k]), dtype=dt) if any(hinge) else None,
                    anchor=torch.tensor(anchor, dtype=dt) if np.any(anchor) else None,
                    slide_var=torch.tensor([j.var if j else J for j in slide], dtype=torch.long),
                    slide_axis=torch.tensor(np.array([j.axis if j else np.zeros(3) for j in slide]), dtype=dt)
                    if any(slide) else None))
            levels.append(_FKLevel(
                parent=torch.tensor([previous.index(self.bodies[i].parent) for i in ids], dtype=torch.long),
                pos=torch.tensor(np.array([self.bodies[i].pos for i in ids]), dtype=dt),
                rot=torch.tensor(np.array([self.bodies[i].rot for i in ids]), dtype=dt), slots=tuple(slots)))
            order += ids
            previous = ids
        self._fk_levels = levels
        self._fk_order = torch.tensor([order.index(i) for i in range(len(self.bodies))], dtype=torch.long)

    @staticmethod
    def transform(fk: tuple[torch.Tensor, torch.Tensor], body: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Points ``local`` (N, 3) or (B, N, 3) fixed to bodies ``body`` (N,) or (B, N) -> world (B, N, 3)."""
        pos, rot = fk
        if body.dim() == 1:
            # index_select, not pos[:, body]: its backward (index_add) is about 3x faster on the CPU.
            P, Rm = torch.index_select(pos, 1, body), torch.index_select(rot, 1, body)
            loc = local.unsqueeze(0).expand(pos.shape[0], -1, -1) if local.dim() == 2 else local
        else:
            P = torch.gather(pos, 1, body[..., None].expand(-1, -1, 3))
            Rm = torch.gather(rot, 1, body[..., None, None].expand(-1, -1, 3, 3))
            loc = local
        return P + (Rm * loc.unsqueeze(-2)).sum(-1)

    def lift(self, body: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
        """Points ``local`` (N, 3) fixed to bodies ``body`` (N,) as an (NB * 4, N) matrix for
        ``lifted_points``: column n holds ``[local_n, 1]`` in the rows of body ``body_n``, zeros elsewhere."""
        n = len(body)
        out = torch.zeros(len(self.bodies), 4, n, dtype=local.dtype, device=local.device)
        cols = torch.arange(n, device=local.device)
        out[body, :3, cols] = local
        out[body, 3, cols] = 1.0
        return out.reshape(-1, n)

    @staticmethod
    def lifted_points(fk: tuple[torch.Tensor, torch.Tensor], lifted: torch.Tensor) -> torch.Tensor:
        """World points (B, N, 3), m, of the body-fixed points in ``lifted`` (``lift``): one matrix
        product ``[R_b | x_b] [p; 1]`` over all bodies; exact (the other bodies' rows are zero) and
        several times faster on the CPU than gathering each point's body pose, backward included."""
        pos, rot = fk
        poses = torch.cat([rot, pos.unsqueeze(-1)], -1).permute(0, 2, 1, 3).reshape(pos.shape[0], 3, -1)
        # contiguous: the norms over the last axis that follow are several times slower on a transposed view
        return (poses @ lifted).transpose(1, 2).contiguous()

    def surface_points(self, fk) -> torch.Tensor:
        """(B, S, 3) hand surface points in world, m."""
        return self.lifted_points(fk, self._surf_lifted)

    def penetration_spheres(self, fk) -> torch.Tensor:
        """(B, N, 3) penetration sphere centres in world, m (radii: ``pen_radius``)."""
        return self.lifted_points(fk, self._pen_lifted)

    def box_frames(self, fk) -> tuple[torch.Tensor, torch.Tensor]:
        """World centres (B, G, 3) and rotations (B, G, 3, 3, box -> world) of the hand's box
        collision geoms (half extents ``box_half`` (G, 3), m)."""
        pos, rot = fk
        R = torch.index_select(rot, 1, self.box_body)
        return torch.index_select(pos, 1, self.box_body) + (R @ self.box_pos[..., None])[..., 0], R @ self.box_rot

    def keypoints(self, fk) -> torch.Tensor:
        """(B, K, 3) self-penetration sphere centres in world, m (radii: ``kp_radius``)."""
        return self.lifted_points(fk, self._kp_lifted)

    def contact_points(self, fk, cpi: torch.Tensor, cpw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Contacts for candidate indices ``cpi`` (B, C) and corner logits ``cpw`` (B, C, 4): world
        points ``sum_c softmax(cpw)_c v_c`` (B, C, 3), m, and the patches' outward normals (B, C, 3)."""
        corners = self.cand_corners[cpi]  # (B, C, 4, 3)
        local = (torch.softmax(cpw, -1).unsqueeze(-1) * corners).sum(-2)
        body = self.cand_body[cpi]
        x = self.transform(fk, body, local)
        pos, rot = fk
        Rm = torch.gather(rot, 1, body[..., None, None].expand(-1, -1, 3, 3))
        n = (Rm * self.cand_normal[cpi].unsqueeze(-2)).sum(-1)
        return x, n

    # --- geometry generation ------------------------------------------------------------------
    def _collision_geoms(self):
        """(body index, geom type, size, R_geom, p_geom, mesh) of every collision geom of the hand."""
        m = self.mj_model
        out = []
        for gi in range(m.ngeom):
            b = int(m.geom_bodyid[gi])
            if b not in self.mj_body_ids or not (m.geom_contype[gi] or m.geom_conaffinity[gi]):
                continue
            kind = int(m.geom_type[gi])
            size = m.geom_size[gi].copy()
            mesh = None
            if kind == G.mjGEOM_MESH:
                mid = int(m.geom_dataid[gi])
                va, vn = m.mesh_vertadr[mid], m.mesh_vertnum[mid]
                fa, fn = m.mesh_faceadr[mid], m.mesh_facenum[mid]
                mesh = (m.mesh_vert[va:va + vn].copy(), m.mesh_face[fa:fa + fn].copy())
                extent = np.ptp(mesh[0], axis=0).max() / 2
            else:
                extent = float(max(size[0], size[1] if kind != G.mjGEOM_SPHERE else 0, size[2]))
            if extent < MIN_GEOM_SIZE:
                continue
            out.append((self.mj_body_ids.index(b), kind, size, _quat_to_mat(m.geom_quat[gi]), m.geom_pos[gi].copy(),
                        mesh))
        if not out:
            raise HandModelError(f"hand {self.description.name!r} has no collision geoms")
        return out

    def palmar_direction(self, body: int, points: np.ndarray) -> np.ndarray | None:
        """Unit directions (body frame) in which ``points`` of ``body`` move when the hand closes.

        The closing joint is the body's own or nearest ancestor's hinge that closes the hand: a
        commanded joint with ``closing`` +1/-1 in the hand description (its sign), or a passive
        joint whose range lies mostly on one side of zero (that side).
        A point ``x`` moves along ``s * a x (x - c)`` (axis ``a``, anchor ``c``). Returns ``None``
        where no such joint exists (the palm, abduction-only links).
        """
        chain = []  # (body, R_body_to_current, p) walking up to the joint's body
        i, R, p = body, np.eye(3), np.zeros(3)
        while i > 0:
            b = self.bodies[i]
            for j in reversed(b.joints):
                if j.kind != mujoco.mjtJoint.mjJNT_HINGE:
                    continue
                if j.var < self.num_commanded:  # the description says which way each joint closes
                    s = self.description.joints[j.var].closing
                    if s == 0.0:
                        continue  # abduction, rotation, wrist: not closing
                else:  # passive joints (coupled distal joints): the side of zero their range lies on
                    lo, hi = float(self.joint_lower[j.var]), float(self.joint_upper[j.var])
                    if abs(hi + lo) < 0.25 * (hi - lo):
                        continue
                    s = 1.0 if hi + lo > 0 else -1.0
                xs = points @ R.T + p  # points in body i's frame
                v = s * np.cross(j.axis, xs - j.anchor)
                v = v @ R  # back to the original body's frame
                nrm = np.linalg.norm(v, axis=1, keepdims=True)
                return np.where(nrm > 1e-9, v / np.maximum(nrm, 1e-12), 0.0)
            chain.append(i)
            p = b.rot @ p + b.pos
            R = b.rot @ R
            i = b.parent
        return None

    def _build_geometry(self, contact_density: float, surface_density: float, patch: float, palmar_cos: float,
                        palm_contacts: bool):
        geoms = self._collision_geoms()
        palm = self.body_names.index(self.description.palm_body) if self.description.palm_body in self.body_names \
            else None
        palm_center = np.asarray(self.description.palm_center, dtype=float)
        cand_body, cand_corners, cand_normal = [], [], []
        surf_body, surf_local = [], []
        kp_body, kp_local, kp_radius = [], [], []
        pen_body, pen_local, pen_radius = [], [], []
        box_body, box_rot, box_pos, box_half = [], [], [], []
        for body, kind, size, Rg, pg, mesh in geoms:
            if kind == G.mjGEOM_BOX:
                box_body.append(body)
                box_rot.append(Rg)
                box_pos.append(pg)
                box_half.append(size[:3])
            area = _geom_area(kind, size, mesh)
            pts, nrm = _sample_geom(kind, size, area * surface_density, mesh)
            surf_body += [body] * len(pts)
            surf_local.append(pts @ Rg.T + pg)
            spheres = _penetration_spheres(kind, size)
            if spheres is None:  # meshes: surface points
                sp, sr = pts, np.zeros(len(pts))
            else:
                sp, sr = spheres
            pen_body += [body] * len(sp)
            pen_local.append(sp @ Rg.T + pg)
            pen_radius.append(sr)
            c_pts, c_nrm = _sample_geom(kind, size, max(1.0, area * contact_density), mesh)
            t1, t2 = _tangents(c_nrm)
            h = 0.5 * patch
            corners = np.stack([c_pts + h * (a * t1 + b * t2) for a, b in ((-1, -1), (1, -1), (1, 1), (-1, 1))], 1)
            corners = _project(kind, size, corners, c_nrm[:, None, :].repeat(4, 1))
            w_pts, w_nrm = c_pts @ Rg.T + pg, c_nrm @ Rg.T
            w_corners = corners @ Rg.T + pg
            keep = np.ones(len(w_pts), dtype=bool)
            if body == palm:
                u = palm_center - pg
                if not palm_contacts:
                    keep[:] = False
                elif np.linalg.norm(u) > 1e-6:
                    keep = w_nrm @ (u / np.linalg.norm(u)) > 0.5
            else:
                d = self.palmar_direction(body, w_pts)
                # Links that no closing joint moves (abduction-only knuckles) cannot press on anything.
                keep = np.einsum("ij,ij->i", w_nrm, d) > palmar_cos if d is not None else keep & False
            cand_body += [body] * int(keep.sum())
            cand_corners.append(w_corners[keep])
            cand_normal.append(w_nrm[keep])
            kp, kr = _keypoints(kind, size)
            kp_body += [body] * len(kp)
            kp_local.append(kp @ Rg.T + pg)
            kp_radius.append(kr)
        dt = self.dtype
        self.cand_body = torch.tensor(cand_body, dtype=torch.long)
        self.cand_corners = torch.tensor(np.concatenate(cand_corners), dtype=dt)
        self.cand_normal = torch.tensor(np.concatenate(cand_normal), dtype=dt)
        if len(self.cand_body) < 3:
            raise HandModelError(f"hand {self.description.name!r}: only {len(self.cand_body)} contact candidates")
        self.surf_body = torch.tensor(surf_body, dtype=torch.long)
        self.surf_local = torch.tensor(np.concatenate(surf_local), dtype=dt)
        self.pen_body = torch.tensor(pen_body, dtype=torch.long)
        self.pen_local = torch.tensor(np.concatenate(pen_local), dtype=dt)
        self.pen_radius = torch.tensor(np.concatenate(pen_radius), dtype=dt)
        self.kp_body = torch.tensor(kp_body, dtype=torch.long)
        self.kp_local = torch.tensor(np.concatenate(kp_local), dtype=dt)
        self.kp_radius = torch.tensor(np.concatenate(kp_radius), dtype=dt)
        self._surf_lifted = self.lift(self.surf_body, self.surf_local)
        self._pen_lifted = self.lift(self.pen_body, self.pen_local)
        self._kp_lifted = self.lift(self.kp_body, self.kp_local)
        self.kp_pairs = self._keypoint_pairs()
        self.box_body = torch.tensor(box_body, dtype=torch.long)
        self.box_rot = torch.tensor(np.array(box_rot).reshape(-1, 3, 3), dtype=dt)
        self.box_pos = torch.tensor(np.array(box_pos).reshape(-1, 3), dtype=dt)
        self.box_half = torch.tensor(np.array(box_half).reshape(-1, 3), dtype=dt)

    def _ancestor_with_keypoints(self, b: int, has: set[int]) -> int:
        b = self.bodies[b].parent
        while b > 0 and b not in has:
            b = self.bodies[b].parent
        return b

    def _keypoint_pairs(self) -> torch.Tensor:
        """(P, 2) keypoint index pairs checked for self-penetration (see the module docstring)."""
        kb = self.kp_body.numpy()
        has = set(kb.tolist())
        k = len(kb)
        ii, jj = np.triu_indices(k, 1)
        bi, bj = kb[ii], kb[jj]
        adjacent = np.array([a == b or self._ancestor_with_keypoints(a, has) == b
                             or self._ancestor_with_keypoints(b, has) == a for a, b in zip(bi, bj)], dtype=bool)
        keep = ~adjacent
        with torch.no_grad():
            for theta in (torch.zeros(self.num_joints, dtype=self.dtype), self.open_posture):
                q = torch.cat([torch.zeros(3, dtype=self.dtype), torch.tensor([1, 0, 0, 0, 1, 0], dtype=self.dtype),
                               theta])[None]
                p = self.keypoints(self.forward_kinematics(q))[0].numpy()
                r = self.kp_radius.numpy()
                d = np.linalg.norm(p[ii] - p[jj], axis=1)
                keep &= d >= r[ii] + r[jj]
        return torch.tensor(np.stack([ii[keep], jj[keep]], 1), dtype=torch.long)

    # --- conversions --------------------------------------------------------------------------
    def identity_q(self, batch: int = 1) -> torch.Tensor:
        """(batch, dof): wrist at the origin, R = I, joints in the open posture."""
        q = torch.zeros(batch, self.dof, dtype=self.dtype)
        q[:, 3] = 1.0
        q[:, 7] = 1.0
        q[:, 9:] = self.open_posture
        return q
