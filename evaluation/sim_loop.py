"""The sim + safety-shield control loop without ROS: what the ``sim`` and
``safety_shield`` nodes do, stepped deterministically in sim time.

Used to produce recorded runs without DDS (``record_scripted_run``: the
scripted row grasp streamed through the shield, written to a bag on the
stack's topics) and for closed-loop replay (recorded policy commands fed
back through a fresh shield into a freshly reset sim).

One control period ``dt = 1 / control_rate`` (default 10 ms of sim time):

1. the sim "publishes" ``/clock``, ``/joint_states``, ``/dexsafe/objects``,
   ``/dexsafe/contacts`` at ``t``;
2. a policy command due at ``t`` arrives at ``t + 1 ms``;
3. the shield ticks at ``t + 2 ms`` on the latest command and state, and
   "publishes" ``/hand_controller/commands`` and ``/dexsafe/cost``;
4. the sim applies the safe targets and steps to ``t + dt``.

Bag timestamps are ``origin_ns`` plus sim time; the shield's clock is the bag
time relative to ``origin_ns`` in seconds (:func:`bag_seconds`), exactly what
open-loop replay uses, so replaying such a run reproduces it bit for bit.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dexsafe.evaluation import topics as T
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.typestore import typestore

POLICY_DELAY_NS = 1_000_000  # a policy command reaches the shield 1 ms after the state it answers
SHIELD_DELAY_NS = 2_000_000  # the shield ticks 2 ms after the sim published
COST_DELAY_NS = 1_000  # /dexsafe/cost 1 us after the command


def bag_seconds(t_ns: int, origin_ns: int) -> float:
    """Bag time -> the steady-clock seconds the shield sees (relative to ``origin_ns``)."""
    return (int(t_ns) - int(origin_ns)) * 1e-9


@functools.lru_cache(maxsize=8)
def _limits_data(scene: str, hand: str, control_rate: float, state_timeout: float, command_timeout: float,
                 max_contact_force: float) -> tuple[dict, dict[str, str]]:
    from dexsafe.sim.scene_spec import load_scene
    from dexsafe.sim.shield_limits import finger_of_body, shield_limits_for

    spec = load_scene(scene)
    data = shield_limits_for(spec, hand or None, control_period=1.0 / control_rate, state_timeout=state_timeout,
                             command_timeout=command_timeout,
                             max_contact_force=None if max_contact_force < 0 else max_contact_force)
    return data, finger_of_body(spec, hand or None)


def shield_for(info: RunInfo):
    """A fresh shield, its limits and the contact-link -> finger map for a run's settings
    (the limits as the safety_shield node derives them from scene and hand; cached per settings)."""
    from dexsafe.policies.shield import SafetyShield, ShieldLimits

    data, fingers = _limits_data(info.scene, info.hand, float(info.control_rate), float(info.state_timeout),
                                 float(info.command_timeout), float(info.max_contact_force))
    limits = ShieldLimits.from_dict(copy.deepcopy(data))
    return SafetyShield(limits), limits, dict(fingers)


def finger_forces(contacts_msg: Any, finger_of_body: dict[str, str]) -> dict[str, float]:
    """Summed normal force (N) per finger from a HandContacts message, as the shield node computes it."""
    forces: dict[str, float] = {}
    for c in contacts_msg.contacts:
        finger = finger_of_body.get(c.link)
        if finger is not None:
            forces[finger] = forces.get(finger, 0.0) + float(c.normal_force)
    return forces


class StackMessages:
    """Builds the stack's messages as rosbags objects (the same fields the nodes fill)."""

    def __init__(self) -> None:
        self.store = typestore()
        ty = self.store.types
        self.Time = ty["builtin_interfaces/msg/Time"]
        self.Header = ty["std_msgs/msg/Header"]
        self.JointState = ty["sensor_msgs/msg/JointState"]
        self.Clock = ty["rosgraph_msgs/msg/Clock"]
        self.F64Array = ty["std_msgs/msg/Float64MultiArray"]
        self.Layout = ty["std_msgs/msg/MultiArrayLayout"]
        self.F64 = ty["std_msgs/msg/Float64"]
        self.SceneObjects = ty["dexsafe/msg/SceneObjects"]
        self.SceneObject = ty["dexsafe/msg/SceneObject"]
        self.HandContacts = ty["dexsafe/msg/HandContacts"]
        self.HandContact = ty["dexsafe/msg/HandContact"]
        self.Pose = ty["geometry_msgs/msg/Pose"]
        self.Point = ty["geometry_msgs/msg/Point"]
        self.Quaternion = ty["geometry_msgs/msg/Quaternion"]
        self.Vector3 = ty["geometry_msgs/msg/Vector3"]

    def stamp(self, t: float):
        from dexsafe.core.stamps import sec_nanosec

        sec, nanosec = sec_nanosec(t)
        return self.Time(sec=sec, nanosec=nanosec)

    def header(self, t: float, frame: str = "world"):
        return self.Header(stamp=self.stamp(t), frame_id=frame)

    def array(self, values) -> Any:
        return self.F64Array(layout=self.Layout(dim=[], data_offset=0), data=np.asarray(values, dtype=np.float64))

    def joint_state(self, t: float, js) -> Any:
        return self.JointState(header=self.header(t, ""), name=list(js.names),
                               position=np.asarray(js.position, np.float64),
                               velocity=np.asarray(js.velocity, np.float64),
                               effort=np.asarray(js.effort, np.float64))

    def objects(self, t: float, specs: dict, states) -> Any:
        out = []
        for s in states:
            o = specs[s.id]
            p, q = s.position, s.orientation
            pose = self.Pose(position=self.Point(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                             orientation=self.Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))
            out.append(self.SceneObject(id=o.id, label=o.label, shape=o.shape, size=np.asarray(o.size, np.float64),
                                        mesh_uri=o.mesh or "", pose=pose, mass=float(o.mass),
                                        friction=float(o.friction), max_contact_force=float(o.max_contact_force),
                                        tags=list(o.tags)))
        return self.SceneObjects(header=self.header(t), objects=out)

    def contacts(self, t: float, contacts) -> Any:
        v = lambda a, cls: cls(x=float(a[0]), y=float(a[1]), z=float(a[2]))  # noqa: E731
        return self.HandContacts(header=self.header(t), contacts=[
            self.HandContact(link=c.hand_body, other=c.other, position=v(c.position, self.Point),
                             normal=v(c.normal, self.Vector3), normal_force=float(c.normal_force))
            for c in contacts])


Sink = Callable[[str, int, Any], None]
"""Receives ``(topic, t_ns, rosbags message)`` in time order."""
Policy = Callable[[float, np.ndarray], "np.ndarray | None"]
"""``(sim time s, measured joint positions in command order) -> position targets or None``."""


@dataclass
class LoopResult:
    ticks: int
    sim_time: float
    object_rise: dict[str, float]
    """each object's final z minus its initial z, m"""
    shield_cost: float


class SimStackLoop:
    """The sim and the shield for one run's settings (``RunInfo``); see the module docstring."""

    def __init__(self, info: RunInfo, origin_ns: int = 1_700_000_000_000_000_000) -> None:
        from dexsafe.sim.backend import make_backend
        from dexsafe.sim.scene_spec import load_scene

        self.info = info
        self.origin_ns = int(origin_ns)
        self.scene = load_scene(info.scene)
        self.backend = make_backend("mujoco", self.scene, info.hand or None)
        self.backend.reset(seed=None if info.seed < 0 else info.seed)
        self.shield, self.limits, self.finger_of_body = shield_for(info)
        self.index = None
        self.msgs = StackMessages()
        self.specs = {o.id: o for o in self.scene.objects}
        self.period_ns = int(round(1e9 / info.control_rate))
        self.steps_per_period = max(1, int(round(1.0 / info.control_rate / self.backend.timestep)))
        self._shapes: dict[str, np.ndarray] | None = None

    def close(self) -> None:
        self.backend.close()

    def measured(self) -> np.ndarray:
        js = self.backend.joint_state()
        if self.index is None:
            names = list(js.names)
            self.index = np.array([names.index(n) for n in self.limits.joint_names])
        return np.asarray(js.position, dtype=float)[self.index]

    def grasp_inputs(self):
        """What a grasp executor senses now: ``(q, qdot, finger forces, tracked objects)`` in the shield's
        joint order (rad, m, rad/s, m/s; N per finger; object poses in ``world``)."""
        from dexsafe.policies.residual_grasp import TrackedObject, shape_features

        b = self.backend
        q = self.measured()
        qdot = np.asarray(b.joint_state().velocity, dtype=float)[self.index]
        if self._shapes is None:  # not at construction: scenes with meshes run here too, without a policy
            self._shapes = {o: shape_features(spec.shape, spec.size) for o, spec in self.specs.items()}
        objects = [TrackedObject(np.asarray(s.position, float), np.asarray(s.orientation, float), self._shapes[s.id])
                   for s in b.object_states()]
        return q, qdot, self.finger_forces(b.contacts()), objects

    def finger_forces(self, contacts) -> dict[str, float]:
        """Summed normal force (N) per finger from the backend's contacts, as ``finger_forces()`` sums a
        HandContacts message (the same float64 values)."""
        forces: dict[str, float] = {}
        for c in contacts:
            finger = self.finger_of_body.get(c.hand_body)
            if finger is not None:
                forces[finger] = forces.get(finger, 0.0) + float(c.normal_force)
        return forces

    def shield_tick(self, k: int, command: np.ndarray | None, command_ns: int | None, forces: dict[str, float],
                    q: np.ndarray):
        """Control period ``k``: the shield filters the latest policy ``command`` (sent at bag time
        ``command_ns``) against the measured ``q``, the sim applies the safe targets and steps one period.
        Returns the shield's ``ShieldResult``."""
        from dexsafe.policies.shield import JointState as ShieldState

        t_ns = self.origin_ns + k * self.period_ns
        now_ns = t_ns + SHIELD_DELAY_NS
        result = self.shield.filter(
            command, ShieldState(position=q, stamp=bag_seconds(t_ns, self.origin_ns)),
            bag_seconds(now_ns, self.origin_ns), forces or None,
            command_stamp=None if command_ns is None else bag_seconds(command_ns, self.origin_ns))
        if result.command is not None:
            self.backend.set_joint_targets(result.command)
        self.backend.step(self.steps_per_period)
        return result

    def run(self, policy: Policy, duration: float, sink: Sink | None = None, policy_every: int = 2,
            progress: Callable[[int, int], None] | None = None, topics: set[str] | None = None,
            stop: Callable[[], bool] | None = None) -> LoopResult:
        """Run ``duration`` s of sim time. ``policy`` is asked every ``policy_every`` periods;
        ``sink`` gets the messages of ``topics`` (default: all the stack's topics); ``stop()`` true
        after a tick ends the run early."""
        b, m = self.backend, self.msgs
        sink = sink or (lambda *_: None)
        want = (lambda _: True) if topics is None else topics.__contains__
        z0 = {s.id: float(s.position[2]) for s in b.object_states()}
        n_ticks = int(round(duration * self.info.control_rate))
        sim0 = b.time
        command, command_ns = None, None
        cost = 0.0
        for k in range(n_ticks):
            t_ns = self.origin_ns + k * self.period_ns
            t_sim = sim0 + k * self.period_ns * 1e-9
            contacts = b.contacts()
            if want(T.CLOCK):
                sink(T.CLOCK, t_ns, m.Clock(clock=m.stamp(t_sim)))
            if want(T.JOINT_STATES):
                sink(T.JOINT_STATES, t_ns, m.joint_state(t_sim, b.joint_state()))
            if want(T.OBJECTS):
                sink(T.OBJECTS, t_ns, m.objects(t_sim, self.specs, b.object_states()))
            if want(T.CONTACTS):
                sink(T.CONTACTS, t_ns, m.contacts(t_sim, contacts))
            forces = self.finger_forces(contacts)
            q = self.measured()
            if k % policy_every == 0:
                target = policy(t_sim - sim0, q)
                if target is not None:
                    command_ns = t_ns + POLICY_DELAY_NS
                    command = np.asarray(target, dtype=np.float64)
                    if want(T.POLICY_COMMANDS):
                        sink(T.POLICY_COMMANDS, command_ns, m.array(command))
            result = self.shield_tick(k, command, command_ns, forces, q)
            cost += result.cost
            now_ns = t_ns + SHIELD_DELAY_NS
            if result.command is not None and want(T.HAND_COMMANDS):
                sink(T.HAND_COMMANDS, now_ns, m.array(result.command))
            if want(T.COST):
                sink(T.COST, now_ns + COST_DELAY_NS, m.F64(data=float(result.cost)))
            if progress is not None:
                progress(k + 1, n_ticks)
            if stop is not None and stop():
                n_ticks = k + 1
                break
        rise = {s.id: float(s.position[2]) - z0[s.id] for s in b.object_states()}
        return LoopResult(n_ticks, b.time - sim0, rise, cost)


def scripted_policy(loop: SimStackLoop, speed: float = 1.0) -> tuple[Policy, float]:
    """The scripted row grasp (``dexsafe.sim.scripted``) as a streamed policy: approach, pre-grasp,
    close, lift, hold, each interpolated linearly from the previous phase's target (as ``dexsafe
    demo`` streams it). Closing takes 3 s: at the demo's 0.9 s the index and thumb tips hit the
    near block at 45-50 N, over the objects' 20 N limit; at 3 s the peak stays near 16 N.
    Returns the policy and its duration, s. ``speed`` > 1 runs it faster."""
    from dexsafe.sim.scripted import plan_row_grasp

    grasp = plan_row_grasp(loop.backend, loop.info.goal or None)
    start = loop.measured()
    phases = [(start, grasp.approach, 1.5), (grasp.approach, grasp.pregrasp, 1.2),
              (grasp.pregrasp, grasp.closed, 3.0), (grasp.closed, grasp.lifted, 1.5), (grasp.lifted, grasp.lifted, 0.5)]
    phases = [(a, b, d / speed) for a, b, d in phases]
    ends = np.cumsum([d for *_, d in phases])

    def policy(t: float, q: np.ndarray) -> np.ndarray:
        i = int(np.searchsorted(ends, t, side="right"))
        if i >= len(phases):
            return phases[-1][1].copy()
        a, b, d = phases[i]
        alpha = 1.0 - (ends[i] - t) / d
        return a + float(np.clip(alpha, 0.0, 1.0)) * (b - a)

    return policy, float(ends[-1])


def record_scripted_run(path: str | Path, info: RunInfo | None = None, storage: str = "mcap",
                        origin_ns: int = 1_700_000_000_000_000_000, duration: float | None = None) -> LoopResult:
    """Write a bag of the scripted row grasp run through the shield in sim (no ROS) to ``path``;
    ``duration`` (s) cuts it short (default: the whole grasp, 7.7 s)."""
    from dexsafe.evaluation.bag_writer import BagWriter

    info = info or RunInfo()
    info.source = info.source or "scripted_sim_run"
    info.policy = info.policy or "scripted"
    loop = SimStackLoop(info, origin_ns)
    try:
        policy, full = scripted_policy(loop)
        with BagWriter(path, storage, run_info=info) as bag:
            for topic in (T.CLOCK, T.JOINT_STATES, T.OBJECTS, T.CONTACTS, T.POLICY_COMMANDS, T.HAND_COMMANDS,
                          T.COST):
                msgtype, qos = T.STACK_TOPICS[topic]
                bag.add_topic(topic, msgtype, (qos,))
            return loop.run(policy, full if duration is None else min(duration, full), bag.write)
    finally:
        loop.close()
