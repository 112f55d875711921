"""The trained grasp-and-lift policy: a residual on top of the scripted executor (MultiGrasp stage 2).

The scripted executor (``dexsafe.policies.scripted_grasp``) reaches the pre-grasp; from
then on (close, lift, hold) a PPO policy corrects the joint targets it produces. The
action has one entry per wrist joint (x, y, z, roll, pitch, yaw) and one per finger (a
closing synergy: all of that finger's closing joints along their closing direction)::

    c      <- c + clip(action - c, -step, step)              action, c in [-1, 1]^(6 + fingers)
    target  = clip(executor_target + basis @ c, lower, upper)

``basis`` scales each entry (``ResidualScales``: m, rad, rad); ``step`` bounds how fast the
correction ``c`` may change per policy step, so the targets stay smooth enough for the
safety shield's rate limit whatever the network outputs. An untrained (zero) action is
exactly the scripted baseline, and no output moves a target further than its scale from
the scripted one. The policy is goal-conditioned: it sees the pre-grasp it executes.

Observation (:class:`GraspObservation`, float32), all in ``world`` and SI units; joint
vectors in the hand's command order (six wrist joints, then the fingers):

- joint positions ``q``; velocities ``0.1 * qdot``; ``executor_target - q``; ``q - pregrasp``;
  the correction ``c`` in place
- per finger (sorted by name): summed contact normal force / 10 N
- per object (sorted along the wrist's x axis at the first observation; callers pass the objects
  in the same order every tick): position minus the wrist flange position,
  orientation (xyzw, w >= 0), velocity (finite difference over the control period), rise
  above its height when the grasp started, and its shape (``shape_features``: half extents, round)
- the executor's phase (close, lift, hold as one-hot) and the time in it / 2 s

The policy decides every few executor ticks (``PolicySpec.decide_every``: 5 at 50 Hz, so
10 Hz) and its action is held in between: exploration noise then lasts long enough to
change a grasp, not only to jitter it, and an episode is 40 decisions instead of 200.

Everything here is numpy and needs only what a real deployment has: ``/joint_states``,
per-finger contact forces and the tracked object poses (no palm position, no sim state).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dexsafe.policies.scripted_grasp import Phase, ScriptedGraspExecutor

POLICY_PHASES = (Phase.CLOSE, Phase.LIFT, Phase.HOLD)
"""Phases in which the residual acts (the reach is scripted)."""
ENV_ID = "dexsafe/GraspExecute-v0"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "models" / "grasp_lift_residual.pt"
"""The policy the ``grasp_executor`` node loads by default (``make grasp-policy`` retrains it)."""


@dataclass(frozen=True)
class ResidualScales:
    """Largest correction per action entry (action = +-1), and how fast it may change."""

    wrist_xyz: float = 0.02
    """m, per wrist slide"""
    wrist_rpy: float = 0.08
    """rad, per wrist rotation"""
    fingers: float = 0.3
    """rad, every closing joint of a finger together"""
    wrist_xyz_step: float = 0.002
    wrist_rpy_step: float = 0.008
    fingers_step: float = 0.006
    """Largest change of the correction per policy step (m, rad, rad per joint). The safety shield
    rate-limits every target to its velocity limit per 10 ms tick (0.005 m, 0.02 rad, 0.06 rad for
    the dexsafe hand) and counts a cost when it has to; these leave room for the scripted motion."""


def residual_basis(closing: np.ndarray, finger_joints: Mapping[str, Sequence[int]], scales: ResidualScales
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(basis, step)``: the ``[joints, 6 + fingers]`` map from a correction to joint offsets (wrist
    joints 0-5 one each; each finger's closing joints along ``closing``; fingers sorted by name), and
    the largest change of each correction entry per policy step (in action units)."""
    n = len(closing)
    fingers = sorted(finger_joints)
    basis = np.zeros((n, 6 + len(fingers)))
    basis[[0, 1, 2], [0, 1, 2]] = scales.wrist_xyz
    basis[[3, 4, 5], [3, 4, 5]] = scales.wrist_rpy
    for k, f in enumerate(fingers):
        ix = np.asarray(finger_joints[f], dtype=int)
        basis[ix, 6 + k] = scales.fingers * closing[ix]
    step = np.concatenate([np.full(3, scales.wrist_xyz_step / scales.wrist_xyz),
                           np.full(3, scales.wrist_rpy_step / scales.wrist_rpy),
                           np.full(len(fingers), scales.fingers_step / scales.fingers)])
    return basis, step


def next_correction(previous: np.ndarray, action: np.ndarray, step: np.ndarray) -> np.ndarray:
    """The correction moved from ``previous`` towards ``clip(action, -1, 1)`` by at most ``step``."""
    a = np.asarray(action, dtype=float)
    if a.shape != previous.shape:
        raise ValueError(f"residual action has shape {a.shape}, expected {previous.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("residual action has non-finite values")
    return previous + np.clip(np.clip(a, -1.0, 1.0) - previous, -step, step)


def canonical_quat(xyzw: Sequence[float]) -> np.ndarray:
    """Unit quaternion (xyzw) with w >= 0: q and -q are the same rotation, the network sees one."""
    q = np.asarray(xyzw, dtype=float)
    q = q / max(float(np.linalg.norm(q)), 1e-12)
    return -q if q[3] < 0 else q


def shape_features(shape: str, size: Sequence[float]) -> np.ndarray:
    """What the policy knows of an object's shape: half extents along its own x, y, z when upright (m)
    and whether it is round (cylinder, capsule, sphere: 1, box: 0). ``shape``/``size`` as in a scene
    file or a ``dexsafe/SceneObject``; meshes are refused (ValueError), the policy knows primitives."""
    s = [float(v) for v in size]
    if shape == "box" and len(s) == 3:
        return np.array([s[0] / 2, s[1] / 2, s[2] / 2, 0.0])
    if shape == "cylinder" and len(s) == 2:
        return np.array([s[0], s[0], s[1] / 2, 1.0])
    if shape == "capsule" and len(s) == 2:
        return np.array([s[0], s[0], s[1] / 2 + s[0], 1.0])
    if shape == "sphere" and len(s) == 1:
        return np.array([s[0], s[0], s[0], 1.0])
    raise ValueError(f"the grasp policy knows box, cylinder, capsule and sphere objects, not {shape!r} "
                     f"with size {s}")


@dataclass
class TrackedObject:
    """One object as the observation needs it: world position (m), orientation (xyzw) and
    ``shape_features``."""

    position: np.ndarray
    orientation: np.ndarray
    shape: np.ndarray


class GraspObservation:
    """Builds the policy's observation for one grasp (see the module docstring); stateful only for
    object velocities and rises.

    Args:
        fingers: finger names as the contact forces are keyed (sorted here).
        num_joints: command-order joints of the hand.
        num_objects: objects the policy was trained to hold together.
        control_dt: s between observations (for object velocities).
    """

    def __init__(self, fingers: Sequence[str], num_joints: int, num_objects: int, control_dt: float) -> None:
        self.fingers = sorted(fingers)
        self.action_size = 6 + len(self.fingers)
        self.num_joints = int(num_joints)
        self.num_objects = int(num_objects)
        self.control_dt = float(control_dt)
        self.pregrasp = np.zeros(self.num_joints)
        self._order: list[int] | None = None
        self._z0: np.ndarray | None = None
        self._prev: np.ndarray | None = None

    @property
    def size(self) -> int:
        return (4 * self.num_joints + self.action_size + len(self.fingers) + 15 * self.num_objects
                + len(POLICY_PHASES) + 1)

    def start(self, pregrasp: Sequence[float]) -> None:
        """A new grasp: remember its pre-grasp; object rises count from the next observation."""
        self.pregrasp = np.asarray(pregrasp, dtype=float).copy()
        self._order = None
        self._z0 = None
        self._prev = None

    @staticmethod
    def order(q: np.ndarray, objects: Sequence[TrackedObject]) -> list[int]:
        """Indices of ``objects`` sorted along the wrist's x axis (its yaw ``q[5]``), nearest the thumb first."""
        axis = np.array([math.cos(q[5]), math.sin(q[5])])
        return sorted(range(len(objects)), key=lambda i: float(np.dot(objects[i].position[:2] - q[:2], axis)))

    def __call__(self, q: np.ndarray, qdot: np.ndarray, target: np.ndarray, correction: np.ndarray,
                 forces: Mapping[str, float], objects: Sequence[TrackedObject], phase: Phase,
                 phase_time: float) -> np.ndarray:
        if len(objects) != self.num_objects:
            raise ValueError(f"the policy holds {self.num_objects} objects, {len(objects)} given")
        if self._order is None:  # fixed for the grasp: rises and velocities stay with their object
            self._order = self.order(q, objects)
        objs = [objects[i] for i in self._order]
        pos = np.array([o.position for o in objs], dtype=float)
        if self._z0 is None:
            self._z0 = pos[:, 2].copy()
        vel = np.zeros_like(pos) if self._prev is None else (pos - self._prev) / self.control_dt
        self._prev = pos
        parts = [q, 0.1 * np.asarray(qdot, dtype=float), target - q, q - self.pregrasp, correction,
                 [forces.get(f, 0.0) / 10.0 for f in self.fingers]]
        for o, p, v, z0 in zip(objs, pos, vel, self._z0):
            parts += [p - q[:3], canonical_quat(o.orientation), v, [p[2] - z0], o.shape]
        parts += [[float(phase == ph) for ph in POLICY_PHASES], [min(phase_time, 4.0) / 2.0]]
        return np.concatenate([np.asarray(x, dtype=float).ravel() for x in parts]).astype(np.float32)


@dataclass(frozen=True)
class PolicySpec:
    """What a residual grasp checkpoint was trained for (stored beside the weights)."""

    hand: str
    num_objects: int
    executor_rate: float
    """scripted executor updates per second, Hz (the node's ``control_rate``)"""
    decide_every: int
    """executor ticks per policy decision (the action is held in between)"""
    scales: ResidualScales

    def as_dict(self) -> dict:
        return {"hand": self.hand, "num_objects": self.num_objects, "executor_rate": self.executor_rate,
                "decide_every": self.decide_every, "scales": asdict(self.scales)}

    @classmethod
    def from_dict(cls, data: Mapping) -> PolicySpec:
        return cls(str(data["hand"]), int(data["num_objects"]), float(data["executor_rate"]),
                   int(data["decide_every"]), ResidualScales(**data["scales"]))


class ResidualGraspPolicy:
    """A trained residual checkpoint: ``action = policy(obs)`` plus the :class:`PolicySpec` it needs.

    Raises ``CheckpointError`` for a file that is not a residual grasp policy.
    """

    def __init__(self, path: str | Path = DEFAULT_CHECKPOINT) -> None:
        from dexsafe.policies.checkpoint import CheckpointError, load_checkpoint, load_policy

        self.path = Path(path)
        data = load_checkpoint(self.path)
        if "grasp_policy" not in data:
            raise CheckpointError(f"{self.path} is a policy checkpoint but not a residual grasp policy "
                                  f"(env {data.get('env_id')!r}; export one with `dexsafe grasp train`)")
        self.spec = PolicySpec.from_dict(data["grasp_policy"])
        self.policy = load_policy(self.path, deterministic=True)
        self.training = dict(data.get("training") or {})

    def mismatch(self, hand: str, num_objects: int, executor_rate: float) -> str:
        """Why this policy cannot run a grasp of ``num_objects`` with ``hand`` and an executor updating at
        ``executor_rate`` Hz ('' if it can)."""
        if hand != self.spec.hand:
            return f"trained for {self.spec.hand}, not {hand}"
        if num_objects != self.spec.num_objects:
            return f"trained to hold {self.spec.num_objects} objects, not {num_objects}"
        if abs(executor_rate - self.spec.executor_rate) > 1e-6:
            return f"trained with the executor at {self.spec.executor_rate:g} Hz, not {executor_rate:g} Hz"
        return ""

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return self.policy(obs)


def load_residual_policy(name: str | Path) -> ResidualGraspPolicy:
    """``'default'`` -> the policy shipped in ``policies/models``; anything else is a checkpoint path.
    Raises ``CheckpointError`` (a ``ValueError``) saying what is wrong."""
    return ResidualGraspPolicy(DEFAULT_CHECKPOINT if str(name) == "default" else Path(name))


class ResidualGraspExecutor:
    """The scripted executor with a policy's corrections from the close phase on.

    ``update`` takes what the scripted executor takes plus joint velocities and the tracked
    objects; with ``policy=None`` it is exactly the scripted executor. The executor is shown
    the measured wrist minus the wrist correction, so its own tracking checks compare like
    with like. The policy decides every ``decide_every`` ticks; its action is held in between.
    If the policy refuses an observation (ValueError: NaN from a bad object pose, an object
    missing), the grasp goes on scripted: ``fallback_reason`` says why and the correction
    eases back to zero at its rate limit, so the targets never jump.
    """

    def __init__(self, executor: ScriptedGraspExecutor, policy: Callable[[np.ndarray], np.ndarray] | None,
                 observation: GraspObservation, scales: ResidualScales, decide_every: int = 1) -> None:
        self.executor = executor
        self.policy = policy
        self.decide_every = max(1, int(decide_every))
        self._ticks = 0
        self._held: np.ndarray | None = None
        self.fallback_reason = ""
        self.observation = observation
        self.basis, self.step = residual_basis(executor.closing, executor.finger_joints, scales)
        self.correction = np.zeros(self.basis.shape[1])
        self.residual = np.zeros(len(executor.pregrasp))
        self.observation.start(executor.pregrasp)

    @property
    def action_size(self) -> int:
        return self.basis.shape[1]

    @property
    def phase(self) -> Phase:
        return self.executor.phase

    @property
    def peak_force(self) -> float:
        return self.executor.peak_force

    def base_targets(self, t: float, q: np.ndarray, forces: Mapping[str, float], dt: float) -> np.ndarray:
        """The scripted executor's targets for this tick (it sees q without the last wrist correction)."""
        seen = np.asarray(q, dtype=float).copy()
        seen[:6] -= self.residual[:6]
        return self.executor.update(t, seen, forces, dt=dt)

    def observe(self, q, qdot, base: np.ndarray, forces, objects: Sequence[TrackedObject]) -> np.ndarray:
        ex = self.executor
        return self.observation(np.asarray(q, dtype=float), np.asarray(qdot, dtype=float), base, self.correction,
                                forces, objects, ex.phase, max(0.0, ex.elapsed))

    def apply(self, base: np.ndarray, action: np.ndarray) -> np.ndarray:
        """Targets for this tick: ``base`` plus the correction moved towards ``action``."""
        self.correction = next_correction(self.correction, action, self.step)
        targets = np.clip(base + self.basis @ self.correction, self.executor.lower, self.executor.upper)
        self.residual = targets - base
        return targets

    def update(self, t: float, q, forces: Mapping[str, float], dt: float, qdot, objects: Sequence[TrackedObject]
               ) -> np.ndarray:
        base = self.base_targets(t, q, forces, dt)
        if self.policy is not None and self.phase in POLICY_PHASES:
            if self._ticks % self.decide_every == 0:
                try:
                    self._held = self.policy(self.observe(q, qdot, base, forces, objects))
                except ValueError as exc:
                    self.stop_policy(f"the policy refused its input ({exc})")
            self._ticks += 1
            if self.policy is not None:
                return self.apply(base, self._held)
        if not self.correction.any():
            return base
        return self.apply(base, np.zeros(self.action_size))  # a correction left over eases back to zero

    def stop_policy(self, reason: str) -> None:
        """Go on with the scripted executor alone (the correction eases back to zero)."""
        if self.policy is not None:
            self.policy = None
            self.fallback_reason = reason
