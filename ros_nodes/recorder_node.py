"""The ``recorder`` node: records the stack's topics to a rosbag2 bag.

Like ``ros2 bag record`` (which this project cannot install: no rosbag2_py
wheels), written with ``dexsafe.evaluation.bag_writer``: MCAP by default
(``storage: sqlite3`` optional), metadata version 8 (``ros2 bag info`` reads
it on Humble and Jazzy), every topic's message definition embedded and its
publishers' offered QoS profiles in the metadata.

Topics are discovered every ``discovery_period`` seconds (steady clock) and
subscribed as soon as they have a publisher, with the QoS rosbag2 would
request: reliable only if every publisher is, transient-local only if every
publisher is. Messages are written as the CDR bytes that arrive
(``raw=True``), stamped with the node clock's receive time (system time, or
``/clock`` with ``use_sim_time``). Types the typestore does not know are
skipped with a warning.

The run's settings (scene, hand, seed from the ``sim`` node; rates, timeouts
and force limit from the ``safety_shield`` node) are fetched from those nodes'
parameter services and stored in the bag's ``custom_data`` for replay. The bag
is finalised (index and ``metadata.yaml``) when the node is destroyed, on
Ctrl-C, or after ``duration`` seconds.
"""

from __future__ import annotations

import importlib
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import rclpy
import rclpy.parameter
from rcl_interfaces.srv import GetParameters
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

from dexsafe.evaluation.bag_writer import BagWriter
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.topics import STACK_TOPICS
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node

PARAMS = [
    ParamSpec("output", "", "bag directory to create; empty = out/bags/run_<UTC date-time>"),
    ParamSpec("storage", "mcap", "storage plugin: mcap (default) or sqlite3"),
    ParamSpec("topics", list(STACK_TOPICS), "topics to record (ignored with all_topics)"),
    ParamSpec("all_topics", False, "record every topic whose message type is known"),
    ParamSpec("discovery_period", 0.5, "how often to look for new topics, s (steady clock)", (0.05, 60.0)),
    ParamSpec("duration", 0.0, "stop after this many seconds (steady clock); 0 = until shut down", (0.0, 1e6)),
    ParamSpec("sim_node", "sim", "node whose scene, hand and seed parameters describe the run; empty = none"),
    ParamSpec("shield_node", "safety_shield", "node whose rate, timeouts and force limit describe the run"),
    ParamSpec("instruction", "", "the instruction this run executes, stored with the run info"),
]

_SIM_KEYS = ("scene", "hand", "seed")
_SHIELD_KEYS = ("control_rate", "state_timeout", "command_timeout", "max_contact_force")


def _qos_time(d) -> QosTime:
    ns = int(d.nanoseconds)
    return QosTime(ns // 1_000_000_000, ns % 1_000_000_000)


def offered_qos(profile: QoSProfile) -> Qos:
    """An rclpy QoS profile as rosbag2 stores it (the rmw enum values are the same)."""
    return Qos(QosHistory(int(profile.history)), int(profile.depth), QosReliability(int(profile.reliability)),
               QosDurability(int(profile.durability)), _qos_time(profile.deadline), _qos_time(profile.lifespan),
               QosLiveliness(int(profile.liveliness)), _qos_time(profile.liveliness_lease_duration),
               bool(profile.avoid_ros_namespace_conventions))


REQUEST_DEPTH = 1000  # a busy recorder must not lose messages: deeper than rosbag2's (the publishers' depth)


def request_qos(offers: list[QoSProfile]) -> QoSProfile:
    """What rosbag2 requests (reliable/transient-local only when every publisher offers it), with a
    keep-last depth of ``REQUEST_DEPTH``."""
    qos = QoSProfile(depth=max([REQUEST_DEPTH] + [int(o.depth) for o in offers]))
    qos.reliability = (ReliabilityPolicy.RELIABLE if offers and all(o.reliability == ReliabilityPolicy.RELIABLE
                                                                    for o in offers)
                       else ReliabilityPolicy.BEST_EFFORT)
    qos.durability = (DurabilityPolicy.TRANSIENT_LOCAL
                      if offers and all(o.durability == DurabilityPolicy.TRANSIENT_LOCAL for o in offers)
                      else DurabilityPolicy.VOLATILE)
    return qos


def message_class(msgtype: str):
    """``pkg/msg/Name`` -> the generated Python class, or None if it is not installed."""
    pkg, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError):
        return None


class RecorderNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        out = self.p["output"] or f"out/bags/run_{datetime.now(UTC).strftime('%Y%m%d_%H%M%S')}"
        self.path = Path(out)
        if self.p["storage"] not in ("mcap", "sqlite3"):
            raise ValueError(f"storage must be mcap or sqlite3, not {self.p['storage']!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.run_info = RunInfo(source="recorder_node", instruction=self.p["instruction"])
        self.bag = BagWriter(self.path, self.p["storage"], run_info=self.run_info).open()
        self._lock = threading.Lock()
        self._closed = False
        self._skipped: set[str] = set()
        self._subs = {}
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)
        self._t_start = time.monotonic()
        self._callbacks = ReentrantCallbackGroup()
        self._discovery_group = MutuallyExclusiveCallbackGroup()
        self._param_clients = {}
        self._pending_params: dict[str, object] = {}
        for role, keys in (("sim_node", _SIM_KEYS), ("shield_node", _SHIELD_KEYS)):
            if self.p[role]:
                name = self.p[role].lstrip("/")
                self._param_clients[name] = (self.create_client(GetParameters, f"/{name}/get_parameters",
                                                                callback_group=self._discovery_group), keys)
        self.create_timer(self.p["discovery_period"], self._discover, callback_group=self._discovery_group,
                          clock=self._steady)
        if self.p["duration"] > 0:
            self.create_timer(self.p["duration"], self._finish, callback_group=self._discovery_group,
                              clock=self._steady)
        self.get_logger().info(f"recording to {self.path} ({self.p['storage']}): "
                               f"{'all topics' if self.p['all_topics'] else ', '.join(self.p['topics'])}")
        self._discover()

    # --- discovery ------------------------------------------------------------------------
    def _discover(self) -> None:
        if self._closed:
            return
        wanted = None if self.p["all_topics"] else set(self.p["topics"])
        for topic, types in self.get_topic_names_and_types():
            if topic in self._subs or topic in self._skipped or (wanted is not None and topic not in wanted):
                continue
            offers = [i.qos_profile for i in self.get_publishers_info_by_topic(topic)]
            if not offers:
                continue  # wait for a publisher: its QoS decides what to request
            self._subscribe(topic, types[0], offers)
        self._fetch_run_info()

    def _subscribe(self, topic: str, msgtype: str, offers: list[QoSProfile]) -> None:
        cls = message_class(msgtype)
        if cls is None or msgtype not in self.bag.store.fielddefs:
            self._skipped.add(topic)
            self.get_logger().warning(f"not recording {topic}: message type {msgtype} is unknown here")
            return
        self.bag.add_topic(topic, msgtype, [offered_qos(o) for o in offers])
        self._subs[topic] = self.create_subscription(
            cls, topic, lambda data, info, t=topic: self._on_message(t, data, info), request_qos(offers), raw=True,
            callback_group=self._callbacks)
        self.get_logger().info(f"recording {topic} [{msgtype}]")

    def _on_message(self, topic: str, data: bytes, info=None) -> None:
        # The middleware's receive time (as rosbag2 records it), not the moment this callback runs: a
        # busy executor can run it 100 ms later, and replay must see inputs when the stack got them.
        received = int((info or {}).get("received_timestamp") or 0)
        t_ns = received if received > 0 else self.get_clock().now().nanoseconds
        with self._lock:
            if not self._closed:
                self.bag.write_raw(topic, t_ns, data)

    # --- run info from the sim and the shield ---------------------------------------------
    def _fetch_run_info(self) -> None:
        for name, (client, keys) in list(self._param_clients.items()):
            pending = self._pending_params.get(name)
            if pending is None:
                if client.service_is_ready():
                    self._pending_params[name] = client.call_async(GetParameters.Request(names=list(keys)))
                continue
            if not pending.done():
                continue
            del self._param_clients[name]
            response = pending.result()
            if response is None:
                continue
            for key, value in zip(keys, response.values):
                v = rclpy.parameter.parameter_value_to_python(value)
                if v is not None:
                    setattr(self.run_info, key, type(getattr(self.run_info, key))(v))
            self.bag.set_run_info(self.run_info)
            self.get_logger().info(f"run info from /{name}: " + ", ".join(
                f"{k}={getattr(self.run_info, k)}" for k in keys))

    # --- shutdown -------------------------------------------------------------------------
    def _finish(self) -> None:
        self.get_logger().info(f"duration of {self.p['duration']} s reached")
        self.close_bag()
        rclpy.try_shutdown(context=self.context)

    def close_bag(self) -> Path:
        """Finalise the bag (idempotent); returns its path."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.bag.close()
                counts = ", ".join(f"{t} {n}" for t, n in sorted(self.bag.counts.items()))
                self.get_logger().info(f"bag {self.path} closed after {time.monotonic() - self._t_start:.1f} s: "
                                       f"{counts or 'no messages'}")
        return self.path

    def destroy_node(self) -> None:
        self.close_bag()
        for pending in self._pending_params.values():
            pending.cancel()  # a parameter request still in flight when the graph goes down
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return spin_node(RecorderNode, argv)
