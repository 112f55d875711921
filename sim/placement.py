"""Where objects start: non-overlapping, seeded sampling of object poses on the table.

Pure numpy. Each upright object has a convex footprint in x-y: its rectangle
for a box (turned by its yaw), a circumscribed 16-gon of its radius for round
shapes and meshes. Two footprints may not come closer than ``gap`` along any
separating axis (separating-axis test). Fixed objects (``position:`` in the
scene file) are placed first, as written, with yaw 0 unless given
(overlapping fixed objects are an error), then the others in file order by rejection sampling: yaw uniform
(unless fixed), centre uniform inside the object's ``region`` (default: the
table top less ``edge_margin``) such that the whole footprint stays inside.
The same seed gives the same poses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dexsafe.sim.scene_spec import SceneError, SceneSpec

_ROUND_SIDES = 16


@dataclass(frozen=True)
class ObjectGeometry:
    """Sizes of an upright object that placement, the drop test and the tasks need, m.

    ``box_half`` is the half x-y extent of a box footprint (``None``: round).
    """

    half_height: float
    footprint_radius: float
    bounding_radius: float
    box_half: tuple[float, float] | None = None


@dataclass(frozen=True)
class Placement:
    """An object's start pose on the table: centre x, y (m, world) and yaw (rad)."""

    x: float
    y: float
    yaw: float


def footprint(geo: ObjectGeometry, x: float, y: float, yaw: float) -> np.ndarray:
    """(K, 2) corners of the object's convex footprint in world x-y, counter-clockwise."""
    if geo.box_half is not None:
        hx, hy = geo.box_half
        local = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
    else:
        r = geo.footprint_radius / math.cos(math.pi / _ROUND_SIDES)  # circumscribed polygon
        a = np.arange(_ROUND_SIDES) * 2 * math.pi / _ROUND_SIDES
        local = r * np.stack([np.cos(a), np.sin(a)], axis=1)
        yaw = 0.0
    c, s = math.cos(yaw), math.sin(yaw)
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def _axes(poly: np.ndarray) -> np.ndarray:
    edges = np.roll(poly, -1, axis=0) - poly
    normals = np.stack([-edges[:, 1], edges[:, 0]], axis=1)
    return normals / np.linalg.norm(normals, axis=1, keepdims=True)


def footprints_clear(a: np.ndarray, b: np.ndarray, gap: float) -> bool:
    """True if convex polygons ``a`` and ``b`` are at least ``gap`` apart along some separating axis."""
    for axis in np.concatenate([_axes(a), _axes(b)]):
        pa, pb = a @ axis, b @ axis
        if pa.max() + gap <= pb.min() or pb.max() + gap <= pa.min():
            return True
    return False


def _region(scene: SceneSpec, obj, edge_margin: float) -> tuple[np.ndarray, np.ndarray]:
    sx, sy = scene.table.size
    lo = np.array([-sx / 2 + edge_margin, -sy / 2 + edge_margin])
    hi = -lo
    if obj.region is not None:
        lo = np.maximum(lo, np.array(obj.region[0]))
        hi = np.minimum(hi, np.array(obj.region[1]))
    return lo, hi


def sample_placements(scene: SceneSpec, geometry: dict[str, ObjectGeometry], seed: int,
                      gap: float = 0.005, edge_margin: float = 0.02, max_tries: int = 2000) -> dict[str, Placement]:
    """Sample a pose for every object of ``scene``; raises ``SceneError`` if they cannot fit."""
    rng = np.random.default_rng(seed)
    placed: dict[str, np.ndarray] = {}
    poses: dict[str, Placement] = {}
    fixed = [o for o in scene.objects if o.position is not None]
    free = [o for o in scene.objects if o.position is None]
    for obj in fixed + free:
        geo = geometry[obj.id]
        yaw_fixed = obj.yaw is not None
        if obj.position is not None:
            yaw = obj.yaw if yaw_fixed else 0.0
            poly = footprint(geo, *obj.position, yaw)
            clash = [i for i, p in placed.items() if not footprints_clear(poly, p, 0.0)]
            if clash:
                raise SceneError(f"scene {scene.name!r}: fixed object {obj.id!r} overlaps {clash}")
            placed[obj.id], poses[obj.id] = poly, Placement(float(obj.position[0]), float(obj.position[1]), float(yaw))
            continue
        lo, hi = _region(scene, obj, edge_margin)
        for _ in range(max_tries):
            yaw = obj.yaw if yaw_fixed else float(rng.uniform(-math.pi, math.pi))
            ext = np.abs(footprint(geo, 0.0, 0.0, yaw)).max(axis=0)  # half extents of the turned footprint
            if np.any(lo + ext > hi - ext):
                continue
            x, y = rng.uniform(lo + ext, hi - ext)
            poly = footprint(geo, x, y, yaw)
            if all(footprints_clear(poly, p, gap) for p in placed.values()):
                placed[obj.id], poses[obj.id] = poly, Placement(float(x), float(y), float(yaw))
                break
        else:
            raise SceneError(f"scene {scene.name!r}: no free place for object {obj.id!r} in its region "
                             f"after {max_tries} tries")
    return {o.id: poses[o.id] for o in scene.objects}
