"""Hand description files: which model, which bodies, which joints, which limits.

A hand is a model file (MJCF or URDF) plus a YAML file in ``config/hands/``
that says what the rest of dexsafe needs to know about it, so a new hand needs
no code. Pure Python (no MuJoCo): the grasp planner and the safety shield read
the same file.

Command order (``HandDescription.joint_names``, the order of
``/hand_controller/commands``): the six wrist joints that dexsafe adds when it
composes a scene (``WRIST_JOINTS``), then the hand's actuated finger joints in
the order of the file's ``joints:`` list. Units: rad, rad/s, N m for hinges;
m, m/s, N for the wrist's slides.

Format::

    name: dexsafe_hand
    model: ../../urdf/dexsafe_hand.xml   # relative to this file, or pkg://<python package>/<path>
    root_body: palm                      # body of the model file mounted on the wrist (with its subtree)
    palm_body: palm
    palm_center: [0.02, 0.0, 0.055]      # grasp centre in the palm body frame, m
    fingertip_bodies: [index_distal, ...]
    gravity_compensation: true           # hand bodies float (the arm carries their weight)
    wrist:
      mount: {xyz: [0, 0, 0], rpy: [0, 1.5708, 0]}   # hand_base -> root_body, m / URDF rpy rad
      translation: {kp: 2000, damping: 120, force: 150, velocity: 0.5}  # N/m, N s/m, N, m/s
      rotation: {kp: 60, damping: 2.0, torque: 20, velocity: 2.0,        # N m/rad, N m s/rad, N m, rad/s
                 lower: [-1.6, -1.6, -3.1], upper: [1.6, 1.6, 3.1]}      # roll, pitch, yaw, rad
    joints:                              # actuated finger joints, command order after the wrist
      - {name: index_knuckle_joint, actuator: index_knuckle_joint,
         lower: -0.47, upper: 0.47, velocity: 6.0, effort: 0.7, closing: 0}   # closing: +1/-1/0 (default +1)
    passive_joints: []                   # joints reported on /joint_states but not commanded
    open_posture: {thumb_rotation_joint: 0.8}   # finger joints not named: 0 clipped into limits
    default_kp: 3.0                      # for joints without an actuator in the model (URDF hands)
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from dexsafe.core import yaml_io
from dexsafe.core.paths import resolve_data_file, share_dir

WRIST_JOINTS: tuple[str, ...] = ("wrist_x", "wrist_y", "wrist_z", "wrist_roll", "wrist_pitch", "wrist_yaw")
"""The wrist joints dexsafe adds (world -> ``hand_base``): slides along world x, y, z (m, absolute
world coordinates of the flange), then hinges roll, pitch, yaw (rad, intrinsic x-y'-z'')."""


class HandError(ValueError):
    """A hand description that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class JointLimit:
    """Limits of one commanded joint (rad, rad/s, N m; or m, m/s, N for slides)."""

    name: str
    lower: float
    upper: float
    velocity: float
    effort: float
    actuator: str | None = None
    closing: float = 1.0
    """+1 if a larger position closes the hand around an object, -1 if a smaller one does,
    0 for joints that do not close it (abduction, thumb rotation). Used by grasp
    execution and by the shield's contact-force cap."""


@dataclass(frozen=True)
class WristSpec:
    """The 6-DoF position-controlled wrist dexsafe mounts every hand on."""

    mount_xyz: tuple[float, float, float] = (0.0, 0.0, 0.0)
    mount_rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)
    translation_kp: float = 2000.0
    translation_damping: float = 120.0
    translation_force: float = 150.0
    translation_velocity: float = 0.5
    rotation_kp: float = 60.0
    rotation_damping: float = 2.0
    rotation_torque: float = 20.0
    rotation_velocity: float = 2.0
    rotation_lower: tuple[float, float, float] = (-1.6, -1.6, -3.1)
    rotation_upper: tuple[float, float, float] = (1.6, 1.6, 3.1)


@dataclass(frozen=True)
class HandDescription:
    """Everything dexsafe needs to know about a hand; see the module docstring for the file format."""

    name: str
    model: Path
    root_body: str
    palm_body: str
    fingertip_bodies: tuple[str, ...]
    joints: tuple[JointLimit, ...]
    palm_center: tuple[float, float, float] = (0.0, 0.0, 0.0)
    passive_joints: tuple[str, ...] = ()
    open_posture: dict[str, float] = field(default_factory=dict)
    wrist: WristSpec = field(default_factory=WristSpec)
    gravity_compensation: bool = True
    default_kp: float = 3.0
    source: Path | None = None

    @property
    def finger_joint_names(self) -> tuple[str, ...]:
        return tuple(j.name for j in self.joints)

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Command order: the six wrist joints, then the finger joints."""
        return WRIST_JOINTS + self.finger_joint_names

    @property
    def num_joints(self) -> int:
        return len(WRIST_JOINTS) + len(self.joints)

    def finger_open_posture(self) -> np.ndarray:
        """Finger joint positions of the open hand (rad), in finger command order."""
        return np.array([
            float(np.clip(self.open_posture.get(j.name, 0.0), j.lower, j.upper)) for j in self.joints
        ])


def _pkg_path(spec: str) -> Path:
    """``pkg://package/sub/path`` -> a file inside an installed Python package (not imported)."""
    rest = spec[len("pkg://"):]
    pkg, _, sub = rest.partition("/")
    found = importlib.util.find_spec(pkg)
    if found is None or not found.submodule_search_locations:
        raise HandError(f"model {spec!r}: Python package {pkg!r} is not installed")
    return Path(list(found.submodule_search_locations)[0]) / sub


def resolve_model_path(model: str, base: Path | None) -> Path:
    """Resolve a ``model:`` entry: ``pkg://``, absolute, relative to the file, or to the share dir."""
    if model.startswith("pkg://"):
        path = _pkg_path(model)
    else:
        path = Path(model).expanduser()
        if not path.is_absolute():
            cands = ([base / path] if base else []) + [share_dir() / path]
            path = next((c for c in cands if c.is_file()), cands[0])
    if not path.is_file():
        raise HandError(f"model file {path} does not exist (from {model!r})")
    return path.resolve()


def _floats(where: str, value, n: int) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise HandError(f"{where}: expected {n} numbers, got {value!r}") from exc
    if len(out) != n or not all(np.isfinite(out)):
        raise HandError(f"{where}: expected {n} finite numbers, got {value!r}")
    return out


def _check_keys(where: str, data, allowed: set[str]) -> dict:
    if not isinstance(data, dict):
        raise HandError(f"{where}: expected a mapping, got {type(data).__name__}")
    extra = set(data) - allowed
    if extra:
        raise HandError(f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")
    return data


def _parse_wrist(where: str, data: dict) -> WristSpec:
    _check_keys(where, data, {"mount", "translation", "rotation"})
    mount = _check_keys(f"{where}.mount", data.get("mount", {}) or {}, {"xyz", "rpy"})
    tr = _check_keys(f"{where}.translation", data.get("translation", {}) or {}, {"kp", "damping", "force", "velocity"})
    rot = _check_keys(f"{where}.rotation", data.get("rotation", {}) or {},
                      {"kp", "damping", "torque", "velocity", "lower", "upper"})
    d = WristSpec()
    spec = WristSpec(
        mount_xyz=_floats(f"{where}.mount.xyz", mount.get("xyz", d.mount_xyz), 3),
        mount_rpy=_floats(f"{where}.mount.rpy", mount.get("rpy", d.mount_rpy), 3),
        translation_kp=float(tr.get("kp", d.translation_kp)),
        translation_damping=float(tr.get("damping", d.translation_damping)),
        translation_force=float(tr.get("force", d.translation_force)),
        translation_velocity=float(tr.get("velocity", d.translation_velocity)),
        rotation_kp=float(rot.get("kp", d.rotation_kp)),
        rotation_damping=float(rot.get("damping", d.rotation_damping)),
        rotation_torque=float(rot.get("torque", d.rotation_torque)),
        rotation_velocity=float(rot.get("velocity", d.rotation_velocity)),
        rotation_lower=_floats(f"{where}.rotation.lower", rot.get("lower", d.rotation_lower), 3),
        rotation_upper=_floats(f"{where}.rotation.upper", rot.get("upper", d.rotation_upper), 3),
    )
    positive = [spec.translation_kp, spec.translation_force, spec.translation_velocity,
                spec.rotation_kp, spec.rotation_torque, spec.rotation_velocity]
    if min(positive) <= 0 or spec.translation_damping < 0 or spec.rotation_damping < 0:
        raise HandError(f"{where}: gains, limits and speeds must be positive")
    if any(lo >= hi for lo, hi in zip(spec.rotation_lower, spec.rotation_upper)):
        raise HandError(f"{where}.rotation: lower {spec.rotation_lower} must be below upper {spec.rotation_upper}")
    return spec


def _parse_joint(where: str, data: dict) -> JointLimit:
    _check_keys(where, data, {"name", "actuator", "lower", "upper", "velocity", "effort", "closing"})
    missing = {"name", "lower", "upper", "velocity", "effort"} - set(data)
    if missing:
        raise HandError(f"{where}: missing key(s) {sorted(missing)}")
    lower, upper, vel, eff = _floats(where, [data["lower"], data["upper"], data["velocity"], data["effort"]], 4)
    if lower >= upper or vel <= 0 or eff <= 0:
        raise HandError(f"{where} ({data['name']}): need lower < upper and positive velocity and effort")
    act = data.get("actuator")
    closing = float(data.get("closing", 1.0))
    if closing not in (-1.0, 0.0, 1.0):
        raise HandError(f"{where} ({data['name']}): closing must be -1, 0 or 1, got {closing}")
    return JointLimit(str(data["name"]), lower, upper, vel, eff, None if act is None else str(act), closing)


def parse_hand(data: dict, name: str = "hand", source: Path | None = None) -> HandDescription:
    """Build a ``HandDescription`` from loaded YAML data; raises ``HandError``."""
    where = str(source) if source else name
    _check_keys(where, data, {"name", "description", "model", "root_body", "palm_body", "palm_center",
                              "fingertip_bodies", "gravity_compensation", "wrist", "joints", "passive_joints",
                              "open_posture", "default_kp"})
    for key in ("model", "root_body", "palm_body", "fingertip_bodies", "joints"):
        if not data.get(key):
            raise HandError(f"{where}: missing required key {key!r}")
    joints = tuple(_parse_joint(f"{where}.joints[{i}]", j) for i, j in enumerate(data["joints"]))
    names = [j.name for j in joints]
    dup = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(WRIST_JOINTS)))
    if dup:
        raise HandError(f"{where}: duplicate or reserved joint name(s) {dup}")
    posture = {str(k): float(v) for k, v in (data.get("open_posture") or {}).items()}
    unknown = sorted(set(posture) - set(names))
    if unknown:
        raise HandError(f"{where}.open_posture: unknown joint(s) {unknown}")
    return HandDescription(
        name=str(data.get("name", name)),
        model=resolve_model_path(str(data["model"]), source.parent if source else None),
        root_body=str(data["root_body"]),
        palm_body=str(data["palm_body"]),
        palm_center=_floats(f"{where}.palm_center", data.get("palm_center", [0, 0, 0]), 3),
        fingertip_bodies=tuple(str(b) for b in data["fingertip_bodies"]),
        joints=joints,
        passive_joints=tuple(str(j) for j in data.get("passive_joints", []) or []),
        open_posture=posture,
        wrist=_parse_wrist(f"{where}.wrist", data.get("wrist", {}) or {}),
        gravity_compensation=bool(data.get("gravity_compensation", True)),
        default_kp=float(data.get("default_kp", 3.0)),
        source=source,
    )


def load_hand(name_or_path: str | os.PathLike) -> HandDescription:
    """Load a hand by name (``config/hands/<name>.yaml``) or by path; raises ``HandError``.

    >>> load_hand("dexsafe_hand").joint_names[:3]
    ('wrist_x', 'wrist_y', 'wrist_z')
    """
    try:
        path = resolve_data_file(name_or_path, "hands")
    except FileNotFoundError as exc:
        raise HandError(f"unknown hand {str(name_or_path)!r}: {exc}") from exc
    try:
        data = yaml_io.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise HandError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise HandError(f"{path}: expected a mapping at the top level")
    return parse_hand(data, name=path.stem, source=path)
