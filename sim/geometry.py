"""Small rotation helpers shared by the sim modules (pure numpy).

Quaternion orders differ between MuJoCo and ROS; every function says which
it takes. MuJoCo: ``wxyz``. ROS (geometry_msgs/Quaternion): ``xyzw``.
Euler angles are URDF roll-pitch-yaw: rotations about the fixed X, then Y,
then Z axes, i.e. ``R = Rz(yaw) @ Ry(pitch) @ Rx(roll)``, radians.
"""

from __future__ import annotations

import math

import numpy as np


def wxyz_to_xyzw(q) -> np.ndarray:
    """MuJoCo quaternion ``(w, x, y, z)`` -> ROS ``(x, y, z, w)``."""
    q = np.asarray(q, dtype=float)
    return np.concatenate([q[..., 1:4], q[..., :1]], axis=-1)


def xyzw_to_wxyz(q) -> np.ndarray:
    """ROS quaternion ``(x, y, z, w)`` -> MuJoCo ``(w, x, y, z)``."""
    q = np.asarray(q, dtype=float)
    return np.concatenate([q[..., 3:4], q[..., :3]], axis=-1)


def rpy_to_wxyz(rpy) -> np.ndarray:
    """URDF roll-pitch-yaw (rad) -> unit quaternion ``(w, x, y, z)``."""
    r, p, y = (0.5 * float(a) for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return np.array([
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    ])


def yaw_to_wxyz(yaw: float) -> np.ndarray:
    """Rotation by ``yaw`` rad about world +z as ``(w, x, y, z)``."""
    return np.array([math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)])


def wxyz_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` -> 3x3 rotation matrix."""
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])
