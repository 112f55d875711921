"""Rotation parametrisations used by the grasp optimiser (torch, batched, differentiable).

Conventions (the same as ``dexsafe.sim.geometry``):

- **6D rotation** (Zhou et al., CVPR 2019): ``r6 = (a1, a2)`` are the first two columns of
  ``R`` as given; Gram-Schmidt gives ``b1 = a1/|a1|``, ``b2 = (a2 - (b1.a2) b1)/|.|``,
  ``b3 = b1 x b2`` and ``R = [b1 b2 b3]`` (columns). It is continuous, unlike Euler angles
  and quaternions, which is why MultiGrasp optimises it.
- **Wrist Euler angles**: dexsafe's wrist hinges roll, pitch, yaw are applied in that order
  about the moving x, y', z'' axes: ``R = Rx(roll) @ Ry(pitch) @ Rz(yaw)`` (rad).
- Quaternions as ROS orders them, ``(x, y, z, w)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def rot6d_to_matrix(r6: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt of the two columns ``r6[..., :3]``, ``r6[..., 3:]``."""
    a1, a2 = r6[..., :3], r6[..., 3:6]
    b1 = a1 / a1.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    a2p = a2 - (b1 * a2).sum(-1, keepdim=True) * b1
    b2 = a2p / a2p.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], dim=-1)


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors (axis times angle, rad) -> (..., 3, 3), Rodrigues' formula."""
    theta = axis_angle.norm(dim=-1, keepdim=True)
    k = axis_angle / theta.clamp_min(1e-12)
    K = torch.zeros(axis_angle.shape[:-1] + (3, 3), dtype=axis_angle.dtype, device=axis_angle.device)
    K[..., 0, 1], K[..., 0, 2] = -k[..., 2], k[..., 1]
    K[..., 1, 0], K[..., 1, 2] = k[..., 2], -k[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -k[..., 1], k[..., 0]
    s, c = torch.sin(theta)[..., None], torch.cos(theta)[..., None]
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(K)
    return eye + s * K + (1 - c) * (K @ K)


def euler_xyz_to_matrix(rpy) -> np.ndarray:
    """Wrist roll, pitch, yaw (rad) -> ``Rx(roll) @ Ry(pitch) @ Rz(yaw)`` (numpy, 3x3)."""
    r, p, y = (float(a) for a in rpy)
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rx @ ry @ rz


def matrix_to_euler_xyz(R) -> np.ndarray:
    """Inverse of ``euler_xyz_to_matrix`` with pitch in [-pi/2, pi/2] (numpy).

    ``R = Rx(r) Ry(p) Rz(y)`` has ``R[0, 2] = sin p``, ``R[1, 2] = -sin r cos p``,
    ``R[2, 2] = cos r cos p``, ``R[0, 1] = -cos p sin y``, ``R[0, 0] = cos p cos y``.
    """
    R = np.asarray(R, dtype=float)
    p = math.asin(float(np.clip(R[0, 2], -1.0, 1.0)))
    if abs(math.cos(p)) > 1e-9:
        r = math.atan2(-R[1, 2], R[2, 2])
        y = math.atan2(-R[0, 1], R[0, 0])
    else:  # gimbal lock: only roll + yaw (or roll - yaw) is defined; put it all in roll
        r = math.atan2(R[2, 1], R[1, 1])
        y = 0.0
    return np.array([r, p, y])


def wrist_euler_candidates(R) -> list[np.ndarray]:
    """Both Euler solutions of ``R`` (the second: ``(r + pi, pi - p, y + pi)``), angles wrapped to (-pi, pi]."""
    a = matrix_to_euler_xyz(R)
    b = np.array([a[0] + math.pi, math.pi - a[1], a[2] + math.pi])
    wrap = lambda v: (v + math.pi) % (2 * math.pi) - math.pi  # noqa: E731
    return [wrap(a), wrap(b)]


def matrix_to_quat_xyzw(R) -> np.ndarray:
    """3x3 rotation (numpy) -> unit quaternion ``(x, y, z, w)`` with ``w >= 0`` (Shepperd's method)."""
    R = np.asarray(R, dtype=float)
    t = np.trace(R)
    if t > 0:
        s = 2.0 * math.sqrt(1.0 + t)
        q = [(R[2, 1] - R[1, 2]) / s, (R[0, 2] - R[2, 0]) / s, (R[1, 0] - R[0, 1]) / s, 0.25 * s]
    else:
        i = int(np.argmax(np.diag(R)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * math.sqrt(max(1e-12, 1.0 + R[i, i] - R[j, j] - R[k, k]))
        q = [0.0, 0.0, 0.0, (R[k, j] - R[j, k]) / s]
        q[i] = 0.25 * s
        q[j] = (R[j, i] + R[i, j]) / s
        q[k] = (R[k, i] + R[i, k]) / s
    q = np.array(q)
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """Unit quaternion ``(x, y, z, w)`` -> 3x3 rotation (numpy)."""
    x, y, z, w = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])
