"""Joint names, order and units between dexsafe and a hand driver.

dexsafe speaks URDF radians in its hand description's joint names and order;
a driver has its own names, order and convention (LEAP's "leap" convention
puts the flat hand at pi rad). ``JointMapping`` converts both ways with
``driver = scale * dexsafe + offset`` per joint. Pure Python.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class MappingError(ValueError):
    """An inconsistent mapping or a message that does not fit it."""


@dataclass(frozen=True)
class JointMapping:
    hand_joints: tuple[str, ...]
    """dexsafe joint names, in the order paired with ``driver_joints``."""
    driver_joints: tuple[str, ...]
    """The driver's joint names, in the driver's command order."""
    scale: tuple[float, ...]
    offset: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.hand_joints)
        if not n:
            raise MappingError("no joints to map")
        if not (len(self.driver_joints) == len(self.scale) == len(self.offset) == n):
            raise MappingError(f"hand_joints ({n}), driver_joints ({len(self.driver_joints)}), scale "
                               f"({len(self.scale)}) and offset ({len(self.offset)}) must have the same length")
        for names, what in ((self.hand_joints, "hand_joints"), (self.driver_joints, "driver_joints")):
            if len(set(names)) != len(names):
                raise MappingError(f"{what} has duplicates")
        if any(s == 0 or not math.isfinite(s) for s in self.scale) or not all(map(math.isfinite, self.offset)):
            raise MappingError("scale must be finite and non-zero, offset finite")

    @classmethod
    def create(cls, hand_joints: Sequence[str], driver_joints: Sequence[str], scale: Sequence[float] | None = None,
               offset: Sequence[float] | None = None) -> JointMapping:
        n = len(hand_joints)
        return cls(tuple(hand_joints), tuple(driver_joints), tuple(float(s) for s in (scale or [1.0] * n)),
                   tuple(float(o) for o in (offset or [0.0] * n)))

    def to_driver(self, values: Mapping[str, float]) -> list[float]:
        """dexsafe joint values (by name) -> the driver's command vector (driver order and units)."""
        missing = [j for j in self.hand_joints if j not in values]
        if missing:
            raise MappingError(f"no value for {missing}")
        return [s * float(values[j]) + o for j, s, o in zip(self.hand_joints, self.scale, self.offset)]

    def from_driver(self, names: Sequence[str], values: Sequence[float]) -> dict[str, float]:
        """A driver joint state (its names and values) -> dexsafe values by name (URDF radians)."""
        if len(names) != len(values):
            raise MappingError(f"{len(names)} names but {len(values)} values")
        index = {n: i for i, n in enumerate(names)}
        missing = [d for d in self.driver_joints if d not in index]
        if missing:
            raise MappingError(f"driver state lacks {missing}")
        return {j: (float(values[index[d]]) - o) / s
                for j, d, s, o in zip(self.hand_joints, self.driver_joints, self.scale, self.offset)}
