"""MultiGrasp's grasp energy, per object where the paper does so (torch, batched).

For a batch of hand configurations ``q`` (``HandModel``), contact candidate indices ``cpi``
(B, O*K: K contacts for each of O objects, object-major) and corner logits ``cpw``
(B, O*K, 4), with ``phi_j``/``n_j`` the SDF and outward normal of object j:

- force closure, per object: ``FC_j = relu(|G_j n_j|^2 - m)`` with
  ``G_j = [I ... I; [x_1 - p_j]x ... [x_K - p_j]x]`` (6 x 3K), so
  ``|G_j n_j|^2 = |sum_k n_k|^2 + |sum_k (x_k - p_j) x n_k|^2``. ``n_k`` are the object's
  normals at the contacts plus ``N(0, sigma^2)`` noise, renormalised; with ``fc_rounding > 0``
  (a dexsafe option) the normals of the objects with rounded edges (``rounded_normal``), which
  vary along a flat face near its edges where the exact ones are constant (the filter evaluates
  with ``rounding=0``). Torques are taken about
  the object's centre ``p_j`` (MultiGrasp takes the world origin, which it keeps within a
  few cm of the objects; dexsafe's objects stand on a table 0.4 m up);
- contact distance: ``D = sum_j sum_k |phi_j(x_jk)|`` (m);
- penetration: ``P = sum_j sum_s relu(r_s - phi_j(s)) + sum_(a,b) relu(r_a + r_b - |k_a - k_b|)
  + sum_s relu(z_table - s_z + r_s)`` over the hand's penetration spheres ``(s, r_s)``
  (``HandModel.penetration_spheres``; with ``penetration: surface``, MultiGrasp's surface
  points with ``r_s = 0``) and self-penetration keypoint spheres ``(k, r)`` (m); with
  ``spheres``, plus ``sum_j sum_p relu(-psi_g(p))`` over object surface points ``p``
  (``object_sdf.surface_samples``, edges and corners included) inside each box geom ``g`` of the
  hand (``psi_g``: the box's signed distance): DexGraspNet's direction, exact where spheres are
  worst (a box's faces between spheres and its edges, e.g. a palm pressed onto a cylinder: up to
  3 mm shallow);
- joint limits: ``J = sum_i relu(theta_i - hi_i) + relu(lo_i - theta_i)`` plus the same hinge on
  the hand's joint couplings (``HandModel.joint_violation``: the Shadow Hand's tendon-coupled
  distal joints), rad.

``E = w_fc sum_j FC_j + w_dis D + w_pen P + w_joint J`` (weights from ``EnergyConfig``).
There is no object-object term (as in MultiGrasp: objects are fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from dexsafe.grasping.config import EnergyConfig
from dexsafe.grasping.hand_model import HandModel
from dexsafe.grasping.object_sdf import PlacedObject, surface_samples
from dexsafe.grasping.penetration import points_in_boxes, sphere_overlaps, spheres_in_object

TERM_NAMES = ("force_closure", "contact_distance", "penetration", "joint_limits")


@dataclass
class EnergyTerms:
    """Unweighted terms (B,) and the per-object / diagnostic quantities the filter needs."""

    force_closure: torch.Tensor  # sum_j FC_j
    contact_distance: torch.Tensor  # sum_j sum_k |phi|, m
    penetration: torch.Tensor  # object + self + table, m
    joint_limits: torch.Tensor  # rad
    fc_per_object: torch.Tensor  # (B, O)
    contact_distance_per_object: torch.Tensor  # (B, O): mean_k |phi_j(x_jk)|, m
    pen_object: torch.Tensor  # (B,) sum over objects and surface points, m
    pen_self: torch.Tensor
    pen_table: torch.Tensor
    max_depth: torch.Tensor  # (B,) deepest: hand point in an object, below the table, or self overlap, m
    contacts: torch.Tensor  # (B, O*K, 3) world, m
    contact_phi: torch.Tensor  # (B, O*K) signed distance of each contact to its object, m
    contact_normals: torch.Tensor  # (B, O*K, 3) object normals at the contacts (noise-free), world

    def to(self, device: torch.device | str) -> EnergyTerms:
        return EnergyTerms(**{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def weighted(self, cfg: EnergyConfig, w_dis: float | None = None) -> dict[str, tuple[torch.Tensor, float]]:
        """``{name: (weighted value (B,), weight)}`` for the four terms."""
        wd = cfg.w_dis if w_dis is None else w_dis
        return {"force_closure": (cfg.w_fc * self.force_closure, cfg.w_fc),
                "contact_distance": (wd * self.contact_distance, wd),
                "penetration": (cfg.w_pen * self.penetration, cfg.w_pen),
                "joint_limits": (cfg.w_joint * self.joint_limits, cfg.w_joint)}

    def total(self, cfg: EnergyConfig, w_dis: float | None = None) -> torch.Tensor:
        return sum(v for v, _ in self.weighted(cfg, w_dis).values())


class GraspEnergy:
    """Energy of grasps of ``objects`` (fixed, in ``world``) by ``hand``; ``table_height`` in m or ``None``."""

    def __init__(self, hand: HandModel, objects: list[PlacedObject], cfg: EnergyConfig,
                 contacts_per_object: int = 3, table_height: float | None = None):
        if not objects:
            raise ValueError("a grasp energy needs at least one object")
        self.hand, self.objects, self.cfg = hand, objects, cfg
        self.k = int(contacts_per_object)
        self.table_height = table_height if cfg.table else None
        self.centres = torch.stack([o.position.to(hand.dtype) for o in objects])  # (O, 3)
        # Object surface points in world (fixed), for the depth of the hand's box geoms in the objects.
        self.object_points = torch.cat([  # (N, 3), all objects'
            torch.tensor(surface_samples(o.spec), dtype=hand.dtype, device=o.position.device)
            @ o.rotation.to(hand.dtype).T + o.position.to(hand.dtype) for o in objects])

    @property
    def num_contacts(self) -> int:
        return self.k * len(self.objects)

    def terms(self, q: torch.Tensor, cpi: torch.Tensor, cpw: torch.Tensor,
              generator: torch.Generator | None = None, normal_noise: float | None = None,
              rounding: float | None = None) -> EnergyTerms:
        """All terms for a batch. ``normal_noise`` and ``rounding`` override the config's ``normal_noise``
        and ``fc_rounding`` (0 and 0 for the filter's deterministic evaluation with exact normals)."""
        hand, n_obj, K = self.hand, len(self.objects), self.k
        B = q.shape[0]
        fk = hand.forward_kinematics(q)
        x, _ = hand.contact_points(fk, cpi, cpw)  # (B, O*K, 3)
        xo = x.view(B, n_obj, K, 3)
        phis, normals = [], []
        for j, obj in enumerate(self.objects):
            phi, n = obj.query(xo[:, j])
            phis.append(phi)
            normals.append(n)
        phi = torch.stack(phis, 1)  # (B, O, K)
        n = torch.stack(normals, 1)  # (B, O, K, 3)
        sigma = self.cfg.normal_noise if normal_noise is None else normal_noise
        rounding = self.cfg.fc_rounding if rounding is None else rounding
        n_fc = n
        if rounding > 0:
            n_fc = torch.stack([obj.rounded_normal(xo[:, j], rounding) for j, obj in enumerate(self.objects)], 1)
        if sigma > 0:
            # Drawn on the generator's device (the CPU), so a seed gives the same grasps on any device.
            n_fc = n_fc + sigma * torch.randn(n.shape, generator=generator, dtype=n.dtype).to(n.device)
            n_fc = n_fc / n_fc.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        force = n_fc.sum(2)  # (B, O, 3)
        torque = torch.cross(xo - self.centres[None, :, None], n_fc, dim=-1).sum(2)
        fc = torch.relu((force * force).sum(-1) + (torque * torque).sum(-1) - self.cfg.fc_margin)  # (B, O)
        dis = phi.abs()
        if self.cfg.penetration == "spheres":
            surf, radius = hand.penetration_spheres(fk), hand.pen_radius.to(q)  # (B, S, 3), (S,)
        else:
            surf, radius = hand.surface_points(fk), torch.zeros((), dtype=q.dtype, device=q.device)
        pen_obj = torch.zeros(B, dtype=q.dtype, device=q.device)
        depth = torch.zeros(B, dtype=q.dtype, device=q.device)
        for obj in self.objects:
            total, deepest = spheres_in_object(obj, surf, radius)
            pen_obj = pen_obj + total
            depth = torch.maximum(depth, deepest)
        if self.cfg.penetration == "spheres" and len(hand.box_body):
            centre, rot = hand.box_frames(fk)
            total, deepest = points_in_boxes(self.object_points.to(centre), centre, rot, hand.box_half.to(centre))
            pen_obj = pen_obj + total
            depth = torch.maximum(depth, deepest)
        pen_self, deepest = sphere_overlaps(hand.keypoints(fk), hand.kp_radius.to(q), hand.kp_pairs.to(q.device))
        depth = torch.maximum(depth, deepest)
        if self.table_height is not None:
            below = torch.relu(self.table_height - (surf[..., 2] - radius))
            pen_table = below.sum(1)
            depth = torch.maximum(depth, below.max(1).values)
        else:
            pen_table = torch.zeros(B, dtype=q.dtype, device=q.device)
        joint = hand.joint_violation(q[:, 9:])
        return EnergyTerms(
            force_closure=fc.sum(1), contact_distance=dis.sum((1, 2)), penetration=pen_obj + pen_self + pen_table,
            joint_limits=joint, fc_per_object=fc, contact_distance_per_object=dis.mean(2), pen_object=pen_obj,
            pen_self=pen_self, pen_table=pen_table, max_depth=depth, contacts=x, contact_phi=phi.reshape(B, n_obj * K),
            contact_normals=n.reshape(B, n_obj * K, 3))

    def energy(self, q, cpi, cpw, generator=None, w_dis: float | None = None, normal_noise: float | None = None,
               rounding: float | None = None):
        """Total energy (B,) and the terms."""
        t = self.terms(q, cpi, cpw, generator, normal_noise, rounding)
        return t.total(self.cfg, w_dis), t
