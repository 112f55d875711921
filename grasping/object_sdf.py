"""Signed distance and outward normals of objects, in torch (batched, differentiable).

Sign convention: ``phi(x) < 0`` inside the object, ``> 0`` outside, metres; the normal
``n(x)`` is the unit outward direction (the gradient of ``phi`` where it exists).
Each ``ObjectSDF`` works in its object frame (the frame of ``dexsafe.sim.scene_spec``:
origin at the centre, a cylinder's or capsule's axis along z); ``PlacedObject`` adds the
object's pose in ``world``: ``phi_w(x) = phi(R^T (x - p))``, ``n_w = R n``.

Primitives are exact (closed forms below, ``q = |x| - h`` per axis for a box with half
extents ``h``). Meshes use a voxel SDF: ``trimesh.proximity.signed_distance`` (positive
inside, so negated here) on a regular grid over the bounding box plus a margin, sampled
with trilinear interpolation; normals are the trilinearly interpolated central-difference
gradient, normalised. Outside the grid, ``phi(x) = phi(c) + |x - c|`` with ``c`` the nearest
grid point (an upper bound that keeps pointing the right way). Grids are cached in memory
and on disk (``$XDG_CACHE_HOME/dexsafe/sdf``), keyed by the mesh bytes, scale and resolution.
"""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dexsafe.sim.scene_spec import ObjectSpec

EPS = 1e-9


class ObjectSDF:
    """Signed distance of one object in its own frame."""

    shape = "?"

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (..., 3) object-frame points, m -> (``phi`` (...), outward unit normal (..., 3))."""
        raise NotImplementedError

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """``phi`` alone (..., m): the same values as ``self(x)[0]``, without the normals' cost."""
        return self(x)[0]

    def rounded_normal(self, x: torch.Tensor, rounding: float) -> torch.Tensor:
        """Outward unit normal (..., 3) of the object with its edges rounded by ``rounding`` times its
        smallest half extent: on a flat face within that distance of an edge the normal already turns
        towards the next face, so it varies with ``x`` there (the exact normal of a face is constant).
        Smooth shapes return their normal."""
        return self(x)[1]

    @property
    def bounding_radius(self) -> float:
        """Radius of a sphere about the origin containing the object, m."""
        raise NotImplementedError


def _sign(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def _box_query(x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``phi`` and outward normal of the box with half extents ``h`` (3,) at ``x`` (..., 3)."""
    q = x.abs() - h
    v = q.clamp_min(0)
    out_d = v.norm(dim=-1)
    inside = out_d <= EPS
    qmax, k = q.max(dim=-1)
    n_out = _sign(x) * v / out_d.clamp_min(EPS)[..., None]
    n_in = F.one_hot(k, 3).to(x) * _sign(x)
    phi = torch.where(inside, qmax, out_d)
    return phi, torch.where(inside[..., None], n_in, n_out)


def _cylinder_query(x: torch.Tensor, r: float, hz: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``phi`` and outward normal of the z-axis cylinder of radius ``r``, half height ``hz`` at ``x``."""
    rho = x[..., :2].norm(dim=-1)
    radial = torch.cat([x[..., :2] / rho.clamp_min(EPS)[..., None], torch.zeros_like(x[..., :1])], -1)
    axial = torch.zeros_like(x)
    axial[..., 2] = _sign(x[..., 2])
    dr, dz = rho - r, x[..., 2].abs() - hz
    vr, vz = dr.clamp_min(0), dz.clamp_min(0)
    out_d = torch.sqrt(vr * vr + vz * vz + 1e-30)
    inside = (dr <= 0) & (dz <= 0)
    n_out = (vr[..., None] * radial + vz[..., None] * axial) / out_d.clamp_min(EPS)[..., None]
    n_in = torch.where((dr > dz)[..., None], radial, axial)
    phi = torch.where(inside, torch.maximum(dr, dz), out_d)
    return phi, torch.where(inside[..., None], n_in, n_out)


class BoxSDF(ObjectSDF):
    """Box with half extents ``h``: outside ``phi = |max(q, 0)|``, inside ``phi = max_i q_i``."""

    shape = "box"

    def __init__(self, size):
        self.h = torch.tensor([s / 2 for s in size], dtype=torch.float64)

    def __call__(self, x):
        return _box_query(x, self.h.to(x))

    def distance(self, x):
        q = x.abs() - self.h.to(x)
        out_d = q.clamp_min(0).norm(dim=-1)
        return torch.where(out_d <= EPS, q.max(dim=-1).values, out_d)

    def rounded_normal(self, x, rounding):
        h = self.h.to(x)
        return _box_query(x, (h - rounding * h.min()).clamp_min(1e-4))[1]

    @property
    def bounding_radius(self):
        return float(self.h.norm())


class SphereSDF(ObjectSDF):
    shape = "sphere"

    def __init__(self, size):
        self.r = float(size[0])

    def __call__(self, x):
        d = x.norm(dim=-1)
        return d - self.r, x / d.clamp_min(EPS)[..., None]

    @property
    def bounding_radius(self):
        return self.r


class CylinderSDF(ObjectSDF):
    """Cylinder along z, radius ``r``, half height ``hz``: with ``d = (|x_xy| - r, |z| - hz)``,
    ``phi = |max(d, 0)|`` outside and ``max(d)`` inside."""

    shape = "cylinder"

    def __init__(self, size):
        self.r, self.hz = float(size[0]), float(size[1]) / 2

    def __call__(self, x):
        return _cylinder_query(x, self.r, self.hz)

    def rounded_normal(self, x, rounding):
        cut = rounding * min(self.r, self.hz)
        return _cylinder_query(x, max(self.r - cut, 1e-4), max(self.hz - cut, 1e-4))[1]

    def distance(self, x):
        dr, dz = x[..., :2].norm(dim=-1) - self.r, x[..., 2].abs() - self.hz
        vr, vz = dr.clamp_min(0), dz.clamp_min(0)
        out_d = torch.sqrt(vr * vr + vz * vz + 1e-30)
        return torch.where((dr <= 0) & (dz <= 0), torch.maximum(dr, dz), out_d)

    @property
    def bounding_radius(self):
        return float(np.hypot(self.r, self.hz))


class CapsuleSDF(ObjectSDF):
    """Capsule along z: radius ``r``, cylinder half length ``hz``; ``phi = |x - c| - r`` with ``c``
    the nearest point of the axis segment."""

    shape = "capsule"

    def __init__(self, size):
        self.r, self.hz = float(size[0]), float(size[1]) / 2

    def __call__(self, x):
        c = torch.zeros_like(x)
        c[..., 2] = x[..., 2].clamp(-self.hz, self.hz)
        d = x - c
        n = d.norm(dim=-1)
        return n - self.r, d / n.clamp_min(EPS)[..., None]

    @property
    def bounding_radius(self):
        return self.r + self.hz


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dexsafe" / "sdf"


@functools.lru_cache(maxsize=16)
def voxel_grid(mesh_path: str, scale: float, resolution: int, margin: float) -> tuple[np.ndarray, np.ndarray,
                                                                                       np.ndarray]:
    """(phi grid (R, R, R) indexed [ix, iy, iz], grid lower corner (3,), voxel size (3,)) for a mesh, m."""
    import trimesh

    from dexsafe.sim.meshes import load_mesh

    mesh = load_mesh(mesh_path, scale)
    key = hashlib.sha1(mesh.vertices.tobytes() + mesh.faces.tobytes()
                       + f"{resolution}/{margin}".encode()).hexdigest()[:16]
    path = _cache_dir() / f"{key}.npz"
    lo = mesh.vertices.min(0) - margin
    hi = mesh.vertices.max(0) + margin
    if path.is_file():
        data = np.load(path)
        return data["phi"], data["lo"], data["step"]
    axes = [np.linspace(lo[i], hi[i], resolution) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
    phi = np.concatenate([-trimesh.proximity.signed_distance(tm, pts[i:i + 20000])
                          for i in range(0, len(pts), 20000)]).reshape(resolution, resolution, resolution)
    step = (hi - lo) / (resolution - 1)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, phi=phi, lo=lo, step=step)
    except OSError:
        pass  # a read-only cache only costs time
    return phi, lo, step


class VoxelSDF(ObjectSDF):
    """Trilinear voxel SDF of a mesh (see the module docstring)."""

    shape = "mesh"

    def __init__(self, mesh_path: str, scale: float = 1.0, resolution: int = 32, margin: float = 0.02):
        phi, lo, step = voxel_grid(str(mesh_path), float(scale), int(resolution), float(margin))
        g = np.stack(np.gradient(phi, *step), 0)  # (3, R, R, R)
        # grid_sample wants (N, C, D, H, W) with coordinates (x -> W, y -> H, z -> D): store as [iz, iy, ix].
        self.grid = torch.tensor(np.concatenate([phi[None], g], 0).transpose(0, 3, 2, 1)[None].copy())
        self.lo = torch.tensor(lo)
        self.hi = torch.tensor(lo + step * (resolution - 1))
        self._radius = float(np.linalg.norm(np.maximum(np.abs(lo), np.abs(self.hi.numpy()))))

    def __call__(self, x):
        lo, hi = self.lo.to(x), self.hi.to(x)
        c = torch.maximum(torch.minimum(x, hi), lo)
        u = 2 * (c - lo) / (hi - lo) - 1
        flat = u.reshape(1, -1, 1, 1, 3)
        s = F.grid_sample(self.grid.to(x), flat, mode="bilinear", align_corners=True)  # (1, 4, M, 1, 1)
        s = s.reshape(4, -1).T.reshape(x.shape[:-1] + (4,))
        outside = (x - c).norm(dim=-1)
        phi = s[..., 0] + outside
        g = torch.where((outside > EPS)[..., None], (x - c) + s[..., 1:] * 1e-3, s[..., 1:])
        return phi, g / g.norm(dim=-1, keepdim=True).clamp_min(EPS)

    def distance(self, x):
        lo, hi = self.lo.to(x), self.hi.to(x)
        c = torch.maximum(torch.minimum(x, hi), lo)
        u = 2 * (c - lo) / (hi - lo) - 1
        s = F.grid_sample(self.grid[:, :1].to(x), u.reshape(1, -1, 1, 1, 3), mode="bilinear", align_corners=True)
        return s.reshape(x.shape[:-1]) + (x - c).norm(dim=-1)

    @property
    def bounding_radius(self):
        return self._radius


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` near-uniform unit vectors (Fibonacci lattice), (n, 3)."""
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5 ** 0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], axis=1)


def _grid(lo: float, hi: float, spacing: float) -> np.ndarray:
    """Points from ``lo`` to ``hi`` inclusive, at most ``spacing`` apart."""
    return np.linspace(lo, hi, max(2, int(np.ceil((hi - lo) / spacing)) + 1))


def surface_samples(obj: ObjectSpec, spacing: float = 0.004) -> np.ndarray:
    """Points on the object's surface at most about ``spacing`` m apart, in the object frame (N, 3), m.

    Edges, rims and corners are always included: they are the parts of a convex object that reach
    deepest into a flat hand surface pressed against it. Meshes: their vertices plus an even sample.
    """
    if obj.shape == "box":
        h = np.asarray(obj.size[:3], float) / 2
        pts = []
        for ax in range(3):
            u, v = [a for a in range(3) if a != ax]
            gu, gv = np.meshgrid(_grid(-h[u], h[u], spacing), _grid(-h[v], h[v], spacing))
            for sgn in (1.0, -1.0):
                p = np.zeros((gu.size, 3))
                p[:, u], p[:, v], p[:, ax] = gu.ravel(), gv.ravel(), sgn * h[ax]
                pts.append(p)
        return np.unique(np.concatenate(pts).round(12), axis=0)
    if obj.shape == "sphere":
        r = float(obj.size[0])
        return r * fibonacci_sphere(max(8, int(np.ceil(4 * np.pi * r * r / spacing ** 2))))
    if obj.shape in ("cylinder", "capsule"):
        r, hz = float(obj.size[0]), float(obj.size[1]) / 2
        k = max(8, int(np.ceil(2 * np.pi * r / spacing)))
        ang = np.linspace(0, 2 * np.pi, k, endpoint=False)
        ring = np.stack([np.cos(ang), np.sin(ang), np.zeros(k)], 1)
        pts = [r * ring + np.array([0, 0, z]) for z in _grid(-hz, hz, spacing)]
        for sgn in (1.0, -1.0):
            if obj.shape == "cylinder":  # the end disc, ring by ring
                pts += [rad * ring + np.array([0, 0, sgn * hz]) for rad in _grid(0.0, r, spacing)[1:]]
                pts.append(np.array([[0.0, 0.0, sgn * hz]]))
            else:  # the hemispherical end, latitude by latitude
                for el in _grid(0.0, np.pi / 2, spacing / r)[1:]:
                    pts.append(r * np.cos(el) * ring + np.array([0, 0, sgn * (hz + r * np.sin(el))]))
        return np.concatenate(pts)
    if obj.shape == "mesh":
        import trimesh

        from dexsafe.sim.meshes import load_mesh

        data = load_mesh(obj.mesh, obj.size[0] if obj.size else 1.0)  # centred as the voxel SDF is
        mesh = trimesh.Trimesh(data.vertices, data.faces, process=False)
        pts, _ = trimesh.sample.sample_surface_even(mesh, int(np.ceil(mesh.area / spacing ** 2)), seed=0)
        return np.concatenate([np.asarray(mesh.vertices), np.asarray(pts)])
    raise ValueError(f"object {obj.id!r}: shape {obj.shape!r} has no surface samples")


def make_sdf(obj: ObjectSpec, voxel_resolution: int = 32) -> ObjectSDF:
    """The SDF of a scene object (analytic for primitives, voxel for meshes)."""
    if obj.shape == "box":
        return BoxSDF(obj.size)
    if obj.shape == "sphere":
        return SphereSDF(obj.size)
    if obj.shape == "cylinder":
        return CylinderSDF(obj.size)
    if obj.shape == "capsule":
        return CapsuleSDF(obj.size)
    if obj.shape == "mesh":
        if not obj.mesh:
            raise ValueError(f"object {obj.id!r}: a mesh object needs a mesh file")
        return VoxelSDF(obj.mesh, obj.size[0] if obj.size else 1.0, voxel_resolution)
    raise ValueError(f"object {obj.id!r}: shape {obj.shape!r} has no SDF")


@dataclass
class PlacedObject:
    """An object at a pose in ``world``: ``position`` (3,) m, ``rotation`` (3, 3) object -> world."""

    id: str
    spec: ObjectSpec
    sdf: ObjectSDF
    position: torch.Tensor
    rotation: torch.Tensor

    def query(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World points (..., 3) -> (phi (...), outward unit normal in world (..., 3))."""
        p, R = self.position.to(x), self.rotation.to(x)
        phi, n = self.sdf((x - p) @ R)  # rows: R^T (x - p)
        return phi, n @ R.T  # rows: R n

    def rounded_normal(self, x: torch.Tensor, rounding: float) -> torch.Tensor:
        """World points (..., 3) -> ``ObjectSDF.rounded_normal`` in world (..., 3)."""
        p, R = self.position.to(x), self.rotation.to(x)
        return self.sdf.rounded_normal((x - p) @ R, rounding) @ R.T

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """World points (..., 3) -> ``phi`` (...), m (``query`` without the normals)."""
        p, R = self.position.to(x), self.rotation.to(x)
        return self.sdf.distance((x - p) @ R)
