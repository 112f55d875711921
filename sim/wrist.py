"""The 6-DoF wrist dexsafe mounts every hand on: joint values <-> the ``hand_base`` pose.

Joints (``dexsafe.sim.hands.WRIST_JOINTS``): ``wrist_x, wrist_y, wrist_z`` are the
position of ``hand_base`` in ``world`` (m); ``wrist_roll, wrist_pitch,
wrist_yaw`` are hinges about the body's x, then y', then z'' axes (rad), so
``R = Rx(roll) @ Ry(pitch) @ Rz(yaw)`` (intrinsic x-y'-z''). Quaternions in ROS
order ``(x, y, z, w)``.
"""

from __future__ import annotations

import math

import numpy as np

from dexsafe.sim.geometry import wxyz_to_matrix, xyzw_to_wxyz


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def wrist_rotation(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """3x3 rotation of ``hand_base`` in ``world`` for the wrist hinge angles (rad)."""
    return _rx(roll) @ _ry(pitch) @ _rz(yaw)


def matrix_to_xyzw(r: np.ndarray) -> np.ndarray:
    """3x3 rotation -> unit quaternion ``(x, y, z, w)`` (w >= 0)."""
    r = np.asarray(r, dtype=float)
    t = np.trace(r)
    if t > 0:
        s = 2.0 * math.sqrt(1.0 + t)
        q = [(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k])
        q = [0.0, 0.0, 0.0, (r[k, j] - r[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (r[j, i] + r[i, j]) / s
        q[k] = (r[k, i] + r[i, k]) / s
    q = np.asarray(q) / np.linalg.norm(q)
    return -q if q[3] < 0 else q


def xyzw_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` -> 3x3 rotation."""
    return wxyz_to_matrix(xyzw_to_wxyz(q))


def wrist_joints_to_pose(q6) -> tuple[np.ndarray, np.ndarray]:
    """Wrist joint values ``(x, y, z, roll, pitch, yaw)`` -> ``(xyz, quat_xyzw)`` of ``hand_base`` in ``world``."""
    q6 = np.asarray(q6, dtype=float)
    return q6[:3].copy(), matrix_to_xyzw(wrist_rotation(*q6[3:6]))


def pose_to_wrist_joints(xyz, quat_xyzw) -> np.ndarray:
    """``hand_base`` pose in ``world`` -> wrist joint values ``(x, y, z, roll, pitch, yaw)``.

    Inverts ``R = Rx(roll) Ry(pitch) Rz(yaw)``: ``pitch = asin(R02)``,
    ``roll = atan2(-R12, R22)``, ``yaw = atan2(-R01, R00)``; at ``|pitch| = pi/2``
    (gimbal lock) yaw is set to 0.
    """
    r = xyzw_to_matrix(quat_xyzw)
    pitch = math.asin(max(-1.0, min(1.0, r[0, 2])))
    if abs(math.cos(pitch)) > 1e-9:
        roll = math.atan2(-r[1, 2], r[2, 2])
        yaw = math.atan2(-r[0, 1], r[0, 0])
    else:
        roll, yaw = math.atan2(r[2, 1], r[1, 1]), 0.0
    return np.array([*np.asarray(xyz, dtype=float)[:3], roll, pitch, yaw])
