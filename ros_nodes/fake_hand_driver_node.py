"""The ``fake_hand_driver`` node: behaves like a real hand's driver, for the real launch in tests.

Subscribes to a driver command topic (Float64MultiArray in its joint order, or
JointState), moves each joint towards its command with a first-order lag
(``time_constant``), and publishes its joint states at ``rate`` with a
``latency`` delay, Gaussian ``noise_std`` on positions, and a ``drop_probability``
of losing each message -- the imperfections a driver over CAN or USB has.
Positions are in the driver's units. Nothing here is simulated physics: no
contacts, no objects.
"""

from __future__ import annotations

import collections
import threading
import time

import numpy as np
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from dexsafe.ros_nodes.hardware_adapter_node import _ALLEGRO_ORDER
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node

PARAMS = [
    ParamSpec("joints", _ALLEGRO_ORDER, "the driver's joint names, in its command order"),
    ParamSpec("initial", [0.0] * 16, "initial positions, driver units"),
    ParamSpec("command_topic", "/allegro_hand_position_controller/commands", "commands in"),
    ParamSpec("command_type", "float64_multi_array", "float64_multi_array | joint_state"),
    ParamSpec("state_topic", "/allegro_hand/joint_states", "joint states out"),
    ParamSpec("rate", 100.0, "joint state rate, Hz", (1.0, 1000.0)),
    ParamSpec("latency", 0.005, "delay of each joint state message, s", (0.0, 1.0)),
    ParamSpec("noise_std", 0.002, "Gaussian noise on reported positions, driver units", (0.0, 1.0)),
    ParamSpec("drop_probability", 0.02, "chance that a joint state message is lost", (0.0, 0.9)),
    ParamSpec("time_constant", 0.05, "first-order lag of each joint towards its command, s", (0.001, 5.0)),
    ParamSpec("seed", 0, "random seed for noise and drops", (0, 2**31 - 1)),
]


class FakeHandDriverNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("fake_hand_driver", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        self.names = list(self.p["joints"])
        self.q = np.array(self.p["initial"], dtype=float)
        if self.q.shape != (len(self.names),):
            raise ValueError(f"initial has {self.q.size} values for {len(self.names)} joints")
        self.target = self.q.copy()
        self.rng = np.random.default_rng(self.p["seed"])
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque()
        self.sent = self.dropped = self.commands = 0
        reliable = QoSProfile(depth=10)
        self.pub = self.create_publisher(JointState, self.p["state_topic"], reliable)
        if self.p["command_type"] == "joint_state":
            self.create_subscription(JointState, self.p["command_topic"],
                                     lambda m: self._command(dict(zip(m.name, m.position))), reliable)
        else:
            self.create_subscription(Float64MultiArray, self.p["command_topic"],
                                     lambda m: self._command(dict(zip(self.names, m.data))
                                                             if len(m.data) == len(self.names) else None), reliable)
        self._last = time.monotonic()
        self.create_timer(1.0 / self.p["rate"], self._tick)

    def _command(self, values: dict[str, float] | None) -> None:
        if values is None:
            self.get_logger().warning("command of the wrong length ignored", throttle_duration_sec=2.0)
            return
        with self._lock:
            for i, n in enumerate(self.names):
                if n in values and np.isfinite(values[n]):
                    self.target[i] = values[n]
            self.commands += 1

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last = now - self._last, now
        with self._lock:
            alpha = 1.0 - np.exp(-dt / self.p["time_constant"])
            self.q += alpha * (self.target - self.q)
            reading = self.q + self.rng.normal(0.0, self.p["noise_std"], self.q.shape)
        if self.rng.random() < self.p["drop_probability"]:
            self.dropped += 1
        else:
            self._queue.append((now + self.p["latency"], reading))
        while self._queue and self._queue[0][0] <= now:
            _, pos = self._queue.popleft()
            msg = JointState(name=self.names, position=pos.tolist())
            msg.header.stamp = self.get_clock().now().to_msg()
            self.pub.publish(msg)
            self.sent += 1


def main(argv: list[str] | None = None) -> int:
    return spin_node(FakeHandDriverNode, argv)
