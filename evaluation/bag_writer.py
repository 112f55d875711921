"""Writing rosbag2 bags: MCAP by default, sqlite3 on request, readable by
``ros2 bag info`` on Humble and on Jazzy.

The metadata version is pinned to :data:`METADATA_VERSION` = 8. Version 9
(Jazzy's own) writes ``offered_qos_profiles`` as a YAML sequence with policy
names, which Humble's reader cannot convert ("yaml-cpp: bad conversion",
rosbag2#2013). Version 8 keeps the profiles as a YAML string with integer
policies; Humble reads it (it ignores ``type_description_hash``, ``custom_data``
and ``ros_distro``), and Jazzy and later auto-detect the integer form.
``custom_data`` always holds the run info, so it is a mapping, never null.

Every topic carries its full message definition (MCAP schema ``ros2msg``,
sqlite3 ``message_definitions``) and the QoS profiles its publishers offered.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.rosbag2.errors import WriterError

from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.typestore import typestore

METADATA_VERSION = 8
"""rosbag2 metadata version written: the newest one Humble and Jazzy both read."""

_INFINITE = QosTime(9223372036, 854775807)  # RMW_DURATION_INFINITE as rosbag2 records it
_DEFAULT_TIME = QosTime(0, 0)


class Storage(StrEnum):
    MCAP = "mcap"
    SQLITE3 = "sqlite3"


def make_qos(reliability: str = "reliable", durability: str = "volatile", depth: int = 10,
             history: str = "keep_last") -> Qos:
    """A QoS profile as rosbag2 records it; policy names as in ``ros2 topic info -v``
    (``reliable``/``best_effort``, ``volatile``/``transient_local``, ``keep_last``/``keep_all``)."""
    return Qos(QosHistory[history.upper()], int(depth), QosReliability[reliability.upper()],
               QosDurability[durability.upper()], _DEFAULT_TIME, _DEFAULT_TIME, QosLiveliness.AUTOMATIC,
               _DEFAULT_TIME, False)


RELIABLE = make_qos()
"""reliable, volatile, keep last 10: the stack's command and state topics"""
SENSOR_DATA = make_qos("best_effort", depth=5)
"""rclpy's ``qos_profile_sensor_data``: point clouds"""
LATCHED = make_qos(durability="transient_local", depth=1)
"""transient local, depth 1: latched data (``/tf_static``, descriptions)"""


class BagWriter:
    """A rosbag2 bag being written; use as a context manager.

    ``path`` is the bag directory to create (it must not exist). Messages are
    rosbags message objects (``typestore().types[msgtype](...)``) or their CDR
    bytes (``write_raw``, what an rclpy ``raw=True`` subscription delivers).
    Thread-safe: the recorder node writes from several callback threads.
    """

    def __init__(self, path: str | Path, storage: Storage | str = Storage.MCAP, run_info: RunInfo | None = None,
                 extra_custom_data: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.storage = Storage(storage)
        self.store = typestore()
        plugin = StoragePlugin.MCAP if self.storage is Storage.MCAP else StoragePlugin.SQLITE3
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already; a bag is never overwritten")
        self._writer = Writer(self.path, version=METADATA_VERSION, storage_plugin=plugin)
        for key, value in {**(run_info or RunInfo()).to_custom_data(), **(extra_custom_data or {})}.items():
            self._writer.set_custom_data(key, str(value))
        self._lock = threading.Lock()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}
        self._open = False

    # --- lifecycle ------------------------------------------------------------------------
    def open(self) -> BagWriter:
        self._writer.open()
        self._open = True
        return self

    def close(self) -> None:
        """Write the index/summary and ``metadata.yaml``; the bag is complete afterwards."""
        with self._lock:
            if self._open:
                self._open = False
                self._writer.close()

    def abort(self) -> None:
        with self._lock:
            if self._open:
                self._open = False
                self._writer.abort()

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close()  # keep what was recorded up to the error: a readable bag

    def set_run_info(self, info: RunInfo) -> None:
        """Replace the run info in ``custom_data`` (allowed until ``close``)."""
        for key, value in info.to_custom_data().items():
            self._writer.set_custom_data(key, value)

    # --- topics and messages --------------------------------------------------------------
    def add_topic(self, topic: str, msgtype: str, qos: list[Qos] | tuple[Qos, ...] = (RELIABLE,)) -> None:
        """Declare ``topic`` of ``msgtype`` (``pkg/msg/Name``) with its publishers' offered QoS."""
        if msgtype not in self.store.fielddefs:
            raise KeyError(f"message type {msgtype!r} of {topic} is not in the typestore; "
                           "register its .msg definition first")
        with self._lock:
            if topic in self._connections:
                raise ValueError(f"topic {topic} added twice")
            try:
                conn = self._writer.add_connection(topic, msgtype, typestore=self.store,
                                                   offered_qos_profiles=list(qos))
            except WriterError as exc:
                raise ValueError(f"cannot add {topic}: {exc}") from None
            self._connections[topic] = conn
            self.counts[topic] = 0

    def has_topic(self, topic: str) -> bool:
        return topic in self._connections

    def write(self, topic: str, t_ns: int, msg: Any) -> None:
        """Serialize ``msg`` (a rosbags message of the topic's type) and write it at ``t_ns``."""
        conn = self._connections.get(topic)
        if conn is None:
            raise KeyError(f"topic {topic} was not added to bag {self.path}")
        self.write_raw(topic, t_ns, bytes(self.store.serialize_cdr(msg, conn.msgtype)))

    def write_raw(self, topic: str, t_ns: int, data: bytes) -> None:
        """Write CDR bytes at receive time ``t_ns`` (ns since the epoch, or sim time)."""
        with self._lock:
            if not self._open:
                raise RuntimeError(f"bag {self.path} is not open")
            conn = self._connections.get(topic)
            if conn is None:
                raise KeyError(f"topic {topic} was not added to bag {self.path}")
            self._writer.write(conn, int(t_ns), data)
            self.counts[topic] += 1
