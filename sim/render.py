"""Pictures of a scene: ``render_scene_png`` (behind ``dexsafe render``).

Headless with ``MUJOCO_GL=osmesa`` (or egl). The hand is shown open above the
objects, as a GraspLift episode starts, after the drop test has settled them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dexsafe.sim.hands import HandDescription
from dexsafe.sim.scene_spec import SceneSpec


def _write_png(rgb: np.ndarray, out: Path) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(rgb)).save(out, format="PNG")


def render_scene_png(scene: SceneSpec | str | os.PathLike, out: str | os.PathLike, *, seed: int | None = None,
                     hand: HandDescription | str | None = None, width: int = 800, height: int = 600,
                     camera: str | None = None) -> Path:
    """Render ``scene`` (a SceneSpec, name or path) to the PNG file ``out``; returns its path.

    ``seed`` picks the object placement (default: the scene file's seed); ``camera``
    is ``overview`` (default) or ``top``; size in pixels (at most 1920x1080).
    """
    from dexsafe.sim.mujoco_backend import MujocoBackend

    with MujocoBackend(scene if isinstance(scene, SceneSpec) else str(scene), hand) as b:
        b.reset(seed)
        if b.object_ids:
            b.set_joint_positions(b.open_hand_above())
        rgb = b.render_rgb(camera, width, height)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_png(rgb, out)
    return out
