"""The sparse penetration terms (``grasping.penetration``) equal the dense sums, values and gradients.

The dense forms are written out here as the energy's docstring states them: every sphere against
every object, every keypoint pair, every object point against every hand box.
"""

from __future__ import annotations

import pytest
import torch

from dexsafe.grasping.config import load_config
from dexsafe.grasping.penetration import points_in_boxes, sphere_overlaps, spheres_in_object
from dexsafe.grasping.proposals import GraspProposer, ObjectPose
from dexsafe.sim.scene_spec import ObjectSpec


def objects() -> list[ObjectPose]:
    box = ObjectSpec("box", "box", "box", (0.03, 0.02, 0.05), mass=0.05)
    cyl = ObjectSpec("cyl", "cylinder", "cylinder", (0.02, 0.05), mass=0.05)
    ball = ObjectSpec("ball", "ball", "sphere", (0.03,), mass=0.05)
    return [ObjectPose(box, (0.0, -0.05, 0.45), (0.0, 0.0, 0.38, 0.92)), ObjectPose(cyl, (0.0, 0.03, 0.45)),
            ObjectPose(ball, (0.05, 0.0, 0.43))]


@pytest.fixture(scope="module", params=["dexsafe_hand", "shadow_hand"])
def batch(request):
    """Hands from 4 cm into the objects to 4 cm above, random finger joints: some clear, some deep."""
    cfg = load_config("fast_cpu").replace(init={"clearance": 0.0})
    gp = GraspProposer(request.param, cfg, dtype=torch.float64)
    energy = gp.energy_for(objects(), 0.4)
    gen = torch.Generator().manual_seed(11)
    st = gp.initial_state(energy, 24, gen)
    st.q[:, 2] += torch.linspace(-0.04, 0.04, 24, dtype=torch.float64)
    lo, hi = gp.hand.joint_lower, gp.hand.joint_upper
    st.q[:, 9:] = lo + (hi - lo) * torch.rand(st.q[:, 9:].shape, generator=gen, dtype=torch.float64)
    return gp.hand, energy, st.q.clone().requires_grad_(True)


def check(sparse, dense, q):
    (gs,) = torch.autograd.grad(sparse[0].sum(), q, retain_graph=True)
    (gd,) = torch.autograd.grad(dense[0].sum(), q)
    assert (dense[0] > 0).sum() >= 3, "the batch should have samples that penetrate"
    torch.testing.assert_close(sparse[0], dense[0], rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(sparse[1], dense[1].detach(), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(gs, gd, rtol=1e-10, atol=1e-12)


def test_spheres_in_objects_equal_the_dense_sum(batch):
    hand, energy, q = batch
    def run(fn):
        fk = hand.forward_kinematics(q)
        surf = hand.penetration_spheres(fk)
        out = [fn(o, surf) for o in energy.objects]
        return sum(t for t, _ in out), torch.stack([d for _, d in out]).amax(0)
    def dense(o, surf):
        d = torch.relu(hand.pen_radius - o.distance(surf))
        return d.sum(1), d.max(1).values
    check(run(lambda o, s: spheres_in_object(o, s, hand.pen_radius)), run(dense), q)


def test_self_overlaps_equal_the_dense_sum(batch):
    hand, _, q = batch
    a, b = hand.kp_pairs[:, 0], hand.kp_pairs[:, 1]
    kp = hand.keypoints(hand.forward_kinematics(q))
    gap = (kp[:, a] - kp[:, b]).norm(dim=-1)
    ov = torch.relu(hand.kp_radius[a] + hand.kp_radius[b] - gap)
    check(sphere_overlaps(kp, hand.kp_radius, hand.kp_pairs), (ov.sum(1), ov.max(1).values), q)


def test_object_points_in_boxes_equal_the_dense_sum(batch):
    hand, energy, q = batch
    if not len(hand.box_body):
        pytest.skip("this hand has no box geoms")
    centre, rot = hand.box_frames(hand.forward_kinematics(q))
    pts = energy.object_points
    local = (pts[None, None] - centre[:, :, None]) @ rot
    d = torch.relu(-(local.abs() - hand.box_half[None, :, None]).amax(-1)).flatten(1)
    check(points_in_boxes(pts, centre, rot, hand.box_half), (d.sum(1), d.max(1).values), q)
