"""Isaac Lab behind ``SimBackend`` (optional; needs Isaac Sim, Isaac Lab and an RTX GPU).

Nothing here imports ``isaaclab`` at module import time: constructing an
``IsaacLabBackend`` does, and raises ``ImportError`` with what to install when it
is missing.

The scene is the same as MuJoCo's, built from the same files:

- the hand is its URDF twin *on the wrist* (``<model stem>_on_wrist.urdf`` beside
  the hand's model, e.g. ``urdf/dexsafe_hand_on_wrist.urdf``): a fixed-base
  articulation whose first six joints are dexsafe's wrist, driven by implicit PD
  actuators with the MuJoCo model's gains, force limits and the description's
  velocity limits; gravity off for the hand when the description says so;
- table and objects are spawned as static and rigid primitives with the scene's
  sizes, masses and friction (meshes through Isaac Lab's mesh converter);
- a *MuJoCo twin* of the scene (``MujocoBackend``, never stepped for physics)
  supplies what must be identical across backends: the seeded, settled object
  placement of ``reset``, the command order and actuator ranges, and the named
  cameras' poses and intrinsics.

Approximations (Isaac Lab's contact sensor reports net forces per body pair, not
contact points): a contact's position is the hand body's origin, its normal the
direction of the force on the hand body, ``normal_force`` that force's magnitude
and ``friction_force`` 0. Cameras render at ``CAMERA_RESOLUTION`` and are
resampled (nearest pixel) to the size asked for; depth past the far clip plane
is reported as ``FAR_DEPTH``.

Isaac Sim allows one simulation per process: a second backend is refused.
This module has never run here (no Isaac Sim); ``tests/sim/test_sim_isaac_contract.py``
runs the backend contract where ``isaaclab`` is installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from dexsafe.sim.backend import Contact, JointState, ObjectState, SimBackend
from dexsafe.sim.hands import WRIST_JOINTS, HandDescription, load_hand
from dexsafe.sim.scene_spec import SceneSpec, load_scene

INSTALL_HINT = ("Isaac Lab is not installed: the Isaac backend needs NVIDIA Isaac Sim and Isaac Lab "
                "(https://isaac-sim.github.io/IsaacLab) on a machine with an RTX GPU; "
                "use the 'mujoco' backend otherwise")
CAMERA_RESOLUTION = (640, 480)
"""(width, height) every named camera renders at, px."""
FAR_DEPTH = 10.0
"""Depth reported where nothing is hit (the far clip plane), m."""
SETTLE_TIME = 0.1
"""Isaac's own settling after the MuJoCo twin's placement, s (its contact model differs slightly)."""

_APP = None  # the process's one Isaac Sim application
_ACTIVE = None  # the process's one backend


def isaaclab_available() -> bool:
    """True when the ``isaaclab`` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("isaaclab") is not None


def _launch_app() -> None:
    """Start Isaac Sim headless with cameras, once per process (before any other isaaclab import)."""
    global _APP
    if _APP is None:
        from isaaclab.app import AppLauncher

        _APP = AppLauncher(headless=True, enable_cameras=True).app


def wrist_urdf(hand: HandDescription) -> Path:
    """The hand's URDF twin mounted on dexsafe's 6-DoF wrist, beside its model file."""
    path = Path(hand.model).with_name(Path(hand.model).stem + "_on_wrist.urdf")
    if not path.is_file():
        raise FileNotFoundError(f"hand {hand.name!r}: the Isaac backend needs {path} (the hand's URDF on dexsafe's "
                                f"wrist, joints {WRIST_JOINTS} first); see urdf/make_dexsafe_hand.py")
    return path


def _resample(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nearest-pixel resampling of an HxW(xC) image to ``height`` x ``width``."""
    h, w = image.shape[:2]
    rows = np.minimum((np.arange(height) + 0.5) * h / height, h - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * w / width, w - 1).astype(int)
    return image[rows][:, cols]


class IsaacLabBackend(SimBackend):
    """The ``SimBackend`` contract on Isaac Lab. Raises ``ImportError`` (``INSTALL_HINT``) without it."""

    def __init__(self, scene: SceneSpec | str = "two_blocks", hand: HandDescription | str | None = None, *,
                 timestep: float = 0.002, seed: int | None = None, device: str | None = None, **_ignored):
        global _ACTIVE
        if not isaaclab_available():
            raise ImportError(INSTALL_HINT)
        if _ACTIVE is not None:
            raise RuntimeError("an IsaacLabBackend is already running in this process (Isaac Sim runs one "
                               "simulation per process); close it first")
        from dexsafe.sim.mujoco_backend import MujocoBackend

        self._scene = scene if isinstance(scene, SceneSpec) else load_scene(scene)
        self._hand = hand if isinstance(hand, HandDescription) else load_hand(hand or self._scene.hand)
        self.twin = MujocoBackend(self._scene, self._hand, timestep=timestep)
        urdf = wrist_urdf(self._hand)
        _launch_app()
        import torch

        self._torch = torch
        self.device = device or ("cuda:0" if torch.cuda.is_available() else "cpu")
        self._build(urdf, timestep)
        _ACTIVE = self
        self._closed = False
        self.reset(seed)

    # --- scene construction ----------------------------------------------------------------
    def _build(self, urdf: Path, timestep: float) -> None:
        import isaaclab.sim as sim_utils
        from isaaclab.actuators import ImplicitActuatorCfg
        from isaaclab.assets import Articulation, ArticulationCfg, RigidObject
        from isaaclab.sensors import Camera, CameraCfg, ContactSensor, ContactSensorCfg

        from dexsafe.sim.compose import CAMERAS, TABLE_COLOR, TABLE_THICKNESS

        self.sim = sim_utils.SimulationContext(sim_utils.SimulationCfg(dt=timestep, device=self.device))
        ground = sim_utils.GroundPlaneCfg()
        ground.func("/World/ground", ground)
        light = sim_utils.DomeLightCfg(intensity=2000.0, color=(0.9, 0.9, 0.9))
        light.func("/World/light", light)
        t = self._scene.table
        table = sim_utils.CuboidCfg(
            size=(t.size[0], t.size[1], TABLE_THICKNESS), collision_props=sim_utils.CollisionPropertiesCfg(),
            physics_material=sim_utils.RigidBodyMaterialCfg(static_friction=t.friction, dynamic_friction=t.friction),
            visual_material=sim_utils.PreviewSurfaceCfg(diffuse_color=tuple(TABLE_COLOR[:3])))
        table.func("/World/table", table, translation=(0.0, 0.0, t.height - TABLE_THICKNESS / 2))

        m, sm = self.twin.model, self.twin.sm
        names = list(self._hand.joint_names)
        limits = {j.name: j for j in self._hand.joints}
        actuators = {}
        for i, name in enumerate(names):
            act = int(sm.actuator_ids[i])
            lo, hi = m.actuator_forcerange[act] if m.actuator_forcelimited[act] else (-1e6, 1e6)
            if name in WRIST_JOINTS:
                w = self._hand.wrist
                velocity = w.translation_velocity if name in WRIST_JOINTS[:3] else w.rotation_velocity
            else:
                velocity = limits[name].velocity
            actuators[name] = ImplicitActuatorCfg(
                joint_names_expr=[f"^{name}$"], stiffness=float(m.actuator_gainprm[act, 0]),
                damping=float(-m.actuator_biasprm[act, 2]), effort_limit=float(max(abs(lo), abs(hi))),
                velocity_limit=float(velocity))
        home = dict(zip(names, self.twin.home_targets()))
        self.hand_asset = Articulation(ArticulationCfg(
            prim_path="/World/hand",
            spawn=sim_utils.UrdfFileCfg(
                asset_path=str(urdf), fix_base=True, merge_fixed_joints=False, activate_contact_sensors=True,
                rigid_props=sim_utils.RigidBodyPropertiesCfg(disable_gravity=self._hand.gravity_compensation),
                articulation_props=sim_utils.ArticulationRootPropertiesCfg(enabled_self_collisions=False),
                joint_drive=sim_utils.UrdfConverterCfg.JointDriveCfg(
                    gains=sim_utils.UrdfConverterCfg.JointDriveCfg.PDGainsCfg(stiffness=0.0, damping=0.0))),
            init_state=ArticulationCfg.InitialStateCfg(joint_pos=home), actuators=actuators))

        self.objects = {}
        for obj in self._scene.objects:
            self.objects[obj.id] = RigidObject(self._object_cfg(obj))
        self.contact_sensor = ContactSensor(ContactSensorCfg(
            prim_path="/World/hand/.*", update_period=0.0, history_length=1,
            filter_prim_paths_expr=[f"/World/objects/{o}" for o in self.objects] + ["/World/table"]))
        self._contact_others = list(self.objects) + ["table"]

        self.cameras = {}
        width, height = CAMERA_RESOLUTION
        for name in CAMERAS:
            intr = self.twin.intrinsics(name, width, height)
            self.cameras[name] = Camera(CameraCfg(
                prim_path=f"/World/camera_{name}", update_period=0.0, width=width, height=height,
                data_types=["rgb", "distance_to_image_plane"],
                spawn=sim_utils.PinholeCameraCfg.from_intrinsic_matrix(
                    intrinsic_matrix=[intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0],
                    width=width, height=height, clipping_range=(0.01, FAR_DEPTH))))
        self.sim.reset()
        self._cmd_ids = self.hand_asset.find_joints(names, preserve_order=True)[0]
        passive = list(self._hand.passive_joints)
        self._passive_ids = self.hand_asset.find_joints(passive, preserve_order=True)[0] if passive else []
        self._aim_cameras()

    def _object_cfg(self, obj):
        import isaaclab.sim as sim_utils
        from isaaclab.assets import RigidObjectCfg

        common = dict(rigid_props=sim_utils.RigidBodyPropertiesCfg(),
                      mass_props=sim_utils.MassPropertiesCfg(mass=obj.mass),
                      collision_props=sim_utils.CollisionPropertiesCfg(),
                      physics_material=sim_utils.RigidBodyMaterialCfg(static_friction=obj.friction,
                                                                      dynamic_friction=obj.friction),
                      visual_material=sim_utils.PreviewSurfaceCfg(diffuse_color=tuple(obj.color[:3])))
        s = obj.size
        if obj.shape == "box":
            spawn = sim_utils.CuboidCfg(size=tuple(s), **common)
        elif obj.shape == "cylinder":
            spawn = sim_utils.CylinderCfg(radius=s[0], height=s[1], axis="Z", **common)
        elif obj.shape == "sphere":
            spawn = sim_utils.SphereCfg(radius=s[0], **common)
        elif obj.shape == "capsule":
            spawn = sim_utils.CapsuleCfg(radius=s[0], height=s[1], axis="Z", **common)
        elif obj.shape == "mesh":
            from isaaclab.sim.converters import MeshConverter, MeshConverterCfg

            common.pop("visual_material")
            usd = MeshConverter(MeshConverterCfg(asset_path=str(obj.mesh), force_usd_conversion=False,
                                                 **{k: common[k] for k in ("rigid_props", "mass_props",
                                                                           "collision_props")})).usd_path
            scale = float(s[0]) if s else 1.0
            spawn = sim_utils.UsdFileCfg(usd_path=usd, scale=(scale, scale, scale))
        else:
            raise ValueError(f"object {obj.id!r}: shape {obj.shape!r} has no Isaac Lab spawner")
        return RigidObjectCfg(prim_path=f"/World/objects/{obj.id}", spawn=spawn,
                              init_state=RigidObjectCfg.InitialStateCfg(pos=(0.0, 0.0, 1.0)))

    def _aim_cameras(self) -> None:
        import mujoco

        torch = self._torch
        for name, cam in self.cameras.items():
            pos, mat = self.twin.camera_pose(name)  # MuJoCo cameras: OpenGL convention (-z forward, +y up)
            quat = np.zeros(4)
            mujoco.mju_mat2Quat(quat, np.asarray(mat, dtype=float).ravel())
            cam.set_world_poses(positions=torch.tensor([pos], dtype=torch.float32, device=self.device),
                                orientations=torch.tensor([quat], dtype=torch.float32, device=self.device),
                                convention="opengl")

    # --- SimBackend ------------------------------------------------------------------------
    hand = property(lambda self: self._hand)
    scene = property(lambda self: self._scene)

    @property
    def time(self) -> float:
        return self._time

    @property
    def timestep(self) -> float:
        return float(self.sim.get_physics_dt())

    def _tensor(self, values) -> object:
        return self._torch.as_tensor(np.asarray(values, dtype=np.float32), device=self.device)

    def reset(self, seed: int | None = None) -> None:
        """The MuJoCo twin samples and settles the placement (same seed, same scene in both backends);
        hand and objects are written there, then Isaac settles ``SETTLE_TIME``."""
        torch = self._torch
        self.twin.reset(seed)
        q = self.twin.home_targets()
        full = self.hand_asset.data.default_joint_pos.clone()
        full[0, self._cmd_ids] = self._tensor(q)
        self.hand_asset.write_joint_state_to_sim(full, torch.zeros_like(full))
        self.hand_asset.set_joint_position_target(self._tensor(q)[None], joint_ids=self._cmd_ids)
        for state in self.twin.object_states():
            xyzw = state.orientation
            pose = np.concatenate([state.position, [xyzw[3], xyzw[0], xyzw[1], xyzw[2]]])
            asset = self.objects[state.id]
            asset.write_root_pose_to_sim(self._tensor(pose)[None])
            asset.write_root_velocity_to_sim(torch.zeros((1, 6), device=self.device))
        self._time = 0.0
        self.step(max(1, int(round(SETTLE_TIME / self.timestep))))
        self._time = 0.0

    def set_joint_targets(self, q) -> None:
        arr = np.clip(self.twin._check_q(q, "joint targets"), self.twin.ctrl_lower, self.twin.ctrl_upper)
        self.hand_asset.set_joint_position_target(self._tensor(arr)[None], joint_ids=self._cmd_ids)

    def step(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError(f"step(n): n must be >= 1, got {n}")
        dt = self.timestep
        for _ in range(int(n)):
            self.hand_asset.write_data_to_sim()
            self.sim.step(render=False)
            self.hand_asset.update(dt)
            for asset in self.objects.values():
                asset.update(dt)
            self.contact_sensor.update(dt)
            self._time += dt

    def joint_state(self) -> JointState:
        d = self.hand_asset.data
        ids = list(self._cmd_ids) + list(self._passive_ids)
        pos, vel = d.joint_pos[0, ids].cpu().numpy(), d.joint_vel[0, ids].cpu().numpy()
        eff = np.concatenate([d.applied_torque[0, self._cmd_ids].cpu().numpy(), np.zeros(len(self._passive_ids))])
        return JointState(self.joint_names + self._hand.passive_joints, pos.astype(float), vel.astype(float),
                          eff.astype(float))

    def object_states(self) -> list[ObjectState]:
        out = []
        for oid, asset in self.objects.items():
            d = asset.data
            wxyz = d.root_quat_w[0].cpu().numpy().astype(float)
            out.append(ObjectState(oid, d.root_pos_w[0].cpu().numpy().astype(float), wxyz[[1, 2, 3, 0]],
                                   d.root_lin_vel_w[0].cpu().numpy().astype(float),
                                   d.root_ang_vel_w[0].cpu().numpy().astype(float)))
        return out

    def contacts(self) -> list[Contact]:
        forces = self.contact_sensor.data.force_matrix_w[0].cpu().numpy()  # (hand bodies, others, 3), on the hand
        bodies = list(self.contact_sensor.body_names)
        body_pos = self.hand_asset.data.body_pos_w[0].cpu().numpy()
        body_index = {n: i for i, n in enumerate(self.hand_asset.body_names)}
        out = []
        for b, o in zip(*np.nonzero(np.linalg.norm(forces, axis=-1) > 1e-6)):
            f = forces[b, o].astype(float)
            mag = float(np.linalg.norm(f))
            out.append(Contact(bodies[b], self._contact_others[o], body_pos[body_index[bodies[b]]].astype(float),
                               f / mag, mag, 0.0))
        return out

    def render(self, camera: str | None = None, width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
        from dexsafe.sim.compose import CAMERAS

        name = camera or CAMERAS[0]
        if name not in self.cameras:
            raise ValueError(f"unknown camera {name!r}; cameras: {list(self.cameras)}")
        cam = self.cameras[name]
        self.sim.render()
        cam.update(0.0)
        rgb = cam.data.output["rgb"][0, ..., :3].cpu().numpy().astype(np.uint8)
        depth = cam.data.output["distance_to_image_plane"][0, ..., 0].cpu().numpy().astype(np.float32)
        depth = np.where(np.isfinite(depth) & (depth > 0), depth, FAR_DEPTH).astype(np.float32)
        return _resample(rgb, width, height), _resample(depth, width, height)

    def point_cloud(self, camera: str | None = None, width: int = 320, height: int = 240,
                    max_depth: float = 3.0) -> np.ndarray:
        from dexsafe.sim.camera import depth_to_points
        from dexsafe.sim.compose import CAMERAS

        name = camera or CAMERAS[0]
        _, depth = self.render(name, width, height)
        pos, mat = self.twin.camera_pose(name)
        return depth_to_points(depth, self.twin.intrinsics(name, width, height), pos, mat, max_depth)

    def close(self) -> None:
        global _ACTIVE
        if getattr(self, "_closed", True):
            return
        self._closed = True
        self.twin.close()
        self.sim.clear_all_callbacks()
        self.sim.clear_instance()
        if _ACTIVE is self:
            _ACTIVE = None
