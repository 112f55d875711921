"""The safety shield: the last filter between any policy and the hand.

Every position command for the hand passes :meth:`SafetyShield.filter` exactly
once per control tick. The shield is pure numpy (no torch, no rclpy), so the
``safety_shield`` node is a thin adapter and everything here is testable alone.

What one tick does, in order (each step that changes something is reported as a
named :class:`Intervention`)::

    command ──► reject? (None / wrong length / NaN / inf)      -> hold last safe command
            ──► stale?  (joint state or command older than its timeout,
                         clock going backwards, bad joint state) -> hold last safe command
            ──► effort cap      |u - q| <= effort_limit / position_gain   (soft)
            ──► contact cap     finger pressing harder than max_contact_force
                                may not close further than q              (soft)
            ──► joint limits    lower <= u <= upper                       (hard)
            ──► workspace box   wrist joints keep the wrist in the box    (hard)
            ──► rate limit      |u - u_prev| <= max_velocity * dt         (hard)

with ``q`` the measured joint positions, ``u_prev`` the last command the shield
sent and ``dt = min(now - t_prev, control_period)``. The hard constraints come
last, so whatever the soft caps did, every command the shield returns lies
inside the (workspace-tightened) joint limits and within one tick's motion of
the previous output. Because ``u_prev`` is itself inside the limits and the
rate window is centred on it, clipping to the limits and then to the rate
window cannot leave the limits (both sets are intervals containing ``u_prev``).

Holding means re-sending the last safe command (zero motion), or, before any
command was sent, the measured posture clamped to the limits. With no valid
joint state ever received there is nothing safe to send: the result's
``command`` is ``None`` and the node publishes nothing.

The cost of a tick is the Safety-Gymnasium style indicator: 1.0 when the shield
had to change or refuse the policy's command for a safety reason, or a measured
contact force is over its limit; 0.0 otherwise (holding because nothing new
arrived is not a cost).

Units (REP-103): radians and rad/s for revolute joints, metres and m/s for the
wrist's prismatic joints, N·m / N for efforts, N for contact forces, seconds of a
steady clock for every time (never sim time).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "Intervention",
    "JointState",
    "SafetyShield",
    "ShieldConfigError",
    "ShieldLimits",
    "ShieldResult",
]


class ShieldConfigError(ValueError):
    """The limits given to the shield are inconsistent; the message says which and why."""


class Intervention(StrEnum):
    """What the shield did to a command. Values are the strings published in diagnostics."""

    CLAMPED_TO_LIMITS = "clamped_to_limits"
    """A target was outside [lower, upper] and was clamped."""
    WORKSPACE_CLAMPED = "workspace_clamped"
    """A wrist target would put the wrist outside the workspace box."""
    RATE_LIMITED = "rate_limited"
    """A target moved more than max_velocity * dt from the previous output."""
    EFFORT_CAPPED = "effort_capped"
    """|target - q| exceeded effort_limit / position_gain (the PD effort it would cause)."""
    FORCE_CAPPED = "force_capped"
    """A finger in contact above max_contact_force was stopped from closing further."""
    REJECTED_NONFINITE = "rejected_nonfinite"
    """The command had NaN or infinite entries; the last safe command was held."""
    REJECTED_WRONG_LENGTH = "rejected_wrong_length"
    """The command had the wrong number of joints (or was not numeric); held."""
    HOLDING_STALE_STATE = "holding_stale_state"
    """The joint state is older than state_timeout; the last safe command was held."""
    HOLDING_STALE_COMMAND = "holding_stale_command"
    """The command is older than command_timeout (or none arrived yet); held."""
    HOLDING_BAD_STATE = "holding_bad_state"
    """The joint state had the wrong length or non-finite positions; held."""
    HOLDING_CLOCK_BACKWARDS = "holding_clock_backwards"
    """``now`` was earlier than the previous tick's ``now``; held."""
    HOLDING_BAD_CLOCK = "holding_bad_clock"
    """``now`` was NaN, infinite or not a number; held."""
    NO_JOINT_STATE = "no_joint_state"
    """No valid joint state has ever arrived: nothing safe can be sent (command is None)."""


#: Interventions that mean the policy asked for something unsafe (cost 1 for the tick).
_COSTLY = frozenset(
    {
        Intervention.CLAMPED_TO_LIMITS,
        Intervention.WORKSPACE_CLAMPED,
        Intervention.RATE_LIMITED,
        Intervention.EFFORT_CAPPED,
        Intervention.FORCE_CAPPED,
        Intervention.REJECTED_NONFINITE,
        Intervention.REJECTED_WRONG_LENGTH,
    }
)


def _clip(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """``np.clip`` for the control path: same result (lower <= upper), a third of the overhead."""
    return np.minimum(np.maximum(x, lower), upper)


def _vector(name: str, values: Any, n: int, default: float | None = None) -> np.ndarray:
    """``values`` as a float64 vector of length ``n`` (a scalar is broadcast)."""
    if values is None:
        if default is None:
            raise ShieldConfigError(f"{name} is required")
        values = default
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ShieldConfigError(f"{name} has {arr.size} entries, expected {n} (one per joint)")
    if np.isnan(arr).any():
        raise ShieldConfigError(f"{name} contains NaN")
    return arr.copy()


@dataclass
class ShieldLimits:
    """Everything the shield enforces, one entry per joint in ``joint_names`` order.

    The command vector the shield filters is ordered as ``joint_names`` (the
    ros2_control forward_command_controller convention: the controller's
    ``joints`` parameter).
    """

    joint_names: Sequence[str]
    """Joint names, in command order."""
    position_lower: Sequence[float] | np.ndarray
    """Lowest allowed position target per joint (rad or m)."""
    position_upper: Sequence[float] | np.ndarray
    """Highest allowed position target per joint (rad or m)."""
    max_velocity: Sequence[float] | np.ndarray | float
    """Largest change of a target per second (rad/s or m/s); > 0."""
    max_effort: Sequence[float] | np.ndarray | float | None = None
    """Effort limit per joint (N·m or N); inf = none. Used with ``position_gain``."""
    position_gain: Sequence[float] | np.ndarray | float | None = None
    """Stiffness of the joint's position controller (N·m/rad or N/m). With it the
    effort a target causes is about ``gain * (target - q)``, so the effort limit
    becomes ``|target - q| <= max_effort / gain``. None: effort is not capped."""
    control_period: float = 0.01
    """Nominal control tick (s). ``dt`` for the rate limit is the time since the
    previous tick, capped at this, so a late tick never allows a bigger jump."""
    state_timeout: float = 0.1
    """Joint states older than this (s, steady clock) are stale: hold."""
    command_timeout: float = 0.5
    """Commands older than this (s, steady clock) are stale: hold."""
    finger_joints: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Finger name -> joints that close that finger (the joints a contact on it caps)."""
    closing_direction: Sequence[float] | np.ndarray | float | None = None
    """Per joint: +1 if increasing the position closes the hand, -1 if decreasing
    does, 0 for joints that do not close (abduction, wrist). Default +1."""
    max_contact_force: float = math.inf
    """Normal force (N) on a finger above which that finger may not close further."""
    wrist_joints: Sequence[str] = ()
    """The wrist's translational (prismatic) joints along world x, y, z, in that
    order; empty when the hand has no wrist translation."""
    wrist_origin: Sequence[float] = (0.0, 0.0, 0.0)
    """World position (m) of the wrist when its translational joints are all 0."""
    workspace_lower: Sequence[float] | None = None
    """World box lower corner (x, y, z) in m the wrist must stay in."""
    workspace_upper: Sequence[float] | None = None
    """World box upper corner (x, y, z) in m."""

    def __post_init__(self) -> None:
        names = [str(n) for n in self.joint_names]
        if not names:
            raise ShieldConfigError("joint_names is empty")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ShieldConfigError(f"joint_names has duplicates: {dup}")
        self.joint_names = tuple(names)
        n = len(names)
        self.position_lower = _vector("position_lower", self.position_lower, n)
        self.position_upper = _vector("position_upper", self.position_upper, n)
        if not (np.isfinite(self.position_lower).all() and np.isfinite(self.position_upper).all()):
            raise ShieldConfigError("position limits must be finite")
        bad = np.flatnonzero(self.position_lower > self.position_upper)
        if bad.size:
            raise ShieldConfigError(
                f"position_lower > position_upper for joints {[names[i] for i in bad]}"
            )
        self.max_velocity = _vector("max_velocity", self.max_velocity, n)
        if not (np.isfinite(self.max_velocity).all() and (self.max_velocity > 0).all()):
            raise ShieldConfigError("max_velocity must be finite and > 0 for every joint")
        self.max_effort = _vector("max_effort", self.max_effort, n, default=math.inf)
        if (self.max_effort <= 0).any():
            raise ShieldConfigError("max_effort must be > 0 (use inf for no limit)")
        self.position_gain = (
            None
            if self.position_gain is None
            else _vector("position_gain", self.position_gain, n)
        )
        if self.position_gain is not None and not (self.position_gain > 0).all():
            raise ShieldConfigError("position_gain must be > 0 for every joint")
        for attr in ("control_period", "state_timeout", "command_timeout"):
            v = float(getattr(self, attr))
            if not (math.isfinite(v) and v > 0):
                raise ShieldConfigError(f"{attr} must be a finite number > 0, got {v}")
            setattr(self, attr, v)
        self.closing_direction = _vector("closing_direction", self.closing_direction, n, default=1.0)
        if not np.isin(self.closing_direction, (-1.0, 0.0, 1.0)).all():
            raise ShieldConfigError("closing_direction entries must be -1, 0 or +1")
        index = {name: i for i, name in enumerate(names)}
        fingers: dict[str, tuple[str, ...]] = {}
        for finger, joints in dict(self.finger_joints).items():
            unknown = [j for j in joints if j not in index]
            if unknown:
                raise ShieldConfigError(f"finger {finger!r} names unknown joints {unknown}")
            fingers[str(finger)] = tuple(joints)
        self.finger_joints = fingers
        self.max_contact_force = float(self.max_contact_force)
        if not self.max_contact_force > 0:
            raise ShieldConfigError("max_contact_force must be > 0 (inf for no limit)")
        self.wrist_joints = tuple(self.wrist_joints)
        if self.wrist_joints:
            if len(self.wrist_joints) != 3:
                raise ShieldConfigError(
                    f"wrist_joints must name the x, y, z translational joints, got {self.wrist_joints}"
                )
            unknown = [j for j in self.wrist_joints if j not in index]
            if unknown:
                raise ShieldConfigError(f"wrist_joints names unknown joints {unknown}")
        self.wrist_origin = _vector("wrist_origin", self.wrist_origin, 3)
        has_box = self.workspace_lower is not None or self.workspace_upper is not None
        if has_box:
            if not self.wrist_joints:
                raise ShieldConfigError("a workspace box needs wrist_joints")
            self.workspace_lower = _vector("workspace_lower", self.workspace_lower, 3, -math.inf)
            self.workspace_upper = _vector("workspace_upper", self.workspace_upper, 3, math.inf)
            if (self.workspace_lower > self.workspace_upper).any():
                raise ShieldConfigError("workspace_lower > workspace_upper")

    # ------------------------------------------------------------------ derived
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index_of(self, joints: Sequence[str]) -> np.ndarray:
        """Indices of ``joints`` in command order."""
        index = {name: i for i, name in enumerate(self.joint_names)}
        return np.array([index[j] for j in joints], dtype=np.intp)

    def effective_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Joint limits tightened by the workspace box (wrist joint = box - origin).

        Raises if the box and the wrist joints' limits do not overlap.
        """
        lower = np.array(self.position_lower, dtype=np.float64)
        upper = np.array(self.position_upper, dtype=np.float64)
        if self.workspace_lower is not None:
            idx = self.index_of(self.wrist_joints)
            lower[idx] = np.maximum(lower[idx], self.workspace_lower - self.wrist_origin)
            upper[idx] = np.minimum(upper[idx], self.workspace_upper - self.wrist_origin)
            if (lower[idx] > upper[idx]).any():
                raise ShieldConfigError(
                    "the workspace box does not overlap the wrist joints' limits"
                )
        return lower, upper

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ShieldLimits:
        """Build from a hand description mapping plus shield settings.

        The joints come from ``data["joints"]``, either a mapping
        ``{name: {lower, upper, velocity, effort[, gain][, closing]}}`` or a list of
        such mappings with a ``name`` key (URDF ``<limit>`` attribute names). Every
        other top-level key is a :class:`ShieldLimits` field (``control_period``,
        ``state_timeout``, ``finger_joints``, ``workspace_lower``, ...). A
        ``joint_names`` list, if present, selects and orders the joints.
        """
        data = dict(data)
        joints_raw = data.pop("joints", None)
        if joints_raw is None:
            return cls(**data)
        if isinstance(joints_raw, Mapping):
            joints = [{"name": k, **dict(v)} for k, v in joints_raw.items()]
        else:
            joints = [dict(j) for j in joints_raw]
        by_name = {}
        for j in joints:
            if "name" not in j:
                raise ShieldConfigError(f"joint entry without a name: {j}")
            for key in ("lower", "upper", "velocity"):
                if key not in j:
                    raise ShieldConfigError(f"joint {j['name']!r} has no {key!r}")
            by_name[str(j["name"])] = j
        order = list(data.pop("joint_names", None) or by_name)
        missing = [n for n in order if n not in by_name]
        if missing:
            raise ShieldConfigError(f"joint_names lists joints with no limits: {missing}")
        sel = [by_name[n] for n in order]
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ShieldConfigError(f"unknown shield settings {unknown}; known: {sorted(known)}")
        gains = [j.get("gain") for j in sel]
        if any(g is None for g in gains) and any(g is not None for g in gains):
            raise ShieldConfigError(
                "either every joint has a 'gain' or none does; missing for "
                f"{[n for n, g in zip(order, gains) if g is None]}"
            )
        return cls(
            joint_names=order,
            position_lower=[float(j["lower"]) for j in sel],
            position_upper=[float(j["upper"]) for j in sel],
            max_velocity=[float(j["velocity"]) for j in sel],
            max_effort=[float(j.get("effort", math.inf)) for j in sel],
            position_gain=data.pop("position_gain", None)
            if all(g is None for g in gains)
            else [float(g) for g in gains],
            closing_direction=data.pop(
                "closing_direction", [float(j.get("closing", 1.0)) for j in sel]
            ),
            **data,
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> ShieldLimits:
        """Load :meth:`from_dict` input from a YAML file (optionally under a ``shield:`` key)."""
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if "shield" in data and isinstance(data["shield"], Mapping):
            data = data["shield"]
        return cls.from_dict(data)

    @classmethod
    def from_urdf(cls, path: str | Path, **settings: Any) -> ShieldLimits:
        """Joint limits from a URDF's revolute/prismatic ``<limit>`` tags, plus ``settings``.

        Continuous, fixed and mimic joints are skipped (they are not commanded).
        """
        root = ET.parse(path).getroot()
        joints = []
        for joint in root.iter("joint"):
            if joint.get("type") not in ("revolute", "prismatic") or joint.find("mimic") is not None:
                continue
            lim = joint.find("limit")
            if lim is None:
                raise ShieldConfigError(f"URDF joint {joint.get('name')!r} has no <limit>")
            joints.append(
                {
                    "name": joint.get("name"),
                    "lower": float(lim.get("lower", 0.0)),
                    "upper": float(lim.get("upper", 0.0)),
                    "velocity": float(lim.get("velocity", 0.0)),
                    "effort": float(lim.get("effort", math.inf)) or math.inf,
                }
            )
        return cls.from_dict({"joints": joints, **settings})


@dataclass(frozen=True)
class JointState:
    """Measured joint positions, in ``ShieldLimits.joint_names`` order.

    ``stamp`` is when the state was received, on the same steady clock the caller
    passes as ``now`` (e.g. ``time.monotonic()``), never the message's sim stamp.
    """

    position: Sequence[float] | np.ndarray
    stamp: float


@dataclass(frozen=True)
class ShieldResult:
    """The outcome of one :meth:`SafetyShield.filter` tick."""

    command: np.ndarray | None
    """The safe position targets to send (a fresh array), or None: send nothing."""
    cost: float
    """Safety cost of this tick: 1.0 if the policy's command was unsafe or a contact
    force is over its limit, else 0.0."""
    interventions: tuple[Intervention, ...]
    """What the shield did, in pipeline order; empty when the command passed as is."""
    affected_joints: Mapping[str, tuple[str, ...]]
    """Intervention value -> joint (or finger) names it touched, for diagnostics."""
    max_correction: float
    """Largest |safe - requested| over joints (0 when held or passed; inf if rejected)."""
    fingers_over_force_limit: tuple[str, ...] = ()
    """Fingers whose measured contact force is over ``max_contact_force`` (or unreadable)."""

    @property
    def holding(self) -> bool:
        """True when the shield re-sent the last safe command instead of a new one."""
        return any(i.value.startswith(("holding", "rejected")) for i in self.interventions)

    @property
    def passed_unchanged(self) -> bool:
        return not self.interventions


class SafetyShield:
    """Filters position commands so the hand never leaves its limits.

    Stateful: it remembers the last command it sent and when. One instance per
    hand; call :meth:`filter` once per control tick, :meth:`reset` after the
    hand was moved by something else (e.g. a simulator reset).
    """

    def __init__(self, limits: ShieldLimits) -> None:
        self.limits = limits
        self._lower, self._upper = limits.effective_bounds()
        self._joint_lower = np.asarray(limits.position_lower, dtype=np.float64)
        self._joint_upper = np.asarray(limits.position_upper, dtype=np.float64)
        self._max_velocity = np.asarray(limits.max_velocity, dtype=np.float64)
        self._effort_window = (
            None
            if limits.position_gain is None
            else np.asarray(limits.max_effort) / np.asarray(limits.position_gain)
        )
        self._closing = np.asarray(limits.closing_direction, dtype=np.float64)
        self._finger_index = {f: limits.index_of(js) for f, js in limits.finger_joints.items()}
        self._wrist_index = limits.index_of(limits.wrist_joints) if limits.wrist_joints else None
        self._names = limits.joint_names
        self._n = limits.num_joints
        self._last_command: np.ndarray | None = None
        self._last_time: float | None = None
        self._last_state: np.ndarray | None = None

    # ------------------------------------------------------------------ state
    @property
    def last_command(self) -> np.ndarray | None:
        """The last command the shield returned (a copy), or None."""
        return None if self._last_command is None else self._last_command.copy()

    def resume_from(self, command: Sequence[float] | np.ndarray, now: float) -> None:
        """Continue as if the shield had last sent ``command`` at ``now`` (s). Replay evaluation uses
        it to judge each recorded tick from the recorded previous output, so one tick's input-timing
        jitter in a live recording does not carry into every later tick. Ignored unless ``command``
        is a finite vector of the right length."""
        arr = np.asarray(command, dtype=np.float64).reshape(-1)
        if arr.shape == (self._n,) and np.isfinite(arr).all() and math.isfinite(now):
            self._last_command = arr.copy()
            self._last_time = float(now)

    def reset(self) -> None:
        """Forget the last command and state: the next tick starts from the measured posture."""
        self._last_command = None
        self._last_time = None
        self._last_state = None

    # ------------------------------------------------------------------ helpers
    def _names_at(self, mask: np.ndarray) -> tuple[str, ...]:
        return tuple(self._names[i] for i in np.flatnonzero(mask))

    def _hold(
        self,
        reason: Intervention,
        now: float,
        forces_over: tuple[str, ...],
        extra: tuple[Intervention, ...] = (),
    ) -> ShieldResult:
        """Re-send the last safe command (or the measured posture, clamped)."""
        interventions = (*extra, reason)
        affected: dict[str, tuple[str, ...]] = {}
        if self._last_command is not None:
            out = self._last_command.copy()
        elif self._last_state is not None:
            out = np.clip(self._last_state, self._lower, self._upper)
            self._last_command = out.copy()
        else:
            if reason is not Intervention.NO_JOINT_STATE:
                interventions = (*interventions, Intervention.NO_JOINT_STATE)
            return ShieldResult(
                command=None,
                cost=1.0 if (set(interventions) & _COSTLY or forces_over) else 0.0,
                interventions=interventions,
                affected_joints=affected,
                max_correction=0.0,
                fingers_over_force_limit=forces_over,
            )
        if math.isfinite(now) and not (self._last_time is not None and now < self._last_time):
            self._last_time = now
        costly = bool(set(interventions) & _COSTLY) or bool(forces_over)
        return ShieldResult(
            command=out,
            cost=1.0 if costly else 0.0,
            interventions=interventions,
            affected_joints=affected,
            max_correction=math.inf if any(i in _COSTLY for i in interventions) else 0.0,
            fingers_over_force_limit=forces_over,
        )

    def _forces_over_limit(
        self, contact_forces: Mapping[str, float] | Sequence[float] | None
    ) -> tuple[str, ...]:
        """Fingers whose measured contact force exceeds the limit (NaN counts as over)."""
        if contact_forces is None or not self._finger_index:
            return ()
        limit = self.limits.max_contact_force
        try:
            if isinstance(contact_forces, Mapping):
                items = list(contact_forces.items())
            else:
                items = list(zip(self._finger_index, np.atleast_1d(np.asarray(contact_forces, float))))
        except (TypeError, ValueError):
            return tuple(self._finger_index)  # unreadable forces: assume every finger is over
        over = []
        for finger, force in items:
            if finger not in self._finger_index:
                continue  # contacts on the palm or an object: nothing to cap
            try:
                f = float(force)
            except (TypeError, ValueError):
                f = math.nan
            if not (abs(f) <= limit):  # True for NaN too
                over.append(finger)
        return tuple(over)

    # ------------------------------------------------------------------ the tick
    def filter(
        self,
        command: Sequence[float] | np.ndarray | None,
        joint_state: JointState | None,
        now: float,
        contact_forces: Mapping[str, float] | Sequence[float] | None = None,
        *,
        command_stamp: float | None = None,
    ) -> ShieldResult:
        """One control tick: return the safe command for ``command``.

        Args:
            command: requested position targets in ``joint_names`` order (None: no
                command has arrived yet).
            joint_state: the latest measured joint state (None: none yet).
            now: the current steady-clock time in seconds.
            contact_forces: normal contact force magnitude (N) per finger, as a
                mapping finger -> N or a sequence in ``finger_joints`` order.
            command_stamp: when ``command`` was received (steady clock); None means
                now (the caller filters each command as it arrives).
        """
        forces_over = self._forces_over_limit(contact_forces)
        try:
            now = float(now)
        except (TypeError, ValueError):
            now = math.nan
        if not math.isfinite(now):
            return self._hold(Intervention.HOLDING_BAD_CLOCK, now, forces_over)
        if self._last_time is not None and now < self._last_time:
            return self._hold(Intervention.HOLDING_CLOCK_BACKWARDS, now, forces_over)

        # --- the joint state
        if joint_state is not None:
            try:
                q = np.asarray(joint_state.position, dtype=np.float64).reshape(-1)
                stamp = float(joint_state.stamp)
            except (TypeError, ValueError, AttributeError):
                return self._hold(Intervention.HOLDING_BAD_STATE, now, forces_over)
            if q.shape != (self._n,) or not np.isfinite(q).all() or not math.isfinite(stamp):
                return self._hold(Intervention.HOLDING_BAD_STATE, now, forces_over)
            self._last_state = q
            if now - stamp > self.limits.state_timeout:
                return self._hold(Intervention.HOLDING_STALE_STATE, now, forces_over)
        else:
            if self._last_state is None:
                return self._hold(Intervention.NO_JOINT_STATE, now, forces_over)
            return self._hold(Intervention.HOLDING_STALE_STATE, now, forces_over)

        # --- the command
        if command is None:
            return self._hold(Intervention.HOLDING_STALE_COMMAND, now, forces_over)
        if command_stamp is not None and not (now - float(command_stamp) <= self.limits.command_timeout):
            return self._hold(Intervention.HOLDING_STALE_COMMAND, now, forces_over)
        try:
            requested = np.asarray(command, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return self._hold(Intervention.REJECTED_WRONG_LENGTH, now, forces_over)
        if requested.shape != (self._n,):
            return self._hold(Intervention.REJECTED_WRONG_LENGTH, now, forces_over)
        if not np.isfinite(requested).all():
            return self._hold(Intervention.REJECTED_NONFINITE, now, forces_over)

        interventions: list[Intervention] = []
        affected: dict[str, tuple[str, ...]] = {}

        def note(kind: Intervention, mask: np.ndarray, names: tuple[str, ...] | None = None) -> None:
            if not mask.any():
                return
            if names is None:
                names = self._names_at(mask)
            if names:
                interventions.append(kind)
                affected[kind.value] = names

        target = requested.copy()

        # --- soft caps (towards the measured posture)
        if self._effort_window is not None:
            capped = _clip(target, q - self._effort_window, q + self._effort_window)
            note(Intervention.EFFORT_CAPPED, capped != target)
            target = capped
        if forces_over:
            capped = target.copy()
            capped_fingers = []
            for finger in forces_over:
                idx = self._finger_index[finger]
                # closing means d * (u - q) > 0: cap such joints at q
                closing_past_q = self._closing[idx] * (capped[idx] - q[idx]) > 0
                if closing_past_q.any():
                    capped[idx[closing_past_q]] = q[idx[closing_past_q]]
                    capped_fingers.append(finger)
            note(Intervention.FORCE_CAPPED, capped != target, tuple(capped_fingers))
            target = capped

        # --- hard constraints
        clamped = _clip(target, self._joint_lower, self._joint_upper)
        note(Intervention.CLAMPED_TO_LIMITS, clamped != target)
        target = clamped
        if self._wrist_index is not None:
            boxed = _clip(target, self._lower, self._upper)
            note(Intervention.WORKSPACE_CLAMPED, boxed != target)
            target = boxed

        if self._last_command is not None:
            reference = self._last_command
            elapsed = now - self._last_time if self._last_time is not None else self.limits.control_period
            dt = min(max(elapsed, 0.0), self.limits.control_period)
        else:
            reference = _clip(q, self._lower, self._upper)
            dt = self.limits.control_period
        step = self._max_velocity * dt
        limited = _clip(target, reference - step, reference + step)
        note(Intervention.RATE_LIMITED, limited != target)
        target = limited

        # Belt and braces: the maths above guarantees this, floating point aside.
        target = _clip(target, self._lower, self._upper)

        self._last_command = target.copy()
        self._last_time = now
        costly = bool(set(interventions) & _COSTLY) or bool(forces_over)
        return ShieldResult(
            command=target,
            cost=1.0 if costly else 0.0,
            interventions=tuple(interventions),
            affected_joints=affected,
            max_correction=float(np.max(np.abs(target - requested))),
            fingers_over_force_limit=forces_over,
        )
