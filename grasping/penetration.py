"""Penetration depths of the grasp energy, computed only where they can be nonzero (torch, batched).

Each function returns, per sample, the summed depth (B,) (differentiable, m) and the deepest (B,)
(no gradient, m). Almost every hand sphere is centimetres from every object and from the other
links, so each function first finds, without autograd, the (sample, element) pairs that can touch
(a cheap bound that never misses one: a sphere farther from an object's centre than its bounding
radius plus the sphere's radius cannot reach it), then evaluates the exact depth on those alone.
The results equal the dense sums: the pairs left out contribute exactly 0 and no gradient. The
dense sums were most of a CPU optimiser step; with the depth-batched kinematics
(``HandModel.forward_kinematics``, ``lifted_points``) a bench pair's run went from 57 s to 20 s.
(``points_in_boxes`` uses the exact inside test itself as the filter: a flat box's bounding sphere
holds far more points than the box.)
"""

from __future__ import annotations

import torch

from dexsafe.grasping.object_sdf import PlacedObject

BOUND_SLACK = 1e-3  # m added to every "can it touch" bound, against rounding in the bound itself


def _per_sample(depth: torch.Tensor, sample: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum (B,) and max (B,; detached) of ``depth`` (M,) over the rows of each sample ``sample`` (M,)."""
    total = depth.new_zeros(batch).index_add(0, sample, depth)
    deepest = depth.new_zeros(batch).scatter_reduce(0, sample, depth.detach(), "amax")
    return total, deepest


def spheres_in_object(obj: PlacedObject, centres: torch.Tensor,
                      radius: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Reach ``relu(r_s - phi(c_s))`` of spheres (centres (B, S, 3) in world, radii (S,) or a scalar, m)
    into ``obj``: summed and deepest per sample."""
    B, S = centres.shape[:2]
    r = radius.expand(S) if radius.dim() == 0 else radius
    with torch.no_grad():
        reach = obj.sdf.bounding_radius + r + BOUND_SLACK
        near = (centres - obj.position.to(centres)).norm(dim=-1) < reach
        sample, sphere = near.nonzero(as_tuple=True)
    c = centres.reshape(B * S, 3).index_select(0, sample * S + sphere)
    return _per_sample(torch.relu(r[sphere] - obj.distance(c)), sample, B)


def sphere_overlaps(centres: torch.Tensor, radius: torch.Tensor,
                    pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlap ``relu(r_a + r_b - |c_a - c_b|)`` of the sphere pairs ``pairs`` (P, 2) (centres
    (B, K, 3), radii (K,), m): summed and deepest per sample."""
    B, K = centres.shape[:2]
    checked = torch.zeros(K, K, dtype=torch.bool, device=centres.device)
    checked[pairs[:, 0], pairs[:, 1]] = True
    with torch.no_grad():
        # All K x K distances at once: several times faster than gathering the listed pairs.
        gap = torch.cdist(centres, centres, compute_mode="donot_use_mm_for_euclid_dist")
        reach = radius[:, None] + radius[None, :]
        sample, a, b = ((gap < reach + BOUND_SLACK) & checked).nonzero(as_tuple=True)
    flat = centres.reshape(B * K, 3)
    d = flat.index_select(0, sample * K + a) - flat.index_select(0, sample * K + b)
    return _per_sample(torch.relu(radius[a] + radius[b] - d.norm(dim=-1)), sample, B)


def points_in_boxes(points: torch.Tensor, centre: torch.Tensor, rot: torch.Tensor,
                    half: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Depth ``relu(-psi_g(p))`` of fixed world points ``points`` (N, 3) inside boxes (centres
    (B, G, 3), rotations box -> world (B, G, 3, 3), half extents (G, 3), m), over all boxes:
    summed and deepest per sample."""
    B, G = centre.shape[:2]
    with torch.no_grad():
        # The exact test, without autograd: a box's half-diagonal is a loose bound (a flat palm box
        # has tens of thousands of object points within it, about a hundred inside).
        local = (points[None, None] - centre[:, :, None]) @ rot  # (B, G, N, 3), rows: R^T (p - c)
        inside = (local.abs() - half[None, :, None]).amax(-1) < BOUND_SLACK
        sample, box, point = inside.nonzero(as_tuple=True)
    flat = sample * G + box
    c = centre.reshape(B * G, 3).index_select(0, flat)
    R = rot.reshape(B * G, 3, 3).index_select(0, flat)
    local = ((points[point] - c)[:, None] @ R)[:, 0]  # rows: R^T (p - c)
    return _per_sample(torch.relu(-(local.abs() - half[box]).amax(-1)), sample, B)
