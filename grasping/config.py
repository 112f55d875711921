"""The optimiser's settings: ``GraspConfig`` loaded from ``config/grasping/<name>.yaml``.

A file may start with ``extends: other.yaml`` (relative to itself) and override any keys of
it; unknown keys are an error so typos surface. ``multigrasp.yaml`` holds the paper's numbers;
``fast_cpu.yaml`` (the default profile) shortens the optimiser for CPU budgets. Every key is
documented in those files.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from dexsafe.core.paths import resolve_data_file

DEFAULT_PROFILE = "fast_cpu"


class GraspConfigError(ValueError):
    """A grasping config file that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class EnergyConfig:
    w_fc: float = 1.0
    w_dis: float = 10.0
    w_dis_refine: float = 20.0
    w_pen: float = 10.0
    w_joint: float = 10.0
    fc_margin: float = 0.2
    normal_noise: float = 0.01
    fc_rounding: float = 0.0
    table: bool = True
    penetration: str = "spheres"


@dataclass(frozen=True)
class HandConfig:
    contacts_per_object: int = 3
    contact_density: float = 4000.0
    patch_size: float = 0.008
    surface_density: float = 8000.0
    palmar_cos: float = -0.2
    palm_contacts: bool = True


@dataclass(frozen=True)
class InitConfig:
    clearance: float = 0.2
    xy_jitter: float = 0.01
    tilt_max: float = 1.0472
    rot6d_noise: float = 0.1
    joint_fraction: float = 0.5
    joint_fraction_min: float = 0.0
    contacts: str = "random"
    nearest_fraction: float = 0.2


@dataclass(frozen=True)
class LangevinConfig:
    steps: int = 6500
    step_size: float = 0.01
    step_decay: float = 0.95
    step_every: int = 100
    temperature: float = 8.0
    temp_decay: float = 0.95
    temp_every: int = 50
    schedule_steps: int = 6500
    noise_std: float = 0.01
    rotation_grad_scale: float = 10.0
    joint_ema_new: float = 0.98
    joint_scale_base: float = 25.0
    joint_scale_extra: float = 75.0
    joint_scale_until: float = 0.8
    normalize_translation: bool = False
    switch_prob: float = 0.25


@dataclass(frozen=True)
class RefineConfig:
    steps: int = 1500
    lr_q: float = 0.01
    lr_w: float = 0.1
    lr_final: float = 1.0
    reseat_every: int = 0
    reseat_mode: str = "finger"
    exclusive_fingers: bool = False
    reseat_until: float = 0.8
    reassign_at: tuple[float, ...] = ()  # fractions of the phase
    reassign_distance: float = 0.01


@dataclass(frozen=True)
class FilterConfig:
    max_fc: float = 0.25
    max_contact_distance: float = 0.005
    max_penetration: float = 0.005
    max_joint_energy: float = 0.1


@dataclass(frozen=True)
class GraspConfig:
    energy: EnergyConfig = EnergyConfig()
    hand: HandConfig = HandConfig()
    batch: int = 1024
    init: InitConfig = InitConfig()
    langevin: LangevinConfig = LangevinConfig()
    refine: RefineConfig = RefineConfig()
    filter: FilterConfig = FilterConfig()
    source: str = ""

    def replace(self, **sections) -> GraspConfig:
        """A copy with some sections' keys replaced: ``cfg.replace(langevin={"steps": 50}, batch=8)``."""
        data = self.as_dict()
        for key, value in sections.items():
            if isinstance(value, dict):
                data[key].update(value)
            else:
                data[key] = value
        return _from_dict(data, self.source or "replace()")

    def as_dict(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = {g.name: getattr(v, g.name) for g in fields(v)} if hasattr(v, "__dataclass_fields__") \
                else v
        out.pop("source", None)
        return out


_SECTIONS = {"energy": EnergyConfig, "hand": HandConfig, "init": InitConfig, "langevin": LangevinConfig,
             "refine": RefineConfig, "filter": FilterConfig}


def _from_dict(data: dict, where: str) -> GraspConfig:
    extra = set(data) - set(_SECTIONS) - {"batch"}
    if extra:
        raise GraspConfigError(f"{where}: unknown key(s) {sorted(extra)}")
    kwargs = {}
    for name, cls in _SECTIONS.items():
        sec = data.get(name) or {}
        if not isinstance(sec, dict):
            raise GraspConfigError(f"{where}.{name}: expected a mapping")
        known = {f.name: f for f in fields(cls)}
        bad = set(sec) - set(known)
        if bad:
            raise GraspConfigError(f"{where}.{name}: unknown key(s) {sorted(bad)}; allowed: {sorted(known)}")
        vals = {}
        for k, v in sec.items():
            typ = type(getattr(cls(), k))
            try:
                if typ is tuple:
                    vals[k] = tuple(float(x) for x in (v or ()))
                else:
                    vals[k] = typ(v) if typ is not bool else bool(v)
            except (TypeError, ValueError) as exc:
                raise GraspConfigError(f"{where}.{name}.{k}: expected {typ.__name__}, got {v!r}") from exc
        kwargs[name] = cls(**vals)
    batch = int(data.get("batch", GraspConfig.batch))
    if batch < 1:
        raise GraspConfigError(f"{where}.batch must be >= 1")
    cfg = GraspConfig(batch=batch, source=where, **kwargs)
    if cfg.energy.penetration not in ("spheres", "surface"):
        raise GraspConfigError(f"{where}.energy.penetration must be 'spheres' or 'surface', "
                               f"got {cfg.energy.penetration!r}")
    if cfg.init.contacts not in ("random", "nearest"):
        raise GraspConfigError(f"{where}.init.contacts must be 'random' or 'nearest', got {cfg.init.contacts!r}")
    if cfg.refine.reseat_mode not in ("finger", "best"):
        raise GraspConfigError(f"{where}.refine.reseat_mode must be 'finger' or 'best', got {cfg.refine.reseat_mode!r}")
    if cfg.refine.exclusive_fingers and cfg.refine.reseat_mode != "best":
        raise GraspConfigError(f"{where}.refine.exclusive_fingers acts in the 'best' re-seat only; "
                               f"reseat_mode is {cfg.refine.reseat_mode!r}")
    if not 0.0 <= cfg.energy.fc_rounding <= 1.0:
        raise GraspConfigError(f"{where}.energy.fc_rounding: a fraction of the smallest half extent in [0, 1] "
                               f"required, got {cfg.energy.fc_rounding}")
    if any(not 0.0 <= f < 1.0 for f in cfg.refine.reassign_at):
        raise GraspConfigError(f"{where}.refine.reassign_at: fractions of the phase in [0, 1) required, "
                               f"got {list(cfg.refine.reassign_at)}")
    if cfg.hand.contacts_per_object < 1 or cfg.langevin.steps < 0 or cfg.refine.steps < 0:
        raise GraspConfigError(f"{where}: contacts_per_object >= 1 and non-negative step counts required")
    return cfg


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _load_raw(path: Path, depth: int = 0) -> dict:
    if depth > 5:
        raise GraspConfigError(f"{path}: 'extends' nests too deep")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GraspConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise GraspConfigError(f"{path}: expected a mapping at the top level")
    parent = data.pop("extends", None)
    if parent:
        data = _merge(_load_raw((path.parent / parent).resolve(), depth + 1), data)
    return data


def load_config(name_or_path: str | os.PathLike = DEFAULT_PROFILE) -> GraspConfig:
    """Load a profile by name (``config/grasping/<name>.yaml``) or path; raises ``GraspConfigError``."""
    try:
        path = resolve_data_file(name_or_path, "grasping")
    except FileNotFoundError as exc:
        raise GraspConfigError(f"unknown grasping config {str(name_or_path)!r}: {exc}") from exc
    return _from_dict(_load_raw(Path(path)), str(path))
