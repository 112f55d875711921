"""Physical limits of the hand and of safe handling, as one dataclass.

The validator, the rule planner and the corrector all read the same
``PlanningLimits``; the defaults equal ``config/planning/limits.yaml``.
Units: N, kg, m, m/s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

import yaml

from dexsafe.core.paths import resolve_data_file


class LimitsError(ValueError):
    """A limits file with an unknown key or an out-of-range value."""


@dataclass(frozen=True)
class PlanningLimits:
    """Limits a plan must respect. See ``config/planning/limits.yaml`` for each key."""

    hand_max_force_n: float = 40.0
    hand_max_payload_kg: float = 1.5
    hand_max_aperture_m: float = 0.16
    max_objects_per_grasp: int = 3
    grip_safety_factor: float = 1.5
    max_drop_height_m: float = 0.05
    fragile_max_drop_height_m: float = 0.02
    lift_height_range_m: tuple[float, float] = (0.0, 0.25)
    move_height_range_m: tuple[float, float] = (0.02, 0.30)
    default_lift_height_m: float = 0.10
    default_move_height_m: float = 0.12
    default_force_fraction: float = 0.6
    gentle_force_fraction: float = 0.35
    firm_force_fraction: float = 0.85
    speed_m_s: dict = field(default_factory=lambda: {"slow": 0.05, "normal": 0.15})
    confirm_tags: tuple[str, ...] = ("sharp",)
    confirm_handover: bool = True

    def __post_init__(self) -> None:
        positive = ("hand_max_force_n", "hand_max_payload_kg", "hand_max_aperture_m", "grip_safety_factor")
        for name in positive:
            if not float(getattr(self, name)) > 0:
                raise LimitsError(f"{name} must be positive, got {getattr(self, name)!r}")
        for name in ("default_force_fraction", "gentle_force_fraction", "firm_force_fraction"):
            if not 0 < float(getattr(self, name)) <= 1:
                raise LimitsError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        if self.fragile_max_drop_height_m > self.max_drop_height_m:
            raise LimitsError("fragile_max_drop_height_m must not exceed max_drop_height_m")
        for name in ("lift_height_range_m", "move_height_range_m"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi:
                raise LimitsError(f"{name} must be [low, high] with 0 <= low < high, got {(lo, hi)}")
        if self.max_objects_per_grasp < 1:
            raise LimitsError("max_objects_per_grasp must be at least 1")


def load_limits(name_or_path: str | os.PathLike = "limits") -> PlanningLimits:
    """Read a limits YAML by path or by name under ``config/planning/``; raises ``LimitsError``."""
    path = resolve_data_file(name_or_path, "planning")
    data = yaml.safe_load(path.read_text()) or {}
    known = {f.name for f in fields(PlanningLimits)}
    extra = set(data) - known
    if extra:
        raise LimitsError(f"{path}: unknown key(s) {sorted(extra)}; known: {sorted(known)}")
    for key in ("lift_height_range_m", "move_height_range_m", "confirm_tags"):
        if key in data:
            data[key] = tuple(data[key])
    return PlanningLimits(**data)
