"""``MujocoBackend``: the default, embedded simulator behind ``SimBackend``.

One ``MjModel``/``MjData`` pair composed by ``dexsafe.sim.compose``. Physics
runs at ``timestep`` (default 2 ms, implicit-fast integrator, elliptic
friction cones). ``reset`` samples object poses for a seed, opens the hand
high above the table and settles the objects with a short drop test, so every
episode starts from rest. Units and frames: see ``dexsafe.sim.backend``.
"""

from __future__ import annotations

import math
import sys

import mujoco
import numpy as np

from dexsafe.sim.backend import Contact, JointState, ObjectState, SimBackend
from dexsafe.sim.camera import Intrinsics, depth_to_points
from dexsafe.sim.compose import CAMERAS, SceneModel, build_scene_model
from dexsafe.sim.geometry import xyzw_to_wxyz, yaw_to_wxyz
from dexsafe.sim.hands import HandDescription
from dexsafe.sim.placement import sample_placements
from dexsafe.sim.scene_spec import SceneSpec, load_scene

DROP_CLEARANCE = 0.002  # m above the table that objects are released from in the drop test


class MujocoBackend(SimBackend):
    """A scene in MuJoCo. ``scene``: a ``SceneSpec``, a scene name or a path; ``hand``: a
    ``HandDescription``, a name or a path (default: the scene's hand)."""

    def __init__(self, scene: SceneSpec | str = "two_blocks", hand: HandDescription | str | None = None, *,
                 timestep: float = 0.002, settle_time: float = 0.3, seed: int | None = None):
        self._scene = scene if isinstance(scene, SceneSpec) else load_scene(scene)
        self.sm: SceneModel = build_scene_model(self._scene, hand, timestep)
        self.model = self.sm.model
        self.data = mujoco.MjData(self.model)
        self.settle_time = float(settle_time)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._closed = False
        self._lo, self._hi = self.sm.ctrl_lower, self.sm.ctrl_upper
        self._obj_xyz_adr = np.array([[self.sm.object_qpos_adr[o] + k for k in range(3)] for o in self.object_ids],
                                     dtype=int).reshape(-1, 3)
        self.last_seed = self._scene.seed
        self.reset(seed)

    # --- description ------------------------------------------------------------------
    @property
    def hand(self) -> HandDescription:
        return self.sm.hand

    @property
    def scene(self) -> SceneSpec:
        return self._scene

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    @property
    def object_ids(self) -> list[str]:
        return self._scene.object_ids()

    @property
    def ctrl_lower(self) -> np.ndarray:
        """Lower actuator limits in command order (rad or m); a copy."""
        return self._lo.copy()

    @property
    def ctrl_upper(self) -> np.ndarray:
        """Upper actuator limits in command order (rad or m); a copy."""
        return self._hi.copy()

    @property
    def targets(self) -> np.ndarray:
        """The position targets currently applied, command order."""
        return self.data.ctrl[self.sm.actuator_ids].copy()

    def home_targets(self, wrist_xyz=None) -> np.ndarray:
        """Open hand, wrist level (roll = pitch = yaw = 0) at ``wrist_xyz`` (default: workspace
        centre in x, y and its top in z), command order."""
        s = self._scene
        if wrist_xyz is None:
            wrist_xyz = (0.5 * (s.workspace_min[0] + s.workspace_max[0]),
                         0.5 * (s.workspace_min[1] + s.workspace_max[1]), s.workspace_max[2])
        q = np.concatenate([np.asarray(wrist_xyz, float), np.zeros(3), self.hand.finger_open_posture()])
        return np.clip(q, self.ctrl_lower, self.ctrl_upper)

    def open_hand_above(self, object_ids=None, clearance: float = 0.05) -> np.ndarray:
        """Targets (command order) of the open hand with the palm centre above the objects' centroid
        (default: all objects) and the hand's lowest point ``clearance`` m above their tallest top;
        clipped to the workspace. Reads the hand's shape by forward kinematics; the state is unchanged."""
        ids = list(object_ids or self.object_ids)
        pos = self.object_positions()[[self.object_ids.index(o) for o in ids]]
        tops = [pos[i, 2] + self.sm.geometry[o].bounding_radius for i, o in enumerate(ids)]
        q = self.home_targets()
        m, d = self.model, mujoco.MjData(self.model)
        d.qpos[:] = self.data.qpos
        d.qpos[self.sm.qpos_adr] = q
        mujoco.mj_kinematics(m, d)
        hand_geoms = np.flatnonzero(self.sm.hand_body_mask[m.geom_bodyid] & (m.geom_contype > 0))
        low = np.min(d.geom_xpos[hand_geoms, 2] - m.geom_rbound[hand_geoms])
        b = self.sm.palm_body_id
        palm = d.xpos[b] + d.xmat[b].reshape(3, 3) @ np.asarray(self.hand.palm_center)
        q[0:2] = pos.mean(axis=0)[:2] - (palm - q[:3])[:2]
        q[2] = max(tops) + clearance + (q[2] - low)
        return np.clip(q, self.ctrl_lower, self.ctrl_upper)

    # --- control --------------------------------------------------------------------
    def _check_q(self, q, what: str) -> np.ndarray:
        try:
            arr = np.asarray(q, dtype=float).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: expected {self.hand.num_joints} numbers, got {q!r}") from exc
        if arr.shape[0] != self.hand.num_joints:
            raise ValueError(f"{what}: expected {self.hand.num_joints} values in the order {self.joint_names}, "
                             f"got {arr.shape[0]}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(f"{what}: non-finite value(s) for joint(s) {[self.joint_names[i] for i in bad]}")
        return arr

    def set_joint_targets(self, q) -> None:
        arr = self._check_q(q, "joint targets")
        self.data.ctrl[self.sm.actuator_ids] = np.clip(arr, self._lo, self._hi)

    def set_joint_positions(self, q) -> None:
        """Teleport the hand to ``q`` (command order, clipped to limits), at rest, and hold it there."""
        arr = np.clip(self._check_q(q, "joint positions"), self.ctrl_lower, self.ctrl_upper)
        self.data.qpos[self.sm.qpos_adr] = arr
        self.data.qvel[self.sm.dof_adr] = 0.0
        self.data.ctrl[self.sm.actuator_ids] = arr
        mujoco.mj_forward(self.model, self.data)

    def set_object_pose(self, object_id: str, position, orientation=None) -> None:
        """Teleport an object to ``position`` (m, world) and ``orientation`` (xyzw; default: keep), at rest."""
        if object_id not in self.sm.object_qpos_adr:
            raise KeyError(f"unknown object id {object_id!r}; scene has {self.object_ids}")
        adr, dof = self.sm.object_qpos_adr[object_id], self.sm.object_dof_adr[object_id]
        self.data.qpos[adr:adr + 3] = np.asarray(position, float)
        if orientation is not None:
            q = xyzw_to_wxyz(orientation)
            self.data.qpos[adr + 3:adr + 7] = q / np.linalg.norm(q)
        self.data.qvel[dof:dof + 6] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def step(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError(f"step(n): n must be >= 1, got {n}")
        mujoco.mj_step(self.model, self.data, nstep=int(n))

    # --- reset ------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        m, d, sm = self.model, self.data, self.sm
        seed = self._scene.seed if seed is None else int(seed)
        self.last_seed = seed
        mujoco.mj_resetData(m, d)
        home = self.home_targets()
        d.qpos[sm.qpos_adr] = home
        d.ctrl[sm.actuator_ids] = home
        placements = sample_placements(self._scene, sm.geometry, seed)
        h = self._scene.table.height
        for oid, p in placements.items():
            adr = sm.object_qpos_adr[oid]
            d.qpos[adr:adr + 3] = (p.x, p.y, h + sm.geometry[oid].half_height + DROP_CLEARANCE)
            d.qpos[adr + 3:adr + 7] = yaw_to_wxyz(p.yaw)
        mujoco.mj_forward(m, d)
        n_settle = max(1, int(round(self.settle_time / m.opt.timestep)))
        mujoco.mj_step(m, d, nstep=n_settle)
        qpos = d.qpos.copy()
        mujoco.mj_resetData(m, d)
        d.qpos[:] = qpos
        d.ctrl[sm.actuator_ids] = home
        mujoco.mj_forward(m, d)

    # --- sensing ----------------------------------------------------------------------
    def joint_state(self) -> JointState:
        sm, d = self.sm, self.data
        pos = np.concatenate([d.qpos[sm.qpos_adr], d.qpos[sm.passive_qpos_adr]])
        vel = np.concatenate([d.qvel[sm.dof_adr], d.qvel[sm.passive_dof_adr]])
        eff = np.concatenate([d.actuator_force[sm.actuator_ids], np.zeros(len(sm.passive_qpos_adr))])
        return JointState(self.joint_names + self.hand.passive_joints, pos, vel, eff)

    def object_states(self) -> list[ObjectState]:
        qpos, qvel = self.data.qpos, self.data.qvel  # each property access builds a view: read once
        out = []
        for oid in self.object_ids:
            adr, dof = self.sm.object_qpos_adr[oid], self.sm.object_dof_adr[oid]
            quat = qpos[adr + 3:adr + 7] / np.linalg.norm(qpos[adr + 3:adr + 7])
            # Free joint: linear velocity in world, angular velocity in the body frame (rotated in C).
            w_world = np.empty(3)
            mujoco.mju_rotVecQuat(w_world, qvel[dof + 3:dof + 6], quat)
            out.append(ObjectState(oid, qpos[adr:adr + 3].copy(), quat[[1, 2, 3, 0]], qvel[dof:dof + 3].copy(),
                                   w_world))
        return out

    def object_positions(self) -> np.ndarray:
        """(N, 3) object centres in world, m, in scene order."""
        return self.data.qpos[self._obj_xyz_adr]

    def palm_position(self) -> np.ndarray:
        """World position of the palm centre (``palm_center`` of the hand description), m.

        Like every body pose read from ``data`` after ``step``, it is the pose at the start of the
        last physics step (one step, 2 ms, behind ``joint_state``).
        """
        b = self.sm.palm_body_id
        return self.data.xpos[b] + self.data.xmat[b].reshape(3, 3) @ np.asarray(self.hand.palm_center)

    def fingertip_positions(self) -> np.ndarray:
        """(F, 3) world positions of the fingertip bodies' origins, m."""
        return self.data.xpos[self.sm.fingertip_body_ids].copy()

    def contacts(self) -> list[Contact]:
        m, d, sm = self.model, self.data, self.sm
        out = []
        f6 = np.zeros(6)
        for i in range(d.ncon):
            c = d.contact[i]
            b1, b2 = m.geom_bodyid[c.geom[0]], m.geom_bodyid[c.geom[1]]
            h1, h2 = sm.hand_body_mask[b1], sm.hand_body_mask[b2]
            if not (h1 or h2):
                continue
            mujoco.mj_contactForce(m, d, i, f6)
            normal = np.array(c.frame[:3])  # points from geom 0 to geom 1
            hand_b, other_b = (b1, b2) if h1 else (b2, b1)
            if hand_b == b2:  # the push on geom 1 is along +normal; on geom 0 along -normal
                n_hand = normal
            else:
                n_hand = -normal
            out.append(Contact(sm.body_labels[hand_b], sm.body_labels[other_b], np.array(c.pos),
                               n_hand, float(max(f6[0], 0.0)), float(math.hypot(f6[1], f6[2]))))
        return out

    def warning_count(self) -> int:
        """MuJoCo warnings (instability, contact buffer full, ...) since the last reset."""
        return int(sum(w.number for w in self.data.warning))

    # --- cameras ----------------------------------------------------------------------
    def _camera(self, camera: str | None) -> str:
        camera = camera or CAMERAS[0]
        if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            names = [self.model.camera(i).name for i in range(self.model.ncam)]
            raise ValueError(f"unknown camera {camera!r}; the scene has {names}")
        return camera

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        if self._closed:
            raise RuntimeError("backend is closed")
        if not (0 < width <= 1920 and 0 < height <= 1080):
            raise ValueError(f"image size {width}x{height} must be within 1920x1080")
        key = (int(width), int(height))
        if key not in self._renderers:
            self._renderers[key] = mujoco.Renderer(self.model, height=key[1], width=key[0])
        return self._renderers[key]

    def render_rgb(self, camera: str | None = None, width: int = 640, height: int = 480) -> np.ndarray:
        """Colour image, uint8 HxWx3, with shadows and reflections (slow in software GL: ~0.2 s at 320x240)."""
        cam = self._camera(camera)
        r = self._renderer(width, height)
        r.disable_depth_rendering()
        r.update_scene(self.data, camera=cam)
        return r.render().copy()

    def render_depth(self, camera: str | None = None, width: int = 640, height: int = 480) -> np.ndarray:
        """Depth along the optical axis, float32 HxW, m (background: the far plane).

        Shadows, reflections and the skybox are switched off for it: they do not change depth and
        cost most of the time in software GL (~15 ms instead of ~40 ms at 320x240 with OSMesa).
        """
        cam = self._camera(camera)
        r = self._renderer(width, height)
        flags = (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION, mujoco.mjtRndFlag.mjRND_SKYBOX)
        saved = [r.scene.flags[f] for f in flags]
        r.enable_depth_rendering()
        try:
            r.update_scene(self.data, camera=cam)
            for f in flags:
                r.scene.flags[f] = 0
            return r.render().astype(np.float32, copy=True)
        finally:
            for f, v in zip(flags, saved):
                r.scene.flags[f] = v
            r.disable_depth_rendering()

    def render(self, camera: str | None = None, width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
        return self.render_rgb(camera, width, height), self.render_depth(camera, width, height)

    def camera_pose(self, camera: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(position (3,), rotation 3x3 with the camera axes as columns) in world."""
        cam = self.model.camera(self._camera(camera)).id
        return self.data.cam_xpos[cam].copy(), self.data.cam_xmat[cam].reshape(3, 3).copy()

    def intrinsics(self, camera: str | None = None, width: int = 320, height: int = 240) -> Intrinsics:
        cam = self.model.camera(self._camera(camera)).id
        return Intrinsics.from_fovy(float(self.model.cam_fovy[cam]), width, height)

    def point_cloud(self, camera: str | None = None, width: int = 320, height: int = 240,
                    max_depth: float = 3.0) -> np.ndarray:
        depth = self.render_depth(camera, width, height)
        pos, mat = self.camera_pose(camera)
        return depth_to_points(depth, self.intrinsics(camera, width, height), pos, mat, max_depth)

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        self._closed = True

    def __del__(self):  # renderers hold GL contexts; free them even if the caller forgot
        if sys.is_finalizing():  # GL libraries may be gone already
            return
        try:
            self.close()
        except (RuntimeError, AttributeError, mujoco.FatalError):
            pass
