"""The simulator interface the ROS ``sim`` node and the Gymnasium tasks program against.

``SimBackend`` is what a simulator must offer; ``MujocoBackend``
(``dexsafe.sim.mujoco_backend``, importable from here) is the default and
``IsaacLabBackend`` (``dexsafe.sim.isaac``) the optional one. Frames and units
(REP-103/105): everything in ``world`` (z up, metres, radians, seconds,
newtons); quaternions in ROS order ``(x, y, z, w)``; joint values in the
hand's command order (``hand.joint_names``: six wrist joints, then fingers).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from dexsafe.sim.hands import HandDescription
from dexsafe.sim.scene_spec import SceneSpec


@dataclass(frozen=True)
class JointState:
    """Joint readings, like sensor_msgs/JointState.

    ``names``: commanded joints in command order, then the hand's passive
    joints. ``position`` rad or m; ``velocity`` rad/s or m/s; ``effort`` the
    actuator's output in N m or N (0 for passive joints).
    """

    names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


@dataclass(frozen=True)
class ObjectState:
    """Pose and twist of one scene object in ``world``.

    ``position`` m (the object's centre); ``orientation`` unit quaternion
    ``(x, y, z, w)``; ``linear_velocity`` m/s and ``angular_velocity`` rad/s,
    both expressed in ``world``.
    """

    id: str
    position: np.ndarray
    orientation: np.ndarray
    linear_velocity: np.ndarray
    angular_velocity: np.ndarray


@dataclass(frozen=True)
class Contact:
    """One contact point between a hand body and something else.

    ``hand_body``: the hand body's name in its model file; ``other``: an object
    id, ``table``, ``floor``, or another hand body. ``position`` in ``world``
    (m); ``normal`` a unit vector in ``world`` pointing from ``other`` into the
    hand body (the direction of the push the hand receives); ``normal_force``
    its magnitude in N (>= 0); ``friction_force`` the tangential magnitude, N.
    """

    hand_body: str
    other: str
    position: np.ndarray
    normal: np.ndarray
    normal_force: float
    friction_force: float


class SimBackend(abc.ABC):
    """A simulated hand in a scene, stepped by its caller. See the module docstring for units."""

    @property
    @abc.abstractmethod
    def hand(self) -> HandDescription: ...

    @property
    @abc.abstractmethod
    def scene(self) -> SceneSpec: ...

    @property
    def joint_names(self) -> tuple[str, ...]:
        """Command order of ``set_joint_targets`` (and of /hand_controller/commands)."""
        return self.hand.joint_names

    @property
    @abc.abstractmethod
    def time(self) -> float:
        """Simulated time since the last reset, s."""

    @property
    @abc.abstractmethod
    def timestep(self) -> float:
        """Physics step, s."""

    @abc.abstractmethod
    def reset(self, seed: int | None = None) -> None:
        """Re-sample object poses (``seed``; None: the scene's seed), open the hand, settle; time -> 0."""

    @abc.abstractmethod
    def set_joint_targets(self, q) -> None:
        """Position targets in command order; clipped to the actuator ranges. ValueError on bad input."""

    @abc.abstractmethod
    def step(self, n: int = 1) -> None:
        """Advance ``n`` physics steps."""

    @abc.abstractmethod
    def joint_state(self) -> JointState: ...

    @abc.abstractmethod
    def object_states(self) -> list[ObjectState]: ...

    @abc.abstractmethod
    def contacts(self) -> list[Contact]: ...

    @abc.abstractmethod
    def render(self, camera: str | None = None, width: int = 640, height: int = 480) -> tuple[np.ndarray, np.ndarray]:
        """``(rgb, depth)``: uint8 HxWx3 and float32 HxW depth along the optical axis, m."""

    @abc.abstractmethod
    def point_cloud(self, camera: str | None = None, width: int = 320, height: int = 240,
                    max_depth: float = 3.0) -> np.ndarray:
        """(N, 3) float32 points in ``world`` from the depth image (background removed)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Free renderers and simulator resources; the backend is unusable afterwards."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def __getattr__(name: str):
    # ``from dexsafe.sim.backend import MujocoBackend`` without a circular import.
    if name == "MujocoBackend":
        from dexsafe.sim.mujoco_backend import MujocoBackend

        return MujocoBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_backend(kind: str = "mujoco", scene: SceneSpec | str = "two_blocks", hand: HandDescription | str | None = None,
                 **kwargs) -> SimBackend:
    """A backend by name: ``mujoco`` (default) or ``isaaclab`` (needs Isaac Lab installed)."""
    if kind == "mujoco":
        from dexsafe.sim.mujoco_backend import MujocoBackend

        return MujocoBackend(scene, hand, **kwargs)
    if kind in ("isaaclab", "isaac"):
        from dexsafe.sim.isaac import IsaacLabBackend

        return IsaacLabBackend(scene, hand, **kwargs)
    raise ValueError(f"unknown simulator backend {kind!r}; choose 'mujoco' or 'isaaclab'")
