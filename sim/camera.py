"""Pinhole camera maths: depth image -> points in ``world`` (pure numpy).

MuJoCo's camera frame looks along its -z axis with +y up and +x right; image
row 0 is the top. ``fovy`` is the full vertical field of view. Depth is the
distance along the optical axis (what MuJoCo's depth renderer returns), m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels (square pixels; principal point at the image centre)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fovy(cls, fovy_deg: float, width: int, height: int) -> Intrinsics:
        f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2)
        return cls(width, height, f, f, width / 2, height / 2)


def depth_to_points(depth: np.ndarray, intr: Intrinsics, cam_pos, cam_mat, max_depth: float) -> np.ndarray:
    """Back-project a depth image to an (N, 3) float32 cloud in ``world``.

    ``cam_pos`` (3,) and ``cam_mat`` (3x3, columns = camera axes in world) are
    the camera's pose; pixels with depth <= 0 or >= ``max_depth`` (background)
    are dropped.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != (intr.height, intr.width):
        raise ValueError(f"depth image is {depth.shape}, intrinsics expect {(intr.height, intr.width)}")
    rows, cols = np.nonzero((depth > 0) & (depth < max_depth))
    z = depth[rows, cols]
    x_cam = (cols + 0.5 - intr.cx) / intr.fx * z
    y_cam = -(rows + 0.5 - intr.cy) / intr.fy * z
    pts_cam = np.stack([x_cam, y_cam, -z], axis=1)
    world = pts_cam @ np.asarray(cam_mat, dtype=np.float64).reshape(3, 3).T + np.asarray(cam_pos, dtype=np.float64)
    return world.astype(np.float32)
