"""Pictures of grasp proposals: ``render_proposals_png`` (behind ``dexsafe grasp propose --png``).

Each proposal is posed in a MuJoCo scene of the same objects (hand joints set directly,
no physics), seen by a camera moved close to the objects, and the views are tiled into one
PNG with a caption per tile (rank, energy, filter, validation). Headless with
``MUJOCO_GL=osmesa`` or ``egl``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import mujoco
import numpy as np

from dexsafe.grasping.hand_model import HandModel
from dexsafe.grasping.proposals import ObjectPose, Proposal
from dexsafe.sim.geometry import xyzw_to_wxyz
from dexsafe.sim.scene_spec import SceneSpec, TableSpec


def _look_at_wxyz(pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    fwd = target - pos
    fwd /= np.linalg.norm(fwd)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, fwd)
    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.column_stack([right, up, -fwd]).ravel())
    return q


def caption(rank: int, p: Proposal) -> str:
    v = p.validation
    val = "" if v is None else (" valid" if v.passed else " invalid")
    return f"#{rank} E={p.energy_total:.2f} {'pass' if p.passed_filter else 'fail'}{val}"


def render_proposals_png(hand: HandModel, objects: list[ObjectPose], proposals: list[Proposal],
                         out: str | os.PathLike, *, table_height: float = 0.4, top: int = 4, width: int = 480,
                         height: int = 360, view: tuple[float, float, float] = (0.22, -0.26, 0.2)) -> Path:
    """Render the first ``top`` proposals side by side (at most 3 per row) to ``out``; returns the path.

    ``view`` is the camera offset from the objects' centroid, world m.
    """
    from PIL import Image, ImageDraw

    from dexsafe.sim.mujoco_backend import MujocoBackend

    if not proposals:
        raise ValueError("no proposals to render")
    scene = SceneSpec(name="grasp_render", hand=hand.description.name, table=TableSpec((0.8, 0.6), table_height),
                      workspace_min=(-3.0, -3.0, 0.0), workspace_max=(3.0, 3.0, 3.0),
                      objects=tuple(o.spec for o in objects))
    tiles = []
    with MujocoBackend(scene, hand.description, settle_time=0.002) as b:
        m, d, sm = b.model, b.data, b.sm
        cam = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_CAMERA, "overview")
        centre = np.mean([o.position for o in objects], axis=0)
        m.cam_pos[cam] = centre + np.asarray(view)
        m.cam_quat[cam] = _look_at_wxyz(m.cam_pos[cam].copy(), centre)
        m.cam_fovy[cam] = 45.0
        nc = hand.num_commanded
        for rank, p in enumerate(proposals[:top]):
            d.qpos[sm.qpos_adr] = np.concatenate([p.hand_position, p.wrist_rpy, p.joint_positions[:nc]])
            if len(sm.passive_qpos_adr):
                d.qpos[sm.passive_qpos_adr] = p.joint_positions[nc:]
            for o in objects:
                adr = sm.object_qpos_adr[o.id]
                d.qpos[adr:adr + 3] = o.position
                d.qpos[adr + 3:adr + 7] = xyzw_to_wxyz(o.quat_xyzw)
            mujoco.mj_forward(m, d)
            img = Image.fromarray(b.render_rgb("overview", width, height))
            ImageDraw.Draw(img).text((8, 8), caption(rank, p), fill=(255, 255, 255))
            tiles.append(img)
    cols = min(3, len(tiles))
    rows = math.ceil(len(tiles) / cols)
    sheet = Image.new("RGB", (cols * width, rows * height), (0, 0, 0))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * width, (i // cols) * height))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, format="PNG")
    return out
