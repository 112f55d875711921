"""Object SDFs: signs, normals against finite differences, the voxel SDF against trimesh."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dexsafe.grasping.object_sdf import BoxSDF, CapsuleSDF, CylinderSDF, PlacedObject, SphereSDF, VoxelSDF, make_sdf
from dexsafe.sim.scene_spec import ObjectSpec

PRIMITIVES = [BoxSDF((0.04, 0.06, 0.08)), SphereSDF((0.03,)), CylinderSDF((0.025, 0.08)), CapsuleSDF((0.02, 0.05))]


@pytest.mark.parametrize("sdf", PRIMITIVES, ids=lambda s: s.shape)
def test_primitive_signs_and_normals(sdf):
    assert sdf(torch.zeros(1, 3, dtype=torch.float64))[0].item() < 0
    far = torch.tensor([[0.5, 0.0, 0.0]], dtype=torch.float64)
    assert sdf(far)[0].item() > 0.4
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.uniform(-0.07, 0.07, (400, 3)))
    phi, n = sdf(x)
    assert torch.allclose(n.norm(dim=-1), torch.ones(400, dtype=torch.float64), atol=1e-9)
    # Normals are the gradient of phi (central differences; skip points within h of a kink).
    h = 1e-6
    fd = torch.stack([(sdf(x + h * e)[0] - sdf(x - h * e)[0]) / (2 * h) for e in torch.eye(3, dtype=x.dtype)], -1)
    agree = (fd - n).norm(dim=-1) < 1e-4
    assert agree.float().mean() > 0.97


@pytest.mark.parametrize("sdf", PRIMITIVES, ids=lambda s: s.shape)
def test_distance_alone_equals_the_full_query(sdf):
    x = torch.tensor(np.random.default_rng(2).uniform(-0.07, 0.07, (300, 3))).requires_grad_(True)
    phi = sdf(x)[0]
    d = sdf.distance(x)
    assert torch.equal(phi, d)
    g1, = torch.autograd.grad(phi.sum(), x)
    g2, = torch.autograd.grad(d.sum(), x)
    assert torch.allclose(g1, g2)


def test_box_distance_values():
    box = BoxSDF((0.04, 0.06, 0.08))
    pts = torch.tensor([[0.03, 0, 0], [0.0, 0.0, 0.0], [0.03, 0.04, 0.0]], dtype=torch.float64)
    phi, n = box(pts)
    assert np.allclose(phi.numpy(), [0.01, -0.02, np.hypot(0.01, 0.01)], atol=1e-12)
    assert np.allclose(n[0].numpy(), [1, 0, 0])


def test_placed_object_uses_its_pose():
    spec = ObjectSpec("b", "b", "box", (0.02, 0.04, 0.06))
    c, s = np.cos(np.pi / 2), np.sin(np.pi / 2)
    R = torch.tensor([[c, -s, 0], [s, c, 0], [0, 0, 1.0]], dtype=torch.float64)  # yaw 90 deg
    obj = PlacedObject("b", spec, make_sdf(spec), torch.tensor([0.1, 0.0, 0.4], dtype=torch.float64), R)
    # After the yaw, the long (0.04) side lies along world x: 0.015 m along +x is inside, along +y outside.
    phi, n = obj.query(torch.tensor([[0.115, 0.0, 0.4], [0.1, 0.015, 0.4]], dtype=torch.float64))
    assert phi[0] < 0 and phi[1] > 0
    assert np.allclose(n[1].numpy(), [0, 1, 0], atol=1e-9)


def test_voxel_sdf_matches_trimesh(tmp_path, monkeypatch):
    trimesh = pytest.importorskip("trimesh")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.03)
    path = tmp_path / "ball.obj"
    mesh.export(path)
    v = VoxelSDF(str(path), 1.0, resolution=24, margin=0.01)
    rng = np.random.default_rng(2)
    pts = rng.uniform(-0.035, 0.035, (1500, 3))
    ref = -trimesh.proximity.signed_distance(mesh, pts)
    phi, n = v(torch.tensor(pts))
    err = np.abs(phi.numpy() - ref)
    assert err.max() < 2e-3 and np.median(err) < 3e-4
    clear = np.abs(ref) > 2e-3
    assert (np.sign(phi.numpy()[clear]) == np.sign(ref[clear])).all()
    radial = pts / np.linalg.norm(pts, axis=1, keepdims=True)
    assert np.median((n.numpy() * radial).sum(1)) > 0.99
    assert torch.allclose(v.distance(torch.tensor(pts)), phi)  # the phi-only path samples the same grid
    # Outside the grid the value keeps growing with distance.
    far = v(torch.tensor([[0.2, 0.0, 0.0]], dtype=torch.float64))[0].item()
    assert far == pytest.approx(0.2 - 0.03, abs=3e-3)


def test_rounded_normals_turn_near_edges_only():
    """``rounded_normal``: the exact normal on a face away from its edges, the normal of the box with
    edges rounded by ``rounding x`` the smallest half extent within that band (so it varies with x
    there), and exact at ``rounding = 0``."""
    box = BoxSDF((0.04, 0.06, 0.08))  # half extents 0.02, 0.03, 0.04: band r = 0.5 * 0.02 = 0.01
    d = torch.float64
    centre = torch.tensor([[0.0, 0.0, 0.04]], dtype=d)
    assert torch.allclose(box.rounded_normal(centre, 0.5), torch.tensor([[0.0, 0.0, 1.0]], dtype=d))
    near = torch.tensor([[0.015, 0.0, 0.04]], dtype=d)  # 5 mm from the +x edge of the top face
    n = box.rounded_normal(near, 0.5)
    assert torch.allclose(n, torch.tensor([[0.005, 0.0, 0.01]], dtype=d) / np.hypot(0.005, 0.01))
    assert torch.allclose(box.rounded_normal(near, 0.0), box(near)[1])
    x = near.clone().requires_grad_(True)
    g, = torch.autograd.grad(box.rounded_normal(x, 0.5)[0, 0], x)
    assert g[0, 0] > 0, "the normal turns further towards +x as the point nears the edge"
    cyl = CylinderSDF((0.02, 0.08))  # r = 0.02, hz = 0.04: band 0.5 * 0.02 = 0.01
    side = torch.tensor([[0.02, 0.0, 0.0]], dtype=d)
    assert torch.allclose(cyl.rounded_normal(side, 0.5), torch.tensor([[1.0, 0.0, 0.0]], dtype=d))
    rim = torch.tensor([[0.02, 0.0, 0.035]], dtype=d)  # 5 mm below the top rim
    assert torch.allclose(cyl.rounded_normal(rim, 0.5), torch.tensor([[0.01, 0.0, 0.005]], dtype=d)
                          / np.hypot(0.01, 0.005))
    ball = SphereSDF((0.03,))
    p = torch.tensor([[0.01, 0.02, 0.02]], dtype=d)
    assert torch.allclose(ball.rounded_normal(p, 0.5), ball(p)[1])
    yaw = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=d)
    placed = PlacedObject("b", None, box, torch.tensor([0.1, 0.0, 0.0], dtype=d), yaw)
    w = placed.position + near @ placed.rotation.T
    assert torch.allclose(placed.rounded_normal(w, 0.5), n @ placed.rotation.T)
