"""The ``fake_hand_driver`` node: behaves like a real hand's driver (and the arm's), for the real launch in tests.

It speaks the driver's side of a hardware config (``config/hardware_adapter.yaml``,
``config/hardware/*.yaml``): the driver's joint names, command topic and type
(Float64MultiArray in its joint order, or JointState), its joint-state topic, and
the arm's command and state topics when the config names arm joints. Joint states
go out at ``rate`` with a ``latency`` delay, Gaussian ``noise_std`` on positions
(driver units) and a ``drop_probability`` of losing each message -- the
imperfections a driver over CAN or USB has. Commands are applied as they arrive.

What is behind the driver (``plant``):

- ``lag``: each joint moves towards its command with a first-order lag
  (``time_constant``). No physics, no objects: enough to test the mapping.
- ``sim``: the ``sim`` node, started beside it with its topics remapped to
  ``sim_command_topic`` and ``sim_state_topic``, is the physical hand, arm and
  objects. Commands are mapped back to dexsafe names and units (the inverse of the
  adapter's mapping) and forwarded; the sim's joint states come back through the
  driver's imperfections. The sim's object poses and contacts stand in for the
  lab's pose tracker and tactile sensors. This is how ``hardware:=fake`` lets
  the real launch lift objects in tests.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
import yaml
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from dexsafe.core.joint_mapping import JointMapping, MappingError
from dexsafe.core.paths import config_path
from dexsafe.ros_nodes.hardware_adapter_node import _ALLEGRO_ORDER
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, own_group, spin_node

PARAMS = [
    ParamSpec("hardware_config", "", "hardware_adapter config (under config/ or a path) whose driver side this "
                                     "fakes; empty = the joints and topics below"),
    ParamSpec("plant", "lag", "what moves behind the driver: lag (first-order joints) | sim (the remapped sim node)"),
    ParamSpec("joints", _ALLEGRO_ORDER, "the driver's joint names, in its command order (without hardware_config)"),
    ParamSpec("initial", [0.0] * 16, "lag plant: initial positions, driver units"),
    ParamSpec("command_topic", "/allegro_hand_position_controller/commands", "commands in (without hardware_config)"),
    ParamSpec("command_type", "float64_multi_array", "float64_multi_array | joint_state (without hardware_config)"),
    ParamSpec("state_topic", "/allegro_hand/joint_states", "joint states out (without hardware_config)"),
    ParamSpec("sim_command_topic", "/fake_hardware/commands", "sim plant: the sim's remapped command topic"),
    ParamSpec("sim_state_topic", "/fake_hardware/joint_states", "sim plant: the sim's remapped joint states"),
    ParamSpec("rate", 100.0, "joint state rate, Hz", (1.0, 1000.0)),
    ParamSpec("latency", 0.005, "delay of each joint state message, s", (0.0, 1.0)),
    ParamSpec("noise_std", 0.002, "Gaussian noise on reported positions, driver units", (0.0, 1.0)),
    ParamSpec("drop_probability", 0.02, "chance that a joint state message is lost", (0.0, 0.9)),
    ParamSpec("time_constant", 0.05, "lag plant: first-order lag of each joint towards its command, s", (0.001, 5.0)),
    ParamSpec("seed", 0, "random seed for noise and drops", (0, 2**31 - 1)),
]


def adapter_parameters(hardware_config: str) -> dict:
    """The ``hardware_adapter`` parameters in a config file (name under config/ or a path)."""
    path = config_path(hardware_config)
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return dict(data["hardware_adapter"]["ros__parameters"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"hardware_config {hardware_config!r}: no hardware_adapter parameters ({exc})") from exc


class FakeHandDriverNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("fake_hand_driver", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        if self.p["plant"] not in ("lag", "sim"):
            raise ValueError(f"plant {self.p['plant']!r}: use lag or sim")
        hw = adapter_parameters(self.p["hardware_config"]) if self.p["hardware_config"] else {}
        self.names = list(hw.get("driver_joints", self.p["joints"]))
        command_topic = hw.get("command_topic", self.p["command_topic"])
        command_type = hw.get("command_type", self.p["command_type"])
        self.arm_joints = [j for j in hw.get("arm_joints", []) if j]
        self.rng = np.random.default_rng(self.p["seed"])
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque()
        self.sent = self.dropped = self.commands = 0
        reliable = QoSProfile(depth=10)
        self.pub = self.create_publisher(JointState, hw.get("state_topic", self.p["state_topic"]), reliable)
        if command_type == "joint_state":
            self.create_subscription(JointState, command_topic,
                                     lambda m: self._command(dict(zip(m.name, m.position))), reliable,
                                     callback_group=own_group())
        else:
            self.create_subscription(Float64MultiArray, command_topic,
                                     lambda m: self._command(dict(zip(self.names, m.data))
                                                             if len(m.data) == len(self.names) else None), reliable,
                                     callback_group=own_group())

        if self.p["plant"] == "lag":
            self.q = np.array(self.p["initial"], dtype=float)
            if self.q.shape != (len(self.names),):
                raise ValueError(f"initial has {self.q.size} values for {len(self.names)} joints")
            self.target = self.q.copy()
        else:
            if not hw:
                raise ValueError("plant sim needs hardware_config: the mapping back to the sim's joints")
            from dexsafe.sim.hands import load_hand

            n = len(hw["hand_joints"])
            self.mapping = JointMapping.create(hw["hand_joints"], hw["driver_joints"], hw.get("scale") or [1.0] * n,
                                               hw.get("offset") or [0.0] * n)
            self.sim_order = list(load_hand(hw.get("hand", "dexsafe_hand")).joint_names)
            self.q = np.zeros(len(self.names))  # last reading, driver units
            self.target = np.full(len(self.names), np.nan)
            self._sim_state: dict[str, float] | None = None
            self._arm_target: list[float] | None = None
            self._hold: dict[str, float] | None = None  # the sim's posture when the first command came
            self._new_command = False
            self.pub_sim = self.create_publisher(Float64MultiArray, self.p["sim_command_topic"], reliable)
            self.create_subscription(JointState, self.p["sim_state_topic"], self._on_sim_state, reliable,
                                     callback_group=own_group())
            self.pub_arm = None
            if self.arm_joints:
                arm_states = hw.get("arm_state_topic") or "/arm_controller/joint_states"
                arm_commands = hw.get("arm_command_topic") or "/arm_controller/commands"
                self.pub_arm = self.create_publisher(JointState, arm_states, reliable)
                self.create_subscription(Float64MultiArray, arm_commands, self._on_arm_command, reliable,
                                         callback_group=own_group())
        self._last = time.monotonic()
        self.create_timer(1.0 / self.p["rate"], self._tick, callback_group=own_group())

    # --- commands in -------------------------------------------------------------------------
    def _command(self, values: dict[str, float] | None) -> None:
        if values is None:
            self.get_logger().warning("command of the wrong length ignored", throttle_duration_sec=2.0)
            return
        with self._lock:
            for i, n in enumerate(self.names):
                if n in values and np.isfinite(values[n]):
                    self.target[i] = values[n]
            self.commands += 1
            self._new_command = True

    def _on_arm_command(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != len(self.arm_joints) or not np.all(np.isfinite(msg.data)):
            self.get_logger().warning("arm command of the wrong length or not finite ignored",
                                      throttle_duration_sec=2.0)
            return
        with self._lock:
            self._arm_target = list(msg.data)
            self._new_command = True

    def _on_sim_state(self, msg: JointState) -> None:
        with self._lock:
            self._sim_state = dict(zip(msg.name, msg.position))

    # --- the tick: move the plant, report with latency, noise and drops ------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        arm_reading = None
        with self._lock:
            if self.p["plant"] == "lag":
                alpha = 1.0 - np.exp(-dt / self.p["time_constant"])
                self.q += alpha * (self.target - self.q)
            else:
                if self._sim_state is None:
                    return  # the plant is not up yet: a driver that has not connected
                self._forward_to_sim()
                try:
                    self.q = np.array(self.mapping.to_driver(self._sim_state))
                except MappingError as exc:
                    self.get_logger().warning(f"sim state ignored: {exc}", throttle_duration_sec=2.0)
                    return
                if self.arm_joints:
                    arm_reading = [self._sim_state[j] for j in self.arm_joints]
            reading = self.q + self.rng.normal(0.0, self.p["noise_std"], self.q.shape)
        if self.rng.random() < self.p["drop_probability"]:
            self.dropped += 1
        else:
            self._queue.append((now + self.p["latency"], reading, arm_reading))
        while self._queue and self._queue[0][0] <= now:
            _, pos, arm = self._queue.popleft()
            stamp = self.get_clock().now().to_msg()
            msg = JointState(name=self.names, position=pos.tolist())
            msg.header.stamp = stamp
            self.pub.publish(msg)
            if arm is not None and self.pub_arm is not None:
                arm_msg = JointState(name=self.arm_joints, position=arm)
                arm_msg.header.stamp = stamp
                self.pub_arm.publish(arm_msg)
            self.sent += 1

    def _forward_to_sim(self) -> None:
        """Sim plant (lock held): the latest hand and arm commands, in the sim's names, order and units."""
        if not self._new_command:
            return
        self._new_command = False
        if self._hold is None:
            self._hold = dict(self._sim_state)
        values = dict(self._hold)
        if not np.isnan(self.target).any():  # every finger commanded at least once
            values.update(self.mapping.from_driver(self.names, self.target.tolist()))
        if self._arm_target is not None:
            values.update(zip(self.arm_joints, self._arm_target))
        self._hold = values  # later partial commands keep the rest where it was last sent
        self.pub_sim.publish(Float64MultiArray(data=[float(values[j]) for j in self.sim_order]))


def main(argv: list[str] | None = None) -> int:
    return spin_node(FakeHandDriverNode, argv)
