"""Multi-object grasp proposals: initialise, optimise, filter, rank (MultiGrasp stage 1).

``GraspProposer(hand, config).propose(objects, num=..., time_budget=..., seed=...)`` runs a
batch of ``config.batch`` samples (or ``batch=``) through ``dexsafe.grasping.optimizer``,
evaluates the final energy without normal noise, applies the paper's filter
(``FilterConfig``) and returns the ``num`` best as ``Proposal``s: those that pass the filter
first, each group by total energy (lower first). ``score = 1 / (1 + E)`` in (0, 1].

Initialisation (per sample): palm facing down (``hand_base`` rotation = yaw about world z,
then a tilt about a random horizontal axis, uniform in ``[0, tilt_max]``), rot6d plus
``N(0, rot6d_noise^2)``; the palm centre above the objects' centroid (``xy_jitter``) and
``clearance`` above the tallest object's top (its bounding sphere); joints uniform in the
lowest ``joint_fraction`` of their ranges; ``K`` distinct contact candidates per object,
drawn at random; corner logits zero (patch centres).

Frames and units: ``world``, m, rad; quaternions ``(x, y, z, w)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from dexsafe.grasping.config import GraspConfig, load_config
from dexsafe.grasping.contact_assignment import nearest_contacts
from dexsafe.grasping.energy import TERM_NAMES, EnergyTerms, GraspEnergy
from dexsafe.grasping.hand_model import HandModel
from dexsafe.grasping.object_sdf import PlacedObject, make_sdf
from dexsafe.grasping.optimizer import OptimResult, OptimState, Progress, optimise
from dexsafe.grasping.rotation import (
    axis_angle_to_matrix,
    matrix_to_quat_xyzw,
    matrix_to_rot6d,
    quat_xyzw_to_matrix,
    rot6d_to_matrix,
    wrist_euler_candidates,
)
from dexsafe.sim.hands import HandDescription
from dexsafe.sim.scene_spec import ObjectSpec

MAX_PROPOSALS = 256
MAX_BATCH = 4096


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class GraspRequestError(ValueError):
    """A proposal request that cannot be served (no objects, bad counts or budgets, bad poses)."""


@dataclass(frozen=True)
class ObjectPose:
    """An object and its pose in ``world``: ``position`` m, ``quat_xyzw`` unit quaternion."""

    spec: ObjectSpec
    position: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class Contact:
    object_id: str
    link: str  # hand body (its name in the hand's model file)
    position: np.ndarray  # world, m
    normal: np.ndarray  # object's outward normal at the contact, world
    distance: float  # signed distance to the object, m (negative = inside)


@dataclass
class Proposal:
    id: str
    object_ids: list[str]
    hand_position: np.ndarray  # hand_base in world, m
    hand_quat_xyzw: np.ndarray
    wrist_rpy: np.ndarray  # the wrist hinges for this orientation, rad (see rotation.wrist_euler_candidates)
    wrist_reachable: bool  # wrist_rpy within the hand description's wrist limits
    joint_names: list[str]  # commanded finger joints, then passive ones
    joint_positions: np.ndarray  # rad
    contacts: list[Contact]
    energy: dict[str, tuple[float, float]]  # name -> (weighted value, weight)
    energy_total: float
    score: float
    passed_filter: bool
    filter_failures: list[str]
    metrics: dict[str, float]  # fc_max, contact_distance_max (m), max_depth (m), joint_energy
    q: np.ndarray  # the optimiser's variables [t, r6, theta]
    contact_indices: np.ndarray  # (O*K,) contact candidate index of each contact
    contact_weights: np.ndarray  # (O*K, 4) corner logits of each contact
    validation: object | None = None  # dexsafe.grasping.validation.ValidationResult once validated

    def command(self, num_commanded: int) -> np.ndarray:
        """The hand command vector: wrist x, y, z, roll, pitch, yaw, then commanded finger joints."""
        return np.concatenate([self.hand_position, self.wrist_rpy, self.joint_positions[:num_commanded]])


@dataclass
class ProposalSet:
    proposals: list[Proposal]
    batch: int
    accepted: int  # samples that passed the filter
    seconds: float
    optim: OptimResult
    terms: EnergyTerms | None = field(default=None, repr=False)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.batch if self.batch else 0.0


def place_objects(objects: list[ObjectPose], voxel_resolution: int = 32, dtype=torch.float32,
                  device: torch.device | str = "cpu") -> list[PlacedObject]:
    """SDFs of the objects at their poses."""
    out = []
    for o in objects:
        R = quat_xyzw_to_matrix(o.quat_xyzw)
        out.append(PlacedObject(o.id, o.spec, make_sdf(o.spec, voxel_resolution),
                                torch.tensor(o.position, dtype=dtype, device=device),
                                torch.tensor(R, dtype=dtype, device=device)))
    return out


def check_request(objects: list[ObjectPose], num: int, time_budget: float, batch: int) -> None:
    """Raise ``GraspRequestError`` for requests the optimiser cannot serve."""
    if not objects:
        raise GraspRequestError("no objects to grasp")
    ids = [o.id for o in objects]
    if len(set(ids)) != len(ids):
        raise GraspRequestError(f"duplicate object ids {ids}")
    if not 1 <= int(num) <= MAX_PROPOSALS:
        raise GraspRequestError(f"num_proposals = {num} is outside [1, {MAX_PROPOSALS}]")
    if not (isinstance(time_budget, (int, float)) and math.isfinite(time_budget) and 0 < time_budget <= 600):
        raise GraspRequestError(f"time_budget = {time_budget} s is outside (0, 600] s")
    if not 1 <= int(batch) <= MAX_BATCH:
        raise GraspRequestError(f"batch = {batch} is outside [1, {MAX_BATCH}]")
    for o in objects:
        p, q = np.asarray(o.position, float), np.asarray(o.quat_xyzw, float)
        if p.shape != (3,) or q.shape != (4,) or not (np.all(np.isfinite(p)) and np.all(np.isfinite(q))):
            raise GraspRequestError(f"object {o.id!r}: pose must be 3 + 4 finite numbers")
        if abs(np.linalg.norm(q) - 1) > 1e-3:
            raise GraspRequestError(f"object {o.id!r}: orientation is not a unit quaternion")


def resolve_device(name: str | torch.device) -> tuple[torch.device, str | None]:
    """The torch device for ``name`` (``cpu``, ``cuda``, ``cuda:1``), or the CPU and the reason
    ``name`` cannot be used here (a typo, no CUDA in this torch build, no such GPU)."""
    cpu = torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        return cpu, f"device {name!r} is not a torch device ({exc})"
    if dev.type == "cpu":
        return dev, None
    if dev.type != "cuda":
        return cpu, f"device {name!r}: only cpu and cuda are supported"
    if not torch.cuda.is_available():
        return cpu, f"device {name!r}: this torch has no usable CUDA"
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        return cpu, f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here"
    return dev, None


class GraspProposer:
    """Hand model + config, reused across requests. ``config``: a ``GraspConfig``, a profile name or a path.

    ``device``: where the optimiser runs (``"cpu"``, ``"cuda"``, ...). Initial states and all random
    numbers are drawn on the CPU from the request's seed, so a seed gives the same samples on any
    device; results come back on the CPU.
    """

    def __init__(self, hand: HandDescription | str = "dexsafe_hand", config: GraspConfig | str | None = None,
                 dtype: torch.dtype = torch.float32, voxel_resolution: int = 32, threads: int = 1,
                 device: torch.device | str = "cpu"):
        self.threads = int(threads)
        self.device = torch.device(device)
        self.config = config if isinstance(config, GraspConfig) else load_config(config or "fast_cpu")
        h = self.config.hand
        self.hand = HandModel(hand, contact_density=h.contact_density, surface_density=h.surface_density,
                              patch_size=h.patch_size, palmar_cos=h.palmar_cos, palm_contacts=h.palm_contacts,
                              dtype=dtype)
        self._device_hand = self.hand.to(self.device)
        self.dtype = dtype
        self.voxel_resolution = voxel_resolution

    # --- set-up -----------------------------------------------------------------------------
    def energy_for(self, objects: list[ObjectPose], table_height: float | None,
                   device: torch.device | str = "cpu") -> GraspEnergy:
        device = torch.device(device)
        hand = self._device_hand if device == self.device else self.hand.to(device)
        placed = place_objects(objects, self.voxel_resolution, self.dtype, device)
        return GraspEnergy(hand, placed, self.config.energy, self.config.hand.contacts_per_object, table_height)

    def initial_state(self, energy: GraspEnergy, batch: int, gen: torch.Generator) -> OptimState:
        cfg, hand, dt = self.config.init, self.hand, self.dtype
        B = batch
        yaw = (torch.rand(B, generator=gen, dtype=dt) * 2 - 1) * math.pi
        Rz = axis_angle_to_matrix(torch.stack([torch.zeros(B, dtype=dt), torch.zeros(B, dtype=dt), yaw], 1))
        phi = torch.rand(B, generator=gen, dtype=dt) * 2 * math.pi
        tilt = torch.rand(B, generator=gen, dtype=dt) * cfg.tilt_max
        axis = torch.stack([torch.cos(phi), torch.sin(phi), torch.zeros(B, dtype=dt)], 1)
        R = axis_angle_to_matrix(axis * tilt[:, None]) @ Rz
        r6 = matrix_to_rot6d(R) + cfg.rot6d_noise * torch.randn(B, 6, generator=gen, dtype=dt)
        lo, hi = hand.joint_lower, hand.joint_upper
        frac = cfg.joint_fraction_min + torch.rand(B, hand.num_joints, generator=gen, dtype=dt) * (
            cfg.joint_fraction - cfg.joint_fraction_min)
        theta = hand.satisfy_couplings(lo + frac * (hi - lo))
        q = torch.cat([torch.zeros(B, 3, dtype=dt), r6, theta], 1)
        # Palm centre in world for t = 0, then shift so it sits above the objects.
        palm = hand.body_names.index(hand.description.palm_body)
        fk = hand.forward_kinematics(q)
        centre = torch.tensor(hand.description.palm_center, dtype=dt)
        palm_w = hand.transform(fk, torch.tensor([palm]), centre[None])[:, 0]
        cen = energy.centres.mean(0)
        top = max(float(o.position[2]) + o.sdf.bounding_radius for o in energy.objects)
        target = torch.empty(B, 3, dtype=dt)
        target[:, :2] = cen[:2] + cfg.xy_jitter * torch.randn(B, 2, generator=gen, dtype=dt)
        target[:, 2] = top + cfg.clearance
        q[:, :3] = target - palm_w
        n_c = energy.num_contacts
        pool = hand.num_contact_candidates
        if cfg.contacts == "nearest":
            among = max(1, int(round(cfg.nearest_fraction * pool)))
            cpi = nearest_contacts(energy, q, among, gen)
        elif pool >= n_c:
            cpi = torch.rand(B, pool, generator=gen).argsort(1)[:, :n_c]
        else:
            cpi = torch.randint(0, pool, (B, n_c), generator=gen)
        cpw = torch.zeros(B, n_c, 4, dtype=dt)
        return OptimState(q, cpi, cpw)

    # --- the request ------------------------------------------------------------------------
    def propose(self, objects: list[ObjectPose], *, num: int = 8, batch: int | None = None,
                time_budget: float = 60.0, seed: int = 0, table_height: float | None = 0.4,
                progress: Progress | None = None) -> ProposalSet:
        """Optimise ``batch`` samples for ``objects`` within ``time_budget`` s; the ``num`` best, ranked.

        Runs torch on ``self.threads`` intra-op threads (default 1: the steps are small and
        overhead-bound, and more threads only contend on a shared CPU); restored afterwards.
        """
        saved = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            return self._propose(objects, num, batch, time_budget, seed, table_height, progress)
        finally:
            torch.set_num_threads(saved)

    def _propose(self, objects, num, batch, time_budget, seed, table_height, progress) -> ProposalSet:
        batch = int(batch or self.config.batch)
        batch = max(batch, int(num))
        check_request(objects, num, time_budget, batch)
        gen = torch.Generator().manual_seed(int(seed) % (2 ** 63))
        energy = self.energy_for(objects, table_height)
        st = self.initial_state(energy, batch, gen)
        run_energy = energy if self.device.type == "cpu" else self.energy_for(objects, table_height, self.device)
        res = optimise(run_energy, st.to(self.device), self.config, gen, time_budget, progress)
        with torch.no_grad():
            e, terms = run_energy.energy(res.state.q, res.state.cpi, res.state.cpw, normal_noise=0.0, rounding=0.0)
        res.state, e, terms = res.state.to("cpu"), e.cpu(), terms.to("cpu")
        ok, failures = self.filter(terms)
        order = sorted(range(batch), key=lambda i: (not bool(ok[i]), float(e[i])))
        props = [self._proposal(f"p{r}", i, energy, res.state, terms, e, bool(ok[i]), failures[i])
                 for r, i in enumerate(order[:num])]
        return ProposalSet(props, batch, int(ok.sum()), res.seconds, res, terms)

    def filter(self, t: EnergyTerms) -> tuple[torch.Tensor, list[list[str]]]:
        """MultiGrasp's filter: (B,) bool and, per sample, the names of the failed checks."""
        f = self.config.filter
        checks = {
            "force_closure": t.fc_per_object.max(1).values < f.max_fc,
            "contact_distance": t.contact_distance_per_object.max(1).values < f.max_contact_distance,
            "penetration": t.max_depth < f.max_penetration,
            "joint_limits": t.joint_limits < f.max_joint_energy,
        }
        ok = torch.stack(list(checks.values()), 0).all(0)
        fails = [[k for k, v in checks.items() if not bool(v[i])] for i in range(ok.shape[0])]
        return ok, fails

    def _proposal(self, pid, i, energy: GraspEnergy, st: OptimState, t: EnergyTerms, e, passed, failures):
        hand = self.hand
        q = st.q[i].detach().double()
        R = rot6d_to_matrix(q[3:9]).numpy()
        desc = hand.description
        lo, hi = np.array(desc.wrist.rotation_lower), np.array(desc.wrist.rotation_upper)
        cands = wrist_euler_candidates(R)
        good = [c for c in cands if np.all(c >= lo) and np.all(c <= hi)]
        rpy = good[0] if good else cands[0]
        K = energy.k
        contacts = []
        for c in range(energy.num_contacts):
            contacts.append(Contact(energy.objects[c // K].id, hand.body_names[int(hand.cand_body[st.cpi[i, c]])],
                                    t.contacts[i, c].double().numpy(), t.contact_normals[i, c].double().numpy(),
                                    float(t.contact_phi[i, c])))
        weighted = t.weighted(self.config.energy)
        total = float(e[i])
        return Proposal(
            id=pid, object_ids=[o.id for o in energy.objects], hand_position=q[:3].numpy(),
            hand_quat_xyzw=matrix_to_quat_xyzw(R), wrist_rpy=rpy, wrist_reachable=bool(good),
            joint_names=list(hand.joint_names), joint_positions=q[9:].numpy(), contacts=contacts,
            energy={k: (float(weighted[k][0][i]), float(weighted[k][1])) for k in TERM_NAMES},
            energy_total=total, score=1.0 / (1.0 + max(total, 0.0)), passed_filter=passed, filter_failures=failures,
            metrics={"fc_max": float(t.fc_per_object[i].max()),
                     "contact_distance_max": float(t.contact_distance_per_object[i].max()),
                     "max_depth": float(t.max_depth[i]), "joint_energy": float(t.joint_limits[i])},
            q=q.numpy(), contact_indices=st.cpi[i].numpy().copy(), contact_weights=st.cpw[i].double().numpy())


def scene_object_poses(scene, seed: int | None = None) -> list[ObjectPose]:
    """The objects of a ``SceneSpec`` at their default placement (the scene's seed), resting on the table."""
    from dexsafe.sim.compose import object_geometry
    from dexsafe.sim.geometry import wxyz_to_xyzw, yaw_to_wxyz
    from dexsafe.sim.placement import sample_placements

    geometry = {o.id: object_geometry(o) for o in scene.objects}
    placements = sample_placements(scene, geometry, scene.seed if seed is None else seed)
    out = []
    for o in scene.objects:
        pl = placements[o.id]
        z = scene.table.height + geometry[o.id].half_height
        out.append(ObjectPose(o, (float(pl.x), float(pl.y), float(z)), tuple(float(v) for v in
                                                                             wxyz_to_xyzw(yaw_to_wxyz(pl.yaw)))))
    return out


def side_by_side_poses(specs: list[ObjectSpec], table_height: float, gap: float = 0.02) -> list[ObjectPose]:
    """Objects upright on the table in a row along world y, centred on the origin, footprints ``gap`` m
    apart (MultiGrasp samples its object pairs within a few cm of each other)."""
    from dexsafe.sim.compose import object_geometry

    geo = [object_geometry(s) for s in specs]
    widths = [2 * g.footprint_radius for g in geo]
    total = sum(widths) + gap * (len(specs) - 1)
    y = -total / 2
    out = []
    for s, g, w in zip(specs, geo, widths):
        out.append(ObjectPose(s, (0.0, y + w / 2, table_height + g.half_height)))
        y += w + gap
    return out
