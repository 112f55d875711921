"""Hand-object penetration as the energy measures it, against MuJoCo's collision detection.

The filter's penetration bound (5 mm) only means something if the energy's depth is the depth
the physics sees: sparse surface points let an object's edge sit between them (a box 5 mm into
a finger link with no point inside), and such "accepted" grasps eject their objects in MuJoCo.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexsafe.grasping.config import load_config
from dexsafe.grasping.hand_model import HandModel
from dexsafe.grasping.penetration import points_in_boxes
from dexsafe.grasping.proposals import GraspProposer, ObjectPose
from dexsafe.grasping.validation import GraspValidator
from dexsafe.sim.scene_spec import ObjectSpec

NEAR = 0.012  # m: the depths the filter decides on (its bound is 5 mm)


def objects() -> list[ObjectPose]:
    box = ObjectSpec("box", "box", "box", (0.022, 0.022, 0.06), mass=0.05)
    cyl = ObjectSpec("cyl", "cylinder", "cylinder", (0.02, 0.05), mass=0.05)
    ball = ObjectSpec("ball", "ball", "sphere", (0.03,), mass=0.05)
    return [ObjectPose(box, (0.0, -0.05, 0.46)), ObjectPose(cyl, (0.0, 0.01, 0.45)),
            ObjectPose(ball, (0.05, 0.06, 0.43))]


def depths(hand_name: str, mode: str, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(energy depth, MuJoCo depth) of ``n`` hands lowered 0-4 cm onto the objects, m."""
    cfg = load_config("fast_cpu").replace(energy={"penetration": mode}, init={"clearance": 0.0})
    gp = GraspProposer(hand_name, cfg, dtype=torch.float64)
    objs = objects()
    energy = gp.energy_for(objs, None)
    gen = torch.Generator().manual_seed(7)
    st = gp.initial_state(energy, n, gen)
    st.q[:, 2] -= torch.rand(n, generator=gen, dtype=torch.float64) * 0.04
    with torch.no_grad():
        e, t = energy.energy(st.q, st.cpi, st.cpw, normal_noise=0.0)
        hand = gp.hand
        fk = hand.forward_kinematics(st.q)
        pts = hand.penetration_spheres(fk) if mode == "spheres" else hand.surface_points(fk)
        r = hand.pen_radius if mode == "spheres" else 0.0
        ours = torch.stack([torch.relu(r - o.query(pts)[0]).max(1).values for o in energy.objects], 1).max(1).values
        if mode == "spheres":  # the energy adds object points inside the hand's boxes
            centre, rot = hand.box_frames(fk)
            ours = torch.maximum(ours, points_in_boxes(energy.object_points, centre, rot, hand.box_half)[1])
    v = GraspValidator(hand, objs, table_height=0.3)
    theirs = np.array([v.penetration_depth(gp._proposal("p", i, energy, st, t, e, False, [])) for i in range(n)])
    return ours.numpy(), theirs


@pytest.mark.parametrize("hand_name", ["dexsafe_hand", "shadow_hand"])
def test_penetration_spheres_measure_the_depth_mujoco_sees(hand_name):
    ours, theirs = depths(hand_name, "spheres")
    near = theirs < NEAR
    assert near.sum() > 40 and (theirs[near] > 0).sum() > 20  # the sample spans touching and overlapping hands
    err = np.abs(ours - theirs)[near]
    assert np.median(err) < 0.001, np.median(err)  # sparse surface points: about 3 mm
    # Capsule and sphere links are exact up to the 0.3 mm dip between spheres, box geoms (palms) up
    # to the spacing of the object points; what is left are a few deep overlaps (6-10 mm), where
    # MuJoCo's depth (the distance that separates two geoms) exceeds the deepest point's.
    assert np.mean(ours[near] < theirs[near] - 0.002) < 0.08


class PalmProbe:
    """The dexsafe hand at rest, 0.7 m up, and its palm box (``centre``, ``rot``, ``half``, world, m).
    ``depths(obj, spheres_only)``: (the energy's depth, the penetration spheres' depth (without the
    edge points if ``spheres_only``)) of the hand in ``obj``, m."""

    def __init__(self):
        self.gp = GraspProposer("dexsafe_hand", dtype=torch.float64)
        hand = self.gp.hand
        self.q = hand.identity_q(1)
        self.q[0, 2] = 0.7
        self.fk = hand.forward_kinematics(self.q)
        self.centre, self.rot = (t[0, 0].numpy() for t in hand.box_frames(self.fk))
        self.half = hand.box_half[0].numpy()

    def depths(self, obj: ObjectPose, spheres_only: bool) -> tuple[float, float]:
        hand = self.gp.hand
        energy = self.gp.energy_for([obj], None)
        k = energy.num_contacts
        with torch.no_grad():
            t = energy.terms(self.q, torch.zeros(1, k, dtype=torch.long), torch.zeros(1, k, 4, dtype=torch.float64),
                             normal_noise=0.0)
            d = torch.relu(hand.pen_radius - energy.objects[0].distance(hand.penetration_spheres(self.fk)))
        return float(t.max_depth[0]), float((d[:, hand.pen_radius > 0] if spheres_only else d).max())


def test_palm_edges_pressed_into_an_object_read_their_depth():
    """A ball pressed onto the palm box's edges and corners: the energy's depth is the true one (the
    spheres that sweep the box round its edges off and read up to 3.3 mm shallow there; the points
    on the edges read them exactly)."""
    probe = PalmProbe()
    rng = np.random.default_rng(4)
    r = 0.015
    ball = ObjectSpec("ball", "ball", "sphere", (r,), mass=0.05)
    truth, got = [], []
    for _ in range(30):
        s = rng.choice([-1.0, 1.0], 3)
        s[rng.integers(3)] = rng.uniform(-0.9, 0.9) if rng.random() < 0.7 else s[0]  # edges and corners
        out = np.where(np.abs(s) == 1.0, s, 0.0)
        out /= np.linalg.norm(out)
        depth = rng.uniform(0.0005, 0.004)
        pos = probe.centre + probe.rot @ (probe.half * s + out * (r - depth))
        truth.append(depth)
        got.append(probe.depths(ObjectPose(ball, tuple(pos)), spheres_only=True))
    truth, (energy_depth, sphere_depth) = np.array(truth), np.array(got).T
    assert np.all(energy_depth >= truth - 0.0004), (energy_depth - truth).min()
    assert np.mean(sphere_depth < truth - 0.001) > 0.3  # what the edge points are for


def test_object_corners_pressed_into_the_palm_face_read_their_depth():
    """A cube's corner pressed into the palm's face: the energy's depth is the true one (the spheres
    in the palm's mid-plane dip up to 1.3 mm between each other there; the object's surface points
    inside the hand's boxes read it)."""
    from scipy.spatial.transform import Rotation

    probe = PalmProbe()
    thin = int(np.argmin(probe.half))
    rng = np.random.default_rng(5)
    side = 0.02
    cube = ObjectSpec("cube", "cube", "box", (side, side, side), mass=0.05)
    n = -probe.rot[:, thin]  # outward normal of the palm's back face (the fingers curl to the front), world
    truth, got = [], []
    for _ in range(30):
        local = rng.uniform(-0.8, 0.8, 3) * probe.half
        local[thin] = -probe.half[thin]
        depth = rng.uniform(0.0005, 0.003)
        corner = probe.centre + probe.rot @ local - n * depth
        R = Rotation.align_vectors([-n], [np.ones(3) / np.sqrt(3)])[0] * Rotation.from_rotvec(
            rng.uniform(0, 2 * np.pi) * np.ones(3) / np.sqrt(3))
        pos = corner - R.apply(np.full(3, side / 2))
        truth.append(depth)
        got.append(probe.depths(ObjectPose(cube, tuple(pos), tuple(R.as_quat())), spheres_only=False))
    truth, (energy_depth, sphere_depth) = np.array(truth), np.array(got).T
    assert np.all(energy_depth >= truth - 0.0003), (energy_depth - truth).min()
    assert np.mean(sphere_depth < truth - 0.0005) > 0.1  # what the object points are for


def test_sparse_surface_points_miss_what_the_spheres_catch():
    s_ours, theirs = depths("dexsafe_hand", "spheres")
    p_ours, _ = depths("dexsafe_hand", "surface")
    near = theirs < NEAR
    miss_spheres = np.mean(s_ours[near] < theirs[near] - 0.002)
    miss_points = np.mean(p_ours[near] < theirs[near] - 0.002)
    assert miss_points > 2 * miss_spheres, (miss_points, miss_spheres)


def test_spheres_sweep_every_collision_geom():
    hm = HandModel("dexsafe_hand", dtype=torch.float64)
    assert len(hm.pen_radius) == len(hm.pen_body) == len(hm.pen_local)
    covered = set(hm.pen_body[hm.pen_radius > 0].tolist())
    geoms = {b for b, *_ in hm._collision_geoms()}
    assert geoms <= covered
    # A sphere touching a surface from outside reports zero depth; pushed 2 mm in, 2 mm.
    fk = hm.forward_kinematics(hm.identity_q(1))
    c = hm.penetration_spheres(fk)[0]
    r = hm.pen_radius
    i = int(torch.argmax(r))
    box = ObjectSpec("b", "b", "box", (0.05, 0.05, 0.05), mass=0.05)
    for gap, want in ((0.0, 0.0), (-0.002, 0.002)):
        centre = c[i].clone()
        centre[2] -= float(r[i]) + gap + 0.025  # box top face at the sphere's bottom (+ gap)
        placed = GraspProposer("dexsafe_hand", dtype=torch.float64).energy_for([ObjectPose(box, tuple(
            centre.tolist()))], None).objects[0]
        got = float(torch.relu(r[i] - placed.query(c[i][None, None])[0]).max())
        assert got == pytest.approx(want, abs=1e-6)


def _geom_sdf(kind: int, size: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Exact signed distance of points ``p`` (N, 3) to a geom in its own frame, m."""
    import mujoco

    G = mujoco.mjtGeom
    if kind == G.mjGEOM_SPHERE:
        return np.linalg.norm(p, axis=1) - size[0]
    if kind == G.mjGEOM_CAPSULE:
        c = np.zeros_like(p)
        c[:, 2] = np.clip(p[:, 2], -size[1], size[1])
        return np.linalg.norm(p - c, axis=1) - size[0]
    if kind == G.mjGEOM_CYLINDER:
        d = np.stack([np.linalg.norm(p[:, :2], axis=1) - size[0], np.abs(p[:, 2]) - size[1]], 1)
        return np.minimum(d.max(1), 0) + np.linalg.norm(np.maximum(d, 0), axis=1)
    q = np.abs(p) - size[:3]
    return np.minimum(q.max(1), 0) + np.linalg.norm(np.maximum(q, 0), axis=1)


@pytest.mark.parametrize("kind, size", [
    ("sphere", (0.012, 0, 0)), ("capsule", (0.01, 0.03, 0)), ("box", (0.0204, 0.056, 0.055)),
    ("box", (0.01, 0.012, 0.03)), ("cylinder", (0.01, 0.03, 0)), ("cylinder", (0.03, 0.01, 0)),
])
def test_penetration_spheres_stay_inside_and_cover_each_geom_kind(kind, size):
    """Every sphere lies inside its geom (a sphere poking out reads depth where the link only
    touches) and the geom's surface is within the stated rounding of some sphere."""
    import mujoco

    from dexsafe.grasping import hand_model as hm

    k = getattr(mujoco.mjtGeom, f"mjGEOM_{kind.upper()}")
    size = np.asarray(size, float)
    centres, radii = hm._penetration_spheres(k, size)
    assert np.all(_geom_sdf(k, size, centres) <= -radii + 1e-9)
    pts, _ = hm._sample_geom(k, size, 4000, None)
    gap = (np.linalg.norm(pts[:, None] - centres[None], axis=-1) - radii[None]).min(1)  # > 0: uncovered
    rounding = hm.BOX_EDGE_RADIUS * (3 ** 0.5 - 1) if kind in ("box", "cylinder") else 0.035 * size[0]
    assert gap.max() <= rounding + 1e-9, gap.max()
