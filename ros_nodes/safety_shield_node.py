"""The ``safety_shield`` node: the only writer of the hand's command topic.

In: policy commands (``/dexsafe/policy_commands``, std_msgs/Float64MultiArray
in the hand's command order), ``/joint_states``, ``/dexsafe/contacts``
(dexsafe/msg/HandContacts), e-stop (``/dexsafe/estop`` std_msgs/Bool and the
``~/estop`` std_srvs/SetBool service).
Out: ``/hand_controller/commands`` (safe position targets), ``/dexsafe/cost``
(std_msgs/Float64, the tick's safety cost), ``/diagnostics``.

Every control tick (``control_rate``, on a steady clock, never sim time) runs
``SafetyShield.filter`` on the latest command and joint state: joint limits,
rate limit, effort and contact-force caps, wrist workspace box; it holds the
last safe posture when commands or joint states go stale, and while the e-stop
is engaged. Limits come from the hand's description and model in the scene
(``dexsafe.sim.shield_limits``) or from a shield YAML (``limits_file``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from std_srvs.srv import SetBool

from dexsafe.msg import HandContacts
from dexsafe.policies.shield import JointState as ShieldJointState
from dexsafe.policies.shield import SafetyShield, ShieldLimits
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, own_group, spin_node

MAX_CALLBACK_DELAY = 1.0
"""s: a middleware receive time further back than this (or in the future) is not trusted (clock
mismatch); the callback's own time is used instead."""

PARAMS = [
    ParamSpec("scene", "two_blocks", "scene whose workspace box and objects' force limits apply"),
    ParamSpec("hand", "", "hand description name or path; empty = the scene's hand"),
    ParamSpec("limits_file", "", "shield YAML (ShieldLimits.from_yaml); empty = derive from hand and scene"),
    ParamSpec("control_rate", 100.0, "shield ticks per second (steady clock), Hz", (1.0, 2000.0)),
    ParamSpec("state_timeout", 0.1, "joint states older than this make the shield hold, s", (0.001, 10.0)),
    ParamSpec("command_timeout", 0.5, "policy commands older than this make the shield hold, s", (0.001, 60.0)),
    ParamSpec("max_contact_force", -1.0, "finger force limit, N; < 0 = the scene's most fragile object", (-1.0, 1e4)),
    ParamSpec("input_topic", "/dexsafe/policy_commands", "where policies publish their position targets"),
    ParamSpec("output_topic", "/hand_controller/commands", "the hand's command topic (the driver's, on a robot)"),
]


class SafetyShieldNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("safety_shield", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        self.limits, self.finger_of_body = self._limits()
        self.shield = SafetyShield(self.limits)
        self.joint_names = list(self.limits.joint_names)
        self._lock = threading.Lock()
        self._command: np.ndarray | None = None
        self._command_stamp: float | None = None
        self._state: ShieldJointState | None = None
        self._forces: dict[str, float] = {}
        self._estop = False
        self.ticks = 0
        self.total_cost = 0.0
        self.last_result = None
        self._index: np.ndarray | None = None  # /joint_states order -> shield order
        self._state_names: tuple[str, ...] = ()
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)

        reliable = QoSProfile(depth=10)
        latest = QoSProfile(depth=1)  # inputs where only the newest message counts: no backlog to work through
        self.pub_command = self.create_publisher(Float64MultiArray, self.p["output_topic"], reliable)
        self.pub_cost = self.create_publisher(Float64, "/dexsafe/cost", reliable)
        self.pub_diag = self.create_publisher(DiagnosticArray, "/diagnostics", reliable)
        self.create_subscription(Float64MultiArray, self.p["input_topic"], self._on_command, latest,
                                 callback_group=own_group())
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, latest,
                                 callback_group=own_group())
        self.create_subscription(HandContacts, "/dexsafe/contacts", self._on_contacts, latest,
                                 callback_group=own_group())
        self.create_subscription(Bool, "/dexsafe/estop", lambda m: self.set_estop(bool(m.data)), reliable,
                                 callback_group=own_group())
        self.create_service(SetBool, "~/estop", self._on_estop_srv, callback_group=own_group())
        self.create_timer(1.0 / self.p["control_rate"], self._tick, clock=self._steady, callback_group=own_group())
        self.get_logger().info(f"shielding {len(self.joint_names)} joints at {self.p['control_rate']} Hz: "
                               f"{self.p['input_topic']} -> {self.pub_command.topic_name}")

    def _limits(self) -> tuple[ShieldLimits, dict[str, str]]:
        if self.p["limits_file"]:
            return ShieldLimits.from_yaml(self.p["limits_file"]), {}
        from dexsafe.sim.scene_spec import load_scene
        from dexsafe.sim.shield_limits import finger_of_body, shield_limits_for

        scene = load_scene(self.p["scene"])
        hand = self.p["hand"] or None
        fmax = self.p["max_contact_force"]
        data = shield_limits_for(scene, hand, control_period=1.0 / self.p["control_rate"],
                                 state_timeout=self.p["state_timeout"], command_timeout=self.p["command_timeout"],
                                 max_contact_force=None if fmax < 0 else fmax)
        return ShieldLimits.from_dict(data), finger_of_body(scene, hand)

    def now(self) -> float:
        return self._steady.now().nanoseconds * 1e-9

    # --- inputs: stored with their steady-clock arrival time; validated by the shield ----------
    def arrival(self, info=None) -> float:
        """When the middleware received a message, on the steady clock (s): its ``received_timestamp``
        (system time) turned into an age, so a callback that runs late does not make an input look
        fresher than it is. Falls back to now when the middleware gives no plausible time."""
        now = self.now()
        received = int((info or {}).get("received_timestamp") or 0)
        if received > 0:
            age = (time.time_ns() - received) * 1e-9
            if 0.0 <= age <= MAX_CALLBACK_DELAY:
                return now - age
        return now

    def _on_command(self, msg: Float64MultiArray, info: dict) -> None:
        arrived = self.arrival(info)
        with self._lock:
            self._command = np.asarray(msg.data, dtype=float)
            self._command_stamp = arrived

    def _on_joint_state(self, msg: JointState, info: dict) -> None:
        names = tuple(msg.name)
        if names != self._state_names:
            missing = [n for n in self.joint_names if n not in names]
            if missing:
                self.get_logger().warning(f"/joint_states lacks joints {missing}", throttle_duration_sec=2.0)
                return
            self._index = np.array([names.index(n) for n in self.joint_names])
            self._state_names = names
        if len(msg.position) != len(names):
            self.get_logger().warning("/joint_states: position and name lengths differ", throttle_duration_sec=2.0)
            return
        q = np.asarray(msg.position, dtype=float)[self._index]
        arrived = self.arrival(info)
        with self._lock:
            self._state = ShieldJointState(position=q, stamp=arrived)

    def _on_contacts(self, msg: HandContacts) -> None:
        forces: dict[str, float] = {}
        for c in msg.contacts:
            finger = self.finger_of_body.get(c.link)
            if finger is not None:
                forces[finger] = forces.get(finger, 0.0) + float(c.normal_force)
        with self._lock:
            self._forces = forces

    def set_estop(self, engaged: bool) -> None:
        with self._lock:
            if engaged and not self._estop:
                self.get_logger().warning("E-STOP engaged: holding the last safe posture")
            self._estop = engaged

    def _on_estop_srv(self, req, resp):
        self.set_estop(bool(req.data))
        resp.success, resp.message = True, "e-stop engaged" if req.data else "e-stop released"
        return resp

    # --- the tick ---------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.now()
        with self._lock:
            command, stamp = self._command, self._command_stamp
            if self._estop:
                command, stamp = None, None  # hold
            state = self._state
            forces = dict(self._forces)
        result = self.shield.filter(command, state, now, forces or None, command_stamp=stamp)
        self.ticks += 1
        self.total_cost += result.cost
        self.last_result = result
        if result.command is not None:
            self.pub_command.publish(Float64MultiArray(data=result.command.tolist()))
        self.pub_cost.publish(Float64(data=float(result.cost)))
        if self.ticks % max(1, int(self.p["control_rate"] // 10)) == 0 or result.cost > 0:
            self.pub_diag.publish(self._diagnostics(result))

    def _diagnostics(self, result) -> DiagnosticArray:
        level = DiagnosticStatus.OK
        if result.interventions:
            level = DiagnosticStatus.WARN
        if self._estop or result.command is None:
            level = DiagnosticStatus.ERROR
        values = [KeyValue(key="estop", value=str(self._estop)),
                  KeyValue(key="cost", value=f"{result.cost:g}"),
                  KeyValue(key="total_cost", value=f"{self.total_cost:g}"),
                  KeyValue(key="max_correction", value=f"{result.max_correction:g}")]
        values += [KeyValue(key=k, value=",".join(v)) for k, v in result.affected_joints.items()]
        status = DiagnosticStatus(level=level, name="dexsafe: safety_shield", hardware_id="hand",
                                  message=", ".join(i.value for i in result.interventions) or "ok", values=values)
        diag = DiagnosticArray(status=[status])
        diag.header.stamp = self.get_clock().now().to_msg()
        return diag


def main(argv: list[str] | None = None) -> int:
    return spin_node(SafetyShieldNode, argv)


