"""The ``hardware_adapter`` node: the shield's commands to a real hand driver, and the
driver's joint states back as dexsafe's ``/joint_states``.

In: ``input_topic`` (the shield's output, Float64MultiArray in the hand
description's command order: wrist joints, then fingers) and the driver's
joint states on ``state_topic``. Out: the driver's command topic
(``command_type``: Float64MultiArray in the driver's joint order, as a
ros2_control forward_command_controller wants, or sensor_msgs/JointState, as the
LEAP driver wants), at most ``max_rate``, and ``/joint_states`` in dexsafe names
and URDF radians (``core.joint_mapping``). Commands stop being forwarded when
the driver's states are older than ``state_timeout`` (steady clock): a silent
driver is never commanded blind.

The wrist joints have no hand driver: an arm moves them. With ``arm_joints`` set,
their commanded values go to ``arm_command_topic`` (Float64MultiArray in
``arm_joints`` order, m and rad: the flange's world position, then roll, pitch,
yaw -- a forward position controller for the arm, or an arm-side IK node), and the
arm's JointState on ``arm_state_topic`` (the same names) is merged into
``/joint_states``. Both halves must be fresh: until the arm has reported, or once
either falls silent, nothing is forwarded and no ``/joint_states`` goes out, so
the shield holds. A hand on a fixed stand (``arm_joints: ['']``) reports its wrist
joints at ``fixed_wrist``.
"""

from __future__ import annotations

import threading

from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from dexsafe.core.joint_mapping import JointMapping, MappingError
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, own_group, spin_node

_ALLEGRO_ORDER = [f"ah_joint{f}{j}" for f in (1, 2, 3, 0) for j in range(4)]
_HAND_ORDER = [f"{f}_{j}_joint" for f in ("index", "middle", "ring") for j in ("knuckle", "proximal", "middle",
                                                                                  "distal")] + [
    "thumb_rotation_joint", "thumb_abduction_joint", "thumb_proximal_joint", "thumb_distal_joint"]

PARAMS = [
    ParamSpec("hand", "dexsafe_hand", "hand description (command order of the input)"),
    ParamSpec("hand_joints", _HAND_ORDER, "dexsafe joint names, paired one to one with driver_joints"),
    ParamSpec("driver_joints", _ALLEGRO_ORDER, "the driver's joint names, in its command order"),
    ParamSpec("scale", [1.0] * 16, "per joint: driver = scale * dexsafe + offset"),
    ParamSpec("offset", [0.0] * 16, "per joint offset, driver units (LEAP convention: pi)"),
    ParamSpec("command_topic", "/allegro_hand_position_controller/commands", "the driver's command topic"),
    ParamSpec("command_type", "float64_multi_array", "float64_multi_array | joint_state"),
    ParamSpec("state_topic", "/allegro_hand/joint_states", "the driver's joint states"),
    ParamSpec("input_topic", "/dexsafe/hand_commands", "the safety shield's output"),
    ParamSpec("max_rate", 100.0, "most commands per second sent to the driver, Hz", (1.0, 2000.0)),
    ParamSpec("state_timeout", 0.2, "driver states older than this stop command forwarding, s", (0.01, 10.0)),
    ParamSpec("arm_joints", [""], "dexsafe joints an arm moves (usually the six wrist joints); [''] = none"),
    ParamSpec("arm_command_topic", "/arm_controller/commands", "arm targets out (Float64MultiArray, arm_joints order)"),
    ParamSpec("arm_state_topic", "/arm_controller/joint_states", "the arm's JointState (arm_joints names)"),
    ParamSpec("fixed_wrist", [0.0] * 6, "without an arm: the wrist joints' fixed values, m and rad"),
]


class HardwareAdapterNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("hardware_adapter", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        from dexsafe.sim.hands import WRIST_JOINTS, load_hand

        self.hand = load_hand(self.p["hand"])
        self.command_order = list(self.hand.joint_names)
        self.mapping = JointMapping.create(self.p["hand_joints"], self.p["driver_joints"], self.p["scale"],
                                           self.p["offset"])
        unknown = [j for j in self.mapping.hand_joints if j not in self.command_order]
        if unknown:
            raise MappingError(f"hand_joints {unknown} are not joints of hand {self.hand.name!r}")
        self.arm_joints = [j for j in self.p["arm_joints"] if j]
        unknown = [j for j in self.arm_joints if j not in self.command_order or j in self.mapping.hand_joints]
        if unknown:
            raise MappingError(f"arm_joints {unknown} are not joints of hand {self.hand.name!r} left to an arm")
        if self.arm_joints and not self.p["arm_state_topic"]:
            raise ValueError("arm_joints need arm_state_topic: the arm's measured state, never its commands, is "
                             "what the shield must see")
        fixed = [j for j in WRIST_JOINTS if j in self.command_order and j not in self.arm_joints]
        if len(self.p["fixed_wrist"]) != len(WRIST_JOINTS):
            raise ValueError(f"fixed_wrist needs {len(WRIST_JOINTS)} values {WRIST_JOINTS}")
        if self.p["command_type"] not in ("float64_multi_array", "joint_state"):
            raise ValueError(f"command_type {self.p['command_type']!r}: use float64_multi_array or joint_state")
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._lock = threading.Lock()
        self._last_state_time: float | None = None
        self._last_arm_time: float | None = None
        self._arm_state: dict[str, float] = {}
        self._last_sent = -1.0
        self._commanded = {n: 0.0 for n in self.command_order}
        self._fixed = {j: float(v) for j, v in zip(WRIST_JOINTS, self.p["fixed_wrist"]) if j in fixed}
        self.forwarded = self.dropped_stale = 0
        reliable = QoSProfile(depth=10)
        latest = QoSProfile(depth=1)  # inputs where only the newest message counts: no backlog to work through
        msg_type = Float64MultiArray if self.p["command_type"] == "float64_multi_array" else JointState
        self.pub_driver = self.create_publisher(msg_type, self.p["command_topic"], reliable)
        self.pub_states = self.create_publisher(JointState, "/joint_states", reliable)
        self.create_subscription(Float64MultiArray, self.p["input_topic"], self._on_command, latest,
                                 callback_group=own_group())
        self.create_subscription(JointState, self.p["state_topic"], self._on_driver_state, latest,
                                 callback_group=own_group())
        self.pub_arm = None
        if self.arm_joints:
            self.pub_arm = self.create_publisher(Float64MultiArray, self.p["arm_command_topic"], reliable)
            self.create_subscription(JointState, self.p["arm_state_topic"], self._on_arm_state, latest,
                                     callback_group=own_group())

    def _now(self) -> float:
        return self._steady.now().nanoseconds * 1e-9

    def _fresh(self, stamp: float | None, now: float) -> bool:
        return stamp is not None and now - stamp <= self.p["state_timeout"]

    def _arm_fresh(self, now: float) -> bool:
        return not self.arm_joints or self._fresh(self._last_arm_time, now)

    def _on_arm_state(self, msg: JointState) -> None:
        values = dict(zip(msg.name, msg.position))
        missing = [j for j in self.arm_joints if j not in values]
        if missing or len(msg.name) != len(msg.position):
            self.get_logger().warning(f"arm state ignored: lacks {missing}", throttle_duration_sec=2.0)
            return
        with self._lock:
            self._arm_state = {j: float(values[j]) for j in self.arm_joints}
            self._last_arm_time = self._now()

    def _on_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != len(self.command_order):
            self.get_logger().warning(f"command with {len(msg.data)} values, expected {len(self.command_order)}",
                                      throttle_duration_sec=2.0)
            return
        values = dict(zip(self.command_order, msg.data))
        now = self._now()
        with self._lock:
            self._commanded.update(values)
            fresh = self._fresh(self._last_state_time, now) and self._arm_fresh(now)
            due = now - self._last_sent >= 1.0 / self.p["max_rate"]
        if not fresh:
            self.dropped_stale += 1
            self.get_logger().warning("driver joint states are stale: not forwarding commands",
                                      throttle_duration_sec=2.0)
            return
        if not due:
            return
        if self.pub_arm is not None:
            self.pub_arm.publish(Float64MultiArray(data=[float(values[j]) for j in self.arm_joints]))
        out = self.mapping.to_driver(values)
        if self.p["command_type"] == "float64_multi_array":
            self.pub_driver.publish(Float64MultiArray(data=out))
        else:
            cmd = JointState(name=list(self.mapping.driver_joints), position=out)
            cmd.header.stamp = self.get_clock().now().to_msg()
            self.pub_driver.publish(cmd)
        with self._lock:
            self._last_sent = now
        self.forwarded += 1

    def _on_driver_state(self, msg: JointState) -> None:
        try:
            hand = self.mapping.from_driver(list(msg.name), list(msg.position))
        except MappingError as exc:
            self.get_logger().warning(f"driver state ignored: {exc}", throttle_duration_sec=2.0)
            return
        now = self._now()
        with self._lock:
            self._last_state_time = now
            arm_ok = self._arm_fresh(now)
            values = {**self._commanded, **self._fixed, **self._arm_state}
        if not arm_ok:
            self.get_logger().warning("no fresh arm joint states: /joint_states withheld (the shield holds)",
                                      throttle_duration_sec=2.0)
            return
        values.update(hand)
        out = JointState(name=self.command_order, position=[values[n] for n in self.command_order])
        out.header.stamp = msg.header.stamp
        self.pub_states.publish(out)


def main(argv: list[str] | None = None) -> int:
    return spin_node(HardwareAdapterNode, argv)
