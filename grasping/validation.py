"""Physics checks of grasp proposals in MuJoCo (the hand composed as ``dexsafe.sim`` does).

The gravity test and the squeeze before the lift hold the wrist kinematically: every physics
step the six wrist joints are reset to the commanded pose (the arm is assumed perfect); MuJoCo's
position servos drive the fingers. The finger commands (``grasp_controls``) grip as a hand
controller would:

- **push**: a few gradient steps on ``sum_k |x_k(theta) - (x_k - (phi_k + d) n_k)|^2`` move each
  contact onto its object (``phi_k``: how far it hovers) and ``d`` (``push_depth``, DexGraspNet's
  1 mm) into it along the object's normal ``n_k``;
- **squeeze**: on top, the command offsets under which the servos press every contact into its
  object with ``squeeze_force`` N (``squeeze_offsets``: joint torques ``sum_k J_k^T (-F n_k)``,
  within each actuator's force range). DexGraspNet squeezes by pushing 1 mm with PD gain 1000;
  a real hand's servos are far softer (the dexsafe hand's: 3 N m/rad), so a push alone leaves the
  grip at whatever force the push happens to give (about 1 N for 6 mm on the dexsafe hand). The
  default 3 N per contact holds about twice the weight of the heaviest object in the project's
  scenes (0.15 kg) between two contacts with friction 0.9.

1. **Gravity test** (DexGraspNet): per direction ``g`` in {+-x, +-y, +-z}, table and floor
   collisions off, the fingers settle for ``settle_time`` s without gravity, then gravity
   ``9.81 g`` acts for ``gravity_time`` s. An object passes a direction if it still touches
   the hand and moved less than ``max_shift`` m; it passes the test if it passes all six.
2. **Close and lift**: table on, gravity down; fingers grip as above, then the
   wrist's servos raise it ``lift_height`` m over ``lift_time`` s and hold ``hold_time`` s (the
   wrist is not pinned here: MuJoCo does not carry objects by friction on a teleported hand). It passes if
   every object rose at least half the lift height (MultiGrasp's success: all objects lifted).

The wrist's own hinge limits are lifted for these checks (the pose is pinned); whether the
proposal's wrist angles are within the hand description's limits is reported separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np
import torch

from dexsafe.grasping.hand_model import HandModel
from dexsafe.grasping.proposals import ObjectPose, Proposal
from dexsafe.sim.compose import HAND_PREFIX, build_scene_model
from dexsafe.sim.geometry import xyzw_to_wxyz
from dexsafe.sim.scene_spec import SceneSpec, TableSpec

DIRECTIONS = {"+x": (1, 0, 0), "-x": (-1, 0, 0), "+y": (0, 1, 0), "-y": (0, -1, 0), "+z": (0, 0, 1), "-z": (0, 0, -1)}
GRAVITY = 9.81


@dataclass
class ValidationResult:
    gravity: dict[str, dict[str, bool]] = field(default_factory=dict)  # object -> direction -> passed
    lift_rise: dict[str, float] = field(default_factory=dict)  # object -> rise after the lift, m
    lift_height: float = 0.1
    wrist_reachable: bool = True
    depth: float = 0.0  # deepest hand-object penetration MuJoCo finds at the proposal's pose, m

    @property
    def gravity_passed(self) -> dict[str, bool]:
        return {o: all(d.values()) for o, d in self.gravity.items()}

    @property
    def lift_passed(self) -> bool:
        return bool(self.lift_rise) and all(r >= 0.5 * self.lift_height for r in self.lift_rise.values())

    @property
    def passed(self) -> bool:
        return all(self.gravity_passed.values()) and self.lift_passed

    def summary(self) -> str:
        parts = []
        for o, dirs in self.gravity.items():
            failed = [d for d, ok in dirs.items() if not ok]
            parts.append(f"{o}: gravity {6 - len(failed)}/6" + (f" (lost {','.join(failed)})" if failed else ""))
        rises = ", ".join(f"{o} {100 * r:.1f} cm" for o, r in self.lift_rise.items())
        parts.append(f"lift {'ok' if self.lift_passed else 'FAILED'} ({rises} of {100 * self.lift_height:.0f} cm)")
        parts.append(f"MuJoCo penetration {1000 * self.depth:.1f} mm")
        if not self.wrist_reachable:
            parts.append("wrist angles outside the wrist's limits")
        return "; ".join(parts)


class GraspValidator:
    """MuJoCo checks for proposals on one object set (the model is built once and reused)."""

    def __init__(self, hand: HandModel, objects: list[ObjectPose], table_height: float = 0.4,
                 table_size: tuple[float, float] = (0.8, 0.6), *, push_depth: float = 0.001,
                 squeeze_force: float = 3.0,
                 settle_time: float = 0.2, gravity_time: float = 0.6, max_shift: float = 0.02,
                 lift_height: float = 0.1, lift_time: float = 0.6, hold_time: float = 0.3):
        self.hand, self.objects = hand, list(objects)
        self.push_depth, self.squeeze_force = push_depth, squeeze_force
        self.settle_time, self.gravity_time = settle_time, gravity_time
        self.max_shift, self.lift_height, self.lift_time, self.hold_time = max_shift, lift_height, lift_time, hold_time
        specs = tuple(o.spec for o in objects)
        scene = SceneSpec(name="grasp_validation", hand=hand.description.name,
                          table=TableSpec(table_size, table_height), workspace_min=(-3.0, -3.0, 0.0),
                          workspace_max=(3.0, 3.0, 3.0), objects=specs)
        self.sm = build_scene_model(scene, hand.description)
        self.model = self.sm.model
        self.data = mujoco.MjData(self.model)
        m = self.model
        for j in self.sm.joint_ids[3:6]:
            m.jnt_limited[j] = 0
        self._world_geoms = [self.sm.table_geom_id, self.sm.floor_geom_id]
        self._world_bits = {g: (int(m.geom_contype[g]), int(m.geom_conaffinity[g])) for g in self._world_geoms}
        self._obj_body = {o.id: self.sm.object_body_ids[o.id] for o in objects}
        self._hand_body = {name: m.body(HAND_PREFIX + name).id for name in hand.body_names
                           if mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, HAND_PREFIX + name) >= 0}

    # --- helpers ----------------------------------------------------------------------------
    def pushed_joints(self, p: Proposal, depth: float) -> np.ndarray:
        """Joint targets that move each contact onto its object and ``depth`` m further in, along the
        object's normal (a contact that hovers ``phi`` m off the surface moves ``phi + depth``)."""
        hand = self.hand
        q = torch.tensor(p.q, dtype=hand.dtype)[None]
        cpi = torch.tensor(p.contact_indices)[None]
        cpw = torch.tensor(p.contact_weights, dtype=hand.dtype)[None]
        with torch.no_grad():
            x0, _ = hand.contact_points(hand.forward_kinematics(q), cpi, cpw)
        n = torch.tensor(np.array([c.normal for c in p.contacts]), dtype=hand.dtype)[None]
        phi = torch.tensor([max(c.distance, 0.0) for c in p.contacts], dtype=hand.dtype)[None, :, None]
        goal = x0 - (phi + depth) * n
        theta = q[:, 9:].clone().requires_grad_(True)
        opt = torch.optim.Adam([theta], lr=0.01)
        for _ in range(40):
            opt.zero_grad()
            x, _ = hand.contact_points(hand.forward_kinematics(torch.cat([q[:, :9], theta], 1)), cpi, cpw)
            ((x - goal) ** 2).sum().backward()
            opt.step()
        th = theta.detach()[0]
        return th.clamp(hand.joint_lower, hand.joint_upper).double().numpy()

    def squeeze_offsets(self, p: Proposal, force: float) -> np.ndarray:
        """Finger control offsets (command order, commanded joints) under which the position servos,
        once the fingers rest on the objects, press each contact into its object with ``force`` N.

        The joint torques are ``tau = sum_k J_k^T (-force n_k)`` (``J_k``: MuJoCo's translational
        Jacobian at contact ``k`` in the proposal's pose, ``n_k`` the object's outward normal); the
        actuator forces ``u`` solve ``M^T u = tau`` in least squares (``M``: the finger actuators'
        moment arms, so tendon-coupled fingers are handled), clipped to each actuator's force
        range; a position servo of gain ``kp`` pushes ``u`` when its command leads its joint by ``u / kp``.
        """
        m, d, sm = self.model, self.data, self.sm
        self._reset(p, p.joint_positions)
        fingers = np.concatenate([sm.dof_adr[6:], sm.passive_dof_adr]).astype(int)
        tau = np.zeros(m.nv)
        jac = np.zeros((3, m.nv))
        for c in p.contacts:
            mujoco.mj_jac(m, d, jac, None, np.asarray(c.position, float), self._hand_body[c.link])
            tau += jac.T @ (-force * np.asarray(c.normal, float))
        moment = np.zeros((m.nu, m.nv))
        mujoco.mju_sparse2dense(moment, d.actuator_moment, d.moment_rownnz, d.moment_rowadr, d.moment_colind)
        acts = sm.actuator_ids[6:]
        u = np.linalg.lstsq(moment[np.ix_(acts, fingers)].T, tau[fingers], rcond=None)[0]
        limited = m.actuator_forcelimited[acts].astype(bool)
        lo, hi = m.actuator_forcerange[acts, 0], m.actuator_forcerange[acts, 1]
        u = np.where(limited, np.clip(u, lo, hi), u)
        return u / m.actuator_gainprm[acts, 0]

    def grasp_controls(self, p: Proposal) -> np.ndarray:
        """Finger commands for the checks: the contacts pushed ``push_depth`` m in, plus the
        ``squeeze_force`` offsets (full joint vector; passive joints as pushed)."""
        theta = self.pushed_joints(p, self.push_depth)
        nc = self.hand.num_commanded
        theta[:nc] += self.squeeze_offsets(p, self.squeeze_force)
        return theta

    def _reset(self, p: Proposal, theta: np.ndarray) -> np.ndarray:
        m, d, sm = self.model, self.data, self.sm
        mujoco.mj_resetData(m, d)
        nc = self.hand.num_commanded
        wrist = np.concatenate([p.hand_position, p.wrist_rpy])
        d.qpos[sm.qpos_adr] = np.concatenate([wrist, p.joint_positions[:nc]])
        if len(sm.passive_qpos_adr):
            d.qpos[sm.passive_qpos_adr] = p.joint_positions[nc:]
        d.ctrl[sm.actuator_ids] = np.concatenate([wrist, theta[:nc]])
        for o in self.objects:
            adr = sm.object_qpos_adr[o.id]
            d.qpos[adr:adr + 3] = o.position
            d.qpos[adr + 3:adr + 7] = xyzw_to_wxyz(o.quat_xyzw)
        mujoco.mj_forward(m, d)
        return wrist

    def _run(self, wrist: np.ndarray, seconds: float, lift: tuple[float, float] | None = None,
             pin: bool = True) -> None:
        """Step ``seconds`` with the wrist commanded to ``wrist`` (optionally rising linearly
        ``lift = (h0, h1)``); ``pin``: also reset the wrist joints to the command every step."""
        m, d, sm = self.model, self.data, self.sm
        n = max(1, int(round(seconds / m.opt.timestep)))
        for i in range(n):
            w = wrist.copy()
            if lift is not None:
                w[2] += lift[0] + (lift[1] - lift[0]) * i / n
            if pin:
                d.qpos[sm.qpos_adr[:6]] = w
                d.qvel[sm.dof_adr[:6]] = 0.0
            d.ctrl[sm.actuator_ids[:6]] = w
            mujoco.mj_step(m, d)

    def _hand_object_contacts(self) -> list[tuple[str, float]]:
        """(object id, signed distance m) of each current hand-object contact."""
        m, d, sm = self.model, self.data, self.sm
        body_to_obj = {b: o for o, b in self._obj_body.items()}
        out = []
        for i in range(d.ncon):
            c = d.contact[i]
            b1, b2 = int(m.geom_bodyid[c.geom[0]]), int(m.geom_bodyid[c.geom[1]])
            if sm.hand_body_mask[b1] and b2 in body_to_obj:
                out.append((body_to_obj[b2], float(c.dist)))
            elif sm.hand_body_mask[b2] and b1 in body_to_obj:
                out.append((body_to_obj[b1], float(c.dist)))
        return out

    def _touching(self) -> set[str]:
        return {o for o, _ in self._hand_object_contacts()}

    def penetration_depth(self, p: Proposal) -> float:
        """Deepest hand-object penetration at the proposal's pose (before any physics step), as
        MuJoCo's collision detection measures it, m (0 when nothing overlaps)."""
        self._reset(p, p.joint_positions)
        return max([0.0] + [-dist for _, dist in self._hand_object_contacts()])

    def _obj_pos(self) -> dict[str, np.ndarray]:
        return {o: self.data.xpos[b].copy() for o, b in self._obj_body.items()}

    def _world_collisions(self, on: bool) -> None:
        for g, (ct, ca) in self._world_bits.items():
            self.model.geom_contype[g], self.model.geom_conaffinity[g] = (ct, ca) if on else (0, 0)

    # --- the checks -------------------------------------------------------------------------
    def validate(self, p: Proposal) -> ValidationResult:
        m = self.model
        res = ValidationResult(lift_height=self.lift_height, wrist_reachable=p.wrist_reachable,
                               depth=self.penetration_depth(p))
        grip = self.grasp_controls(p)
        res.gravity = {o.id: {} for o in self.objects}
        try:
            self._world_collisions(False)
            for name, g in DIRECTIONS.items():
                wrist = self._reset(p, grip)
                m.opt.gravity[:] = 0.0
                self._run(wrist, self.settle_time)
                start = self._obj_pos()
                m.opt.gravity[:] = GRAVITY * np.asarray(g, float)
                self._run(wrist, self.gravity_time)
                end, touching = self._obj_pos(), self._touching()
                for o in res.gravity:
                    res.gravity[o][name] = bool(o in touching and np.linalg.norm(end[o] - start[o]) < self.max_shift)
        finally:
            self._world_collisions(True)
            m.opt.gravity[:] = (0.0, 0.0, -GRAVITY)
        wrist = self._reset(p, grip)
        self._run(wrist, self.settle_time)
        start = self._obj_pos()
        # The lift is driven by the wrist's servos, as the executor lifts: a wrist teleported up
        # step by step does not carry objects by friction in MuJoCo (grasps that hold under the
        # servo-driven lift were lost), so only the static checks pin it.
        self._run(wrist, self.lift_time, (0.0, self.lift_height), pin=False)
        wrist_up = wrist.copy()
        wrist_up[2] += self.lift_height
        self._run(wrist_up, self.hold_time, pin=False)
        end = self._obj_pos()
        res.lift_rise = {o: float(end[o][2] - start[o][2]) for o in start}
        return res


def validate_proposals(hand: HandModel, objects: list[ObjectPose], proposals: list[Proposal],
                       table_height: float = 0.4, **kwargs) -> list[ValidationResult]:
    """Validate each proposal (attaching the result as ``proposal.validation``); returns the results."""
    v = GraspValidator(hand, objects, table_height, **kwargs)
    out = []
    for p in proposals:
        p.validation = v.validate(p)
        out.append(p.validation)
    return out


def validated_first(proposals: list[Proposal]) -> list[Proposal]:
    """The proposals that pass the filter and hold in MuJoCo first, the rest after; each group in
    its given order (the proposer's ranking)."""
    def holds(p: Proposal) -> bool:
        return bool(p.passed_filter and p.validation is not None and p.validation.passed)
    return [p for p in proposals if holds(p)] + [p for p in proposals if not holds(p)]
