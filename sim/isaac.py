"""Isaac Lab behind ``SimBackend`` (optional; needs Isaac Sim, Isaac Lab and a GPU).

Nothing here imports ``isaaclab`` at module import time: constructing an
``IsaacLabBackend`` does, and raises ``ImportError`` with what to install when
it is missing. The scene and hand come from the same files as for MuJoCo: the
hand's URDF twin (``urdf/dexsafe_hand.urdf``) is what Isaac Lab's URDF importer
reads, and the 6-DoF wrist is expressed as the articulation's root pose.
"""

from __future__ import annotations

import importlib.util

from dexsafe.sim.backend import SimBackend
from dexsafe.sim.hands import HandDescription, load_hand
from dexsafe.sim.scene_spec import SceneSpec, load_scene

INSTALL_HINT = ("Isaac Lab is not installed: the Isaac backend needs NVIDIA Isaac Sim and Isaac Lab "
                "(https://isaac-sim.github.io/IsaacLab) on a machine with an RTX GPU; "
                "use the 'mujoco' backend otherwise")


def isaaclab_available() -> bool:
    """True when the ``isaaclab`` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("isaaclab") is not None


class IsaacLabBackend(SimBackend):
    """The ``SimBackend`` contract on Isaac Lab. Raises ``ImportError`` (``INSTALL_HINT``) without it.

    Only construction is implemented here without Isaac Lab to test against;
    the contract test ``tests/sim/test_sim_isaac_contract.py`` runs the same
    checks as for MuJoCo where ``isaaclab`` is installed.
    """

    def __init__(self, scene: SceneSpec | str = "two_blocks", hand: HandDescription | str | None = None, **kwargs):
        if not isaaclab_available():
            raise ImportError(INSTALL_HINT)
        import isaaclab  # noqa: F401  (present: the GPU machine path)

        self._scene = scene if isinstance(scene, SceneSpec) else load_scene(scene)
        self._hand = hand if isinstance(hand, HandDescription) else load_hand(hand or self._scene.hand)
        raise NotImplementedError(
            "IsaacLabBackend: Isaac Lab was found but the scene bridge is not written yet; "
            "run with the 'mujoco' backend")

    # The abstract API, for completeness; unreachable until __init__ succeeds.
    hand = property(lambda self: self._hand)
    scene = property(lambda self: self._scene)
    time = property(lambda self: 0.0)
    timestep = property(lambda self: 0.0)

    def reset(self, seed=None):
        raise NotImplementedError

    def set_joint_targets(self, q):
        raise NotImplementedError

    def step(self, n=1):
        raise NotImplementedError

    def joint_state(self):
        raise NotImplementedError

    def object_states(self):
        raise NotImplementedError

    def contacts(self):
        raise NotImplementedError

    def render(self, camera=None, width=640, height=480):
        raise NotImplementedError

    def point_cloud(self, camera=None, width=320, height=240, max_depth=3.0):
        raise NotImplementedError

    def close(self):
        pass
