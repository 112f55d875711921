"""Mesh objects: load an OBJ/STL with trimesh and derive what the scene needs.

MuJoCo collides every mesh geom as its convex hull (computed by MuJoCo's own
qhull at compile time), and dexsafe asks it to take mass and inertia from that
hull as well, so a mesh object behaves as its convex hull while it is drawn
with its real shape. Vertices are re-centred so the
object's origin is the centre of its axis-aligned bounding box; units are the
file's units times the scene's ``size: [scale]`` (metres expected).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class MeshError(ValueError):
    """A mesh file that cannot be used as an object."""


@dataclass(frozen=True)
class MeshData:
    """A centred, scaled triangle mesh (float64 vertices in m, int32 faces)."""

    vertices: np.ndarray
    faces: np.ndarray

    @property
    def half_extents(self) -> np.ndarray:
        """Half the bounding-box size along x, y, z, m."""
        return 0.5 * (self.vertices.max(axis=0) - self.vertices.min(axis=0))


@functools.lru_cache(maxsize=32)
def load_mesh(path: str, scale: float = 1.0) -> MeshData:
    """Load ``path`` (OBJ, STL, PLY, ...) as one triangle mesh, centred and scaled; cached."""
    import trimesh

    p = Path(path)
    if not p.is_file():
        raise MeshError(f"mesh file {p} does not exist")
    try:
        mesh = trimesh.load(p, force="mesh")
    except Exception as exc:  # trimesh raises many types for bad files
        raise MeshError(f"mesh file {p} could not be read: {exc}") from exc
    if len(mesh.faces) == 0:
        raise MeshError(f"mesh file {p} has no faces")
    verts = np.asarray(mesh.vertices, dtype=float) * float(scale)
    centre = 0.5 * (verts.max(axis=0) + verts.min(axis=0))
    verts = verts - centre
    if np.min(verts.max(axis=0) - verts.min(axis=0)) <= 1e-6:
        raise MeshError(f"mesh file {p} is flat (no extent along one axis)")
    return MeshData(vertices=verts, faces=np.asarray(mesh.faces, dtype=np.int32))
