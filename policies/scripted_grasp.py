"""The scripted grasp executor: MultiGrasp stage 2's baseline and fallback.

From the current posture to a pre-grasp (reach), then close the closing joints
until each finger feels its grip force (close), raise the wrist (lift), and
hold. Pure numpy: it turns time and measurements into position targets; the
``grasp_executor`` node sends those through the safety shield.

Joint vectors are in the hand's command order (six wrist joints, then the
fingers: ``dexsafe.sim.hands.HandDescription.joint_names``); rad for hinges,
m for the wrist slides (``wrist_x, wrist_y, wrist_z``: world position of
``hand_base``). Times in seconds of whatever clock the caller uses.

Phases::

    reach  q_now -> above (pre-grasp raised by approach_height) -> pre-grasp,
           straight-line interpolation at reach_speed (m/s) for the wrist; the
           phase clock pauses while the measured wrist lags its target, and the
           phase ends when the pre-grasp is reached
    close  closing joints advance at close_speed (rad/s) in their closing
           direction; a finger stops advancing once its contact force reaches
           grip_force (N); the phase ends when every finger grips, or after
           max_close_time, then squeezes for settle_time
    lift   wrist z up by lift_height at lift_speed (m/s)
    hold   keep the targets for hold_time; then done
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Phase(StrEnum):
    REACH = "reach"
    CLOSE = "close"
    LIFT = "lift"
    HOLD = "hold"
    DONE = "done"


@dataclass(frozen=True)
class ExecutorConfig:
    """Speeds and thresholds of the scripted executor (SI units)."""

    approach_height: float = 0.10
    """How far above the pre-grasp the hand comes down from, m."""
    reach_speed: float = 0.15
    """Wrist speed while reaching, m/s."""
    close_speed: float = 1.2
    """Speed of the closing joints, rad/s."""
    grip_force: float = 3.0
    """Contact normal force at which a finger stops closing, N."""
    max_close_time: float = 1.5
    """Give up closing further after this long, s."""
    settle_time: float = 0.3
    """Time to let the grip settle before lifting, s."""
    lift_speed: float = 0.10
    """Wrist speed while lifting, m/s."""
    hold_time: float = 1.0
    """How long to hold after lifting, s (MultiGrasp's success test holds one second)."""
    track_tolerance: float = 0.01
    """Wrist tracking error (m) above which the reach/lift clock pauses, so a lagging hand
    (a slow simulator, a real arm) is never rushed past its waypoints."""
    settle_tolerance: float = 0.004
    """Wrist error (m) at which the pre-grasp counts as reached."""
    max_wait: float = 5.0
    """Longest wait for the hand to reach a waypoint, s; then the executor moves on."""


class ScriptedGraspExecutor:
    """Targets over time for one grasp; call :meth:`update` every control tick.

    Args:
        pregrasp: full command-order pre-grasp (wrist + fingers).
        closing: per joint +1/-1/0 (which way closes the hand; 0 = not a closing joint).
        lower, upper: target limits per joint.
        finger_joints: finger name -> indices of its closing joints (contact forces are per finger).
        lift_height: m to raise the wrist after closing.
    """

    def __init__(self, pregrasp: Sequence[float], closing: Sequence[float], lower: Sequence[float],
                 upper: Sequence[float], finger_joints: Mapping[str, Sequence[int]], lift_height: float,
                 config: ExecutorConfig | None = None) -> None:
        self.cfg = config or ExecutorConfig()
        self.pregrasp = np.asarray(pregrasp, dtype=float)
        self.closing = np.asarray(closing, dtype=float)
        self.lower, self.upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        n = len(self.pregrasp)
        if not (len(self.closing) == len(self.lower) == len(self.upper) == n):
            raise ValueError("pregrasp, closing, lower and upper must have the same length")
        if not np.all(np.isfinite(self.pregrasp)):
            raise ValueError("pre-grasp has non-finite values")
        if not (0.0 < lift_height <= 1.0):
            raise ValueError(f"lift_height {lift_height} m must be in (0, 1]")
        self.finger_joints = {f: np.asarray(ix, dtype=int) for f, ix in finger_joints.items()}
        self.lift_height = float(lift_height)
        self.phase = Phase.REACH
        self._t0: float | None = None
        self._segments: list[tuple[np.ndarray, np.ndarray, float]] = []
        self._targets: np.ndarray | None = None
        self._phase_start = 0.0
        self._gripping: set[str] = set()
        self._closed_at: float | None = None
        self._reached_at: float | None = None
        self._clock = 0.0
        self._lift_from = 0.0
        self._t_last = 0.0
        self.peak_force = 0.0

    # -- phases -----------------------------------------------------------------------------------
    def _plan_reach(self, q_now: np.ndarray) -> None:
        above = self.pregrasp.copy()
        above[2] = min(self.pregrasp[2] + self.cfg.approach_height, self.upper[2])
        first = np.where(self.closing != 0, q_now, above)  # shape the non-closing joints first
        first[:3] = above[:3]
        first[3:6] = above[3:6]
        d1 = float(np.linalg.norm(first[:3] - q_now[:3])) / self.cfg.reach_speed
        d2 = float(np.linalg.norm(above[:3] - self.pregrasp[:3])) / self.cfg.reach_speed
        self._segments = [(q_now, first, max(d1, 0.5)), (first, above, 0.5), (above, self.pregrasp, max(d2, 0.3))]

    @property
    def elapsed(self) -> float:
        """Seconds spent in the current phase, as of the last update."""
        return self._t_last - self._phase_start

    def progress(self) -> float:
        return {Phase.REACH: 0.0, Phase.CLOSE: 0.35, Phase.LIFT: 0.6, Phase.HOLD: 0.85, Phase.DONE: 1.0}[self.phase]

    def update(self, t: float, q_measured: Sequence[float], finger_forces: Mapping[str, float] | None = None,
               dt: float = 0.01) -> np.ndarray:
        """The targets for time ``t`` given the measured joints and per-finger forces (N)."""
        q = np.asarray(q_measured, dtype=float)
        forces = dict(finger_forces or {})
        self.peak_force = max([self.peak_force, *forces.values()])
        if self._t0 is None:
            self._t0 = self._phase_start = t
            self._plan_reach(q)
        self._t_last = t
        lag = 0.0 if self._targets is None else float(np.linalg.norm(self._targets[:3] - q[:3]))
        step = dt if lag <= self.cfg.track_tolerance else 0.0  # the phase clock pauses while the hand lags
        if self.phase == Phase.REACH:
            self._clock += step
            elapsed = self._clock
            for start, end, dur in self._segments:
                if elapsed < dur:
                    self._targets = start + (end - start) * (elapsed / dur)
                    break
                elapsed -= dur
            else:
                self._targets = self.pregrasp.copy()
                reached = float(np.linalg.norm(self.pregrasp[:3] - q[:3])) <= self.cfg.settle_tolerance
                if self._reached_at is None:
                    self._reached_at = t
                if reached or t - self._reached_at > self.cfg.max_wait:
                    self._enter(Phase.CLOSE, t)
        elif self.phase == Phase.CLOSE:
            elapsed = t - self._phase_start
            for finger, ix in self.finger_joints.items():
                if forces.get(finger, 0.0) >= self.cfg.grip_force:
                    self._gripping.add(finger)
                if finger not in self._gripping and elapsed < self.cfg.max_close_time:
                    self._targets[ix] += self.closing[ix] * self.cfg.close_speed * dt
            self._targets = np.clip(self._targets, self.lower, self.upper)
            closed = len(self._gripping) == len(self.finger_joints) or elapsed >= self.cfg.max_close_time
            if closed and self._closed_at is None:
                self._closed_at = t
            if closed and t - self._closed_at >= self.cfg.settle_time:
                self._enter(Phase.LIFT, t)
                self._lift_from = float(self._targets[2])
        elif self.phase == Phase.LIFT:
            self._clock += step
            z = self._lift_from + min(self.lift_height, self._clock * self.cfg.lift_speed)
            self._targets[2] = min(z, self.upper[2])
            if z >= self._lift_from + self.lift_height - 1e-9 or self._targets[2] >= self.upper[2]:
                self._enter(Phase.HOLD, t)
        elif self.phase == Phase.HOLD and t - self._phase_start >= self.cfg.hold_time:
            self.phase = Phase.DONE
        return self._targets.copy()

    def _enter(self, phase: Phase, t: float) -> None:
        self.phase = phase
        self._phase_start = t
        self._clock = 0.0

    def open_targets(self, q_measured: Sequence[float], open_posture: Sequence[float]) -> np.ndarray:
        """Targets for a cancel: fingers to ``open_posture`` (finger part), wrist backs off upward."""
        q = np.asarray(q_measured, dtype=float).copy()
        out = np.where(self.closing != 0, np.asarray(open_posture, dtype=float), q)
        out[:6] = q[:6]
        out[2] = min(q[2] + self.cfg.approach_height, self.upper[2])
        return np.clip(out, self.lower, self.upper)
