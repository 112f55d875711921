"""Reading rosbag2 bags written by anyone, with errors that name the problem.

``open_bag(path)`` accepts a bag directory (``metadata.yaml`` plus storage
files, any metadata version 4-9, Humble or Jazzy), a directory whose
``metadata.yaml`` is missing (the storage file is read on its own, as after a
crash), or a bare ``.mcap`` / ``.db3`` file (e.g. written by
``mcap-ros2-support``, which writes no ``metadata.yaml``). Before rosbags
touches a file, its bytes are checked: an MCAP needs its leading and trailing
magic, an sqlite3 database its header and a clean ``PRAGMA quick_check``.
Message types come from :func:`dexsafe.evaluation.typestore.typestore`;
types it lacks are taken from the definitions embedded in the bag. Every
problem is raised as a :class:`~dexsafe.evaluation.errors.BagError` subclass.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from rosbags.interfaces import MessageDefinitionFormat
from rosbags.rosbag2 import Reader
from rosbags.rosbag2.errors import ReaderError
from rosbags.typesys import get_types_from_msg

from dexsafe.evaluation.errors import (
    BagCorruptedError,
    BagError,
    BagNotFoundError,
    BagTruncatedError,
    ForeignBagError,
    UnknownMessageTypeError,
)
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.typestore import typestore

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MCAP_MAGIC = b"\x89MCAP0\r\n"
SQLITE_MAGIC = b"SQLite format 3\x00"
STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int
    qos: tuple[dict[str, Any], ...] = ()
    """offered QoS profiles, e.g. ``{"reliability": "reliable", "durability": "volatile", "depth": 10}``"""
    has_definition: bool = False
    """the bag embeds the message definition (MCAP schema / sqlite3 message_definitions)"""


@dataclass(frozen=True)
class BagInfo:
    """What ``ros2 bag info`` shows, plus where it came from."""

    path: Path
    storage: str
    """``mcap`` or ``sqlite3``"""
    metadata_version: int | None
    """``metadata.yaml`` version; None when the bag has no metadata.yaml"""
    ros_distro: str | None
    start_ns: int
    end_ns: int
    message_count: int
    topics: dict[str, TopicInfo]
    custom_data: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) * 1e-9

    def run_info(self) -> RunInfo | None:
        try:
            return RunInfo.from_custom_data(self.custom_data)
        except ValueError as exc:
            raise BagCorruptedError(f"{self.path}: {exc}") from None

    def summary(self) -> str:
        lines = [f"bag {self.path} ({self.storage}, metadata v{self.metadata_version or '-'}, "
                 f"distro {self.ros_distro or '-'}): {self.message_count} messages over {self.duration_s:.2f} s"]
        for t in sorted(self.topics.values(), key=lambda t: t.name):
            lines.append(f"  {t.name:<32} {t.msgtype:<40} {t.count:>7}")
        return "\n".join(lines)


# --- byte-level checks -------------------------------------------------------------------------
def _check_mcap(path: Path) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(len(MCAP_MAGIC))
        if head != MCAP_MAGIC:
            if not head:
                raise BagTruncatedError(f"{path}: the MCAP file is empty (0 bytes)")
            raise ForeignBagError(f"{path}: not an MCAP file (it does not start with the MCAP magic bytes)")
        if size < 2 * len(MCAP_MAGIC) + 20:
            raise BagTruncatedError(f"{path}: MCAP file of {size} bytes is too short to be complete: truncated")
        fh.seek(size - len(MCAP_MAGIC))
        if fh.read() != MCAP_MAGIC:
            raise BagTruncatedError(
                f"{path}: MCAP file ends without its closing magic bytes: truncated (a recorder that did not "
                "shut down cleanly, or a partial copy); `mcap recover` can salvage the complete chunks")


def _check_sqlite(path: Path) -> None:
    with path.open("rb") as fh:
        head = fh.read(100)
    if not head:
        raise BagTruncatedError(f"{path}: the sqlite3 database is empty (0 bytes)")
    if not head.startswith(SQLITE_MAGIC):
        raise ForeignBagError(f"{path}: not an sqlite3 database (wrong header)")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    n_pages = int.from_bytes(head[28:32], "big")
    size = path.stat().st_size
    if page_size and n_pages and size < page_size * n_pages:
        raise BagTruncatedError(f"{path}: sqlite3 database is {size} bytes but its header declares "
                                f"{n_pages} pages of {page_size} bytes: truncated")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise BagCorruptedError(f"{path}: sqlite3 database is damaged: {exc}") from None
    if check != "ok":
        raise BagCorruptedError(f"{path}: sqlite3 database is damaged: {check}")
    missing = {"topics", "messages"} - tables
    if missing:
        raise ForeignBagError(f"{path}: sqlite3 database without rosbag2 table(s) {sorted(missing)}: "
                              "not a rosbag2 bag")


def _check_storage_file(path: Path) -> str:
    kind = STORAGE_SUFFIXES.get(path.suffix)
    if path.suffix == ".bag":
        raise ForeignBagError(f"{path}: a ROS 1 bag; convert it first (`rosbags-convert --src {path.name}`)")
    if kind is None:
        if path.suffix in (".zstd", ".zst"):
            raise ForeignBagError(f"{path}: a file-compressed bag file; open the bag directory, not the file")
        raise ForeignBagError(f"{path}: unknown storage format {path.suffix or '(no suffix)'!r}; "
                              "expected a rosbag2 directory, .mcap or .db3")
    (_check_mcap if kind == "mcap" else _check_sqlite)(path)
    return kind


def _read_metadata(path: Path) -> dict:
    meta = path / "metadata.yaml"
    try:
        data = yaml.load(meta.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BagCorruptedError(f"{meta}: not valid YAML: {exc}") from None
    info = data.get("rosbag2_bagfile_information") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise ForeignBagError(f"{meta}: no 'rosbag2_bagfile_information' mapping: not a rosbag2 metadata file")
    return info


# --- the reader --------------------------------------------------------------------------------
def msg_to_plain(msg: Any) -> Any:
    """A rosbags message as plain Python (dicts, lists, numbers, strings): for JSON and equality."""
    if hasattr(msg, "__dataclass_fields__"):
        return {k: msg_to_plain(getattr(msg, k)) for k in msg.__dataclass_fields__ if k != "__msgtype__"}
    if isinstance(msg, np.ndarray):
        return msg.tolist()
    if isinstance(msg, (list, tuple)):
        return [msg_to_plain(x) for x in msg]
    if isinstance(msg, np.generic):
        return msg.item()
    return msg


class BagReader:
    """An open bag: ``info`` and ``messages(topics)``. Use ``open_bag``; close when done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = typestore()  # shared (its compiled codecs are cached); copied if the bag adds types
        self._reader: Reader | None = None
        self._fh = None
        self._target = path
        self._raw = None
        self._bulk = None
        self._topics: dict[str, TopicInfo] = {}
        self._defs: dict[str, tuple[str, str]] = {}
        self._custom = None
        self._count, self._start, self._end = 0, 0, 0
        self.info: BagInfo

    def _open(self) -> BagReader:
        path = self.path
        if not path.exists():
            raise BagNotFoundError(f"{path}: no such bag (neither a directory nor a file)")
        metadata: dict | None = None
        target = path
        if path.is_dir():
            if (path / "metadata.yaml").is_file():
                metadata = _read_metadata(path)
                files = metadata.get("relative_file_paths") or []
                if not isinstance(files, list) or not files:
                    raise BagCorruptedError(f"{path}/metadata.yaml lists no storage files")
                if metadata.get("compression_mode", "") in ("", "none", "NONE", None):
                    for name in files:
                        f = path / Path(str(name)).name
                        if not f.exists():
                            raise BagNotFoundError(f"{path}: storage file {f.name} named in metadata.yaml is missing")
                        _check_storage_file(f)
                    if len(files) == 1 and metadata.get("version", 0) >= 4:
                        # One plain storage file: read it directly (its own index and schemas),
                        # sparing rosbags' slow YAML parse of metadata.yaml, already parsed here.
                        target = path / Path(str(files[0])).name
            else:
                files = sorted(p for p in path.iterdir() if p.suffix in STORAGE_SUFFIXES)
                if not files:
                    raise BagNotFoundError(f"{path}: a directory with neither metadata.yaml nor .mcap/.db3 files")
                if len(files) > 1:
                    raise ForeignBagError(f"{path}: no metadata.yaml and {len(files)} storage files; "
                                          "run `ros2 bag reindex` to restore the metadata")
                target = files[0]
                _check_storage_file(target)
        else:
            _check_storage_file(path)
        self._target = target
        if target.suffix == ".mcap":
            self._open_mcap(target)
        else:
            self._open_rosbags(target)
        self._register_bag_types()
        custom = (metadata or {}).get("custom_data") or self._custom or {}
        if not isinstance(custom, dict):
            raise BagCorruptedError(f"{path}/metadata.yaml: custom_data is not a mapping")
        storage = (metadata or {}).get("storage_identifier") or STORAGE_SUFFIXES.get(target.suffix, "?")
        self.info = BagInfo(path=path, storage=storage,
                            metadata_version=(metadata or {}).get("version"),
                            ros_distro=(metadata or {}).get("ros_distro"),
                            start_ns=self._start if self._count else 0, end_ns=self._end if self._count else 0,
                            message_count=self._count, topics=self._topics,
                            custom_data={str(k): str(v) for k, v in dict(custom).items()})
        return self

    def _open_rosbags(self, target: Path) -> None:
        """sqlite3 databases and multi-file or compressed bags: rosbags' reader."""
        try:
            reader = Reader(target)
            reader.open()
        except ReaderError as exc:
            raise self._classify(exc) from None
        except Exception as exc:  # noqa: BLE001 - any failure inside rosbags: still a clear message
            raise BagCorruptedError(f"{self.path}: cannot read the bag: {type(exc).__name__}: {exc}") from None
        self._reader = reader
        for name, t in reader.topics.items():
            conn = t.connections[0]
            qos = tuple(_qos_dict(q) for q in getattr(conn.ext, "offered_qos_profiles", ()) or ())
            msgtype = t.msgtype or conn.msgtype
            self._topics[name] = TopicInfo(name, msgtype, int(t.msgcount), qos,
                                           t.msgdef.format != MessageDefinitionFormat.NONE)
            if t.msgdef.format == MessageDefinitionFormat.MSG and t.msgdef.data:
                self._defs.setdefault(msgtype, (name, t.msgdef.data))
        self._count = reader.message_count
        self._start, self._end = reader.start_time, reader.end_time
        self._custom = getattr(reader.storage.metadata, "custom", None)

        def raw(topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
            conns = [c for c in reader.connections if c.topic in topics]
            if conns:
                for conn, t_ns, data in reader.messages(connections=conns):
                    yield conn.topic, t_ns, data

        self._raw = raw

    def _open_mcap(self, target: Path) -> None:
        """MCAP files: the ``mcap`` package's indexed reader (rosbags parses QoS YAML slowly)."""
        from mcap.reader import make_reader

        fh = target.open("rb")
        self._fh = fh
        try:
            reader = make_reader(fh)
            header = reader.get_header()
            summary = reader.get_summary()
            metadata = {m.name: m.metadata for m in reader.iter_metadata()}
        except Exception as exc:  # noqa: BLE001 - any failure of the parser is damage in the file
            raise BagCorruptedError(f"{target}: cannot read the MCAP file: {type(exc).__name__}: {exc}") from None
        if header.profile != "ros2":
            raise ForeignBagError(f"{target}: MCAP profile {header.profile or '(none)'!r}, not 'ros2': "
                                  "not a ROS 2 bag")
        if summary is None or summary.statistics is None:
            raise BagCorruptedError(f"{target}: MCAP file without a summary section (index); "
                                    "`mcap recover` rewrites one")
        stats = summary.statistics
        for ch in summary.channels.values():
            if ch.message_encoding != "cdr":
                raise ForeignBagError(f"{target}: topic {ch.topic} is encoded as {ch.message_encoding!r}, not CDR")
            schema = summary.schemas.get(ch.schema_id)
            if schema is None:
                raise ForeignBagError(f"{target}: topic {ch.topic} has no schema (message type unknown)")
            msgtype = _normalize_msgtype(schema.name)
            count = int(stats.channel_message_counts.get(ch.id, 0))
            old = self._topics.get(ch.topic)
            qos = _parse_qos_text(ch.metadata.get("offered_qos_profiles", ""))
            has_def = schema.encoding == "ros2msg" and bool(schema.data)
            self._topics[ch.topic] = TopicInfo(ch.topic, msgtype, count + (old.count if old else 0),
                                               (old.qos if old else ()) + qos,
                                               has_def or bool(old and old.has_definition))
            if has_def:
                self._defs.setdefault(msgtype, (ch.topic, schema.data.decode("utf-8", "replace")))
        self._count = int(stats.message_count)
        self._start, self._end = int(stats.message_start_time), int(stats.message_end_time) + 1
        rosbag2 = metadata.get("rosbag2", {}).get("serialized_metadata")
        if rosbag2:
            try:
                self._custom = (yaml.load(rosbag2, Loader=_YAML_LOADER) or {}).get("custom_data")
            except yaml.YAMLError:
                self._custom = None

        def raw(topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
            for _, channel, message in reader.iter_messages(topics=sorted(topics), log_time_order=True):
                yield channel.topic, message.log_time, message.data

        self._raw = raw
        if summary.chunk_indexes:
            by_id = {ch.id: ch.topic for ch in summary.channels.values()}
            chunks = summary.chunk_indexes

            def bulk(topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
                from dexsafe.evaluation.mcap_scan import scan_messages

                ids = {i for i, t in by_id.items() if t in topics}
                for channel, t_ns, data in scan_messages(fh, chunks, ids):
                    yield by_id[channel], t_ns, data

            self._bulk = bulk

    def _classify(self, exc: Exception) -> BagError:
        text = str(exc)
        low = text.lower()
        if "profile" in low or "not supported" in low or "serialization format" in low:
            return ForeignBagError(f"{self.path}: {text}")
        if "missing" in low and "database" in low:
            return BagNotFoundError(f"{self.path}: {text}")
        if "truncat" in low or "end of file" in low or "eof" in low:
            return BagTruncatedError(f"{self.path}: {text}")
        return BagCorruptedError(f"{self.path}: cannot read the bag: {text}")

    def _register_bag_types(self) -> None:
        """Add the definitions a bag embeds for types our typestore lacks."""
        types: dict = {}
        for msgtype, (topic, text) in self._defs.items():
            if msgtype in self.store.fielddefs or msgtype in types:
                continue
            try:
                types.update(get_types_from_msg(text, msgtype))
            except Exception as exc:  # noqa: BLE001 - a parser error is a damaged definition
                raise BagCorruptedError(f"{self.path}: the embedded definition of {msgtype} ({topic}) "
                                        f"does not parse: {exc}") from None
        if types:
            self.store = typestore(fresh=True)
            self.store.register(types)

    def close(self) -> None:
        self._raw = None
        if self._reader is not None:
            reader, self._reader = self._reader, None
            try:
                reader.close()
            except Exception:  # noqa: BLE001, S110 - closing a damaged bag must not mask the real error
                pass
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def unknown_types(self, topics: Iterable[str] | None = None) -> dict[str, str]:
        """topic -> message type, for requested topics whose type cannot be decoded."""
        wanted = set(topics) if topics is not None else set(self.info.topics)
        return {t.name: t.msgtype for t in self.info.topics.values()
                if t.name in wanted and t.msgtype not in self.store.fielddefs}

    def raw_by_topic(self, topics: Iterable[str]) -> Iterator[tuple[str, int, bytes]]:
        """``(topic, t_ns, CDR bytes)`` for bulk loading: each topic's messages in order, topics
        interleaved in file order (not globally time-sorted). Faster than ``messages`` on MCAP."""
        if self._bulk is None:
            yield from self.messages(topics, raw=True)
            return
        wanted = set(topics) & set(self.info.topics)
        try:
            yield from self._bulk(wanted)
        except Exception as exc:  # noqa: BLE001 - damaged chunk or record
            raise BagCorruptedError(f"{self._target}: damaged data: {type(exc).__name__}: {exc}") from None

    def messages(self, topics: Iterable[str] | None = None, *, raw: bool = False
                 ) -> Iterator[tuple[str, int, Any]]:
        """Yield ``(topic, t_ns, message)`` in time order for ``topics`` (default all).

        Messages are rosbags objects (``raw=True``: CDR bytes). Topics the bag
        does not have are ignored; an undecodable type raises
        ``UnknownMessageTypeError`` before the first message.
        """
        if self._raw is None:
            raise BagError(f"{self.path}: bag is closed")
        wanted = set(topics) if topics is not None else set(self.info.topics)
        if not raw and (unknown := self.unknown_types(wanted)):
            listing = ", ".join(f"{t} ({m})" for t, m in sorted(unknown.items()))
            raise UnknownMessageTypeError(f"{self.path}: message type(s) unknown and not defined in the bag: "
                                          f"{listing}")
        wanted &= set(self.info.topics)
        if not wanted:
            return
        it = self._raw(wanted)
        last_t = None
        while True:
            try:
                topic, t_ns, data = next(it)
            except StopIteration:
                return
            except ReaderError as exc:
                raise self._classify(exc) from None
            except Exception as exc:  # noqa: BLE001 - damaged chunk/record inside rosbags
                where = f" after t={last_t} ns" if last_t is not None else ""
                raise BagCorruptedError(f"{self._target}: damaged data{where}: {type(exc).__name__}: {exc}") from None
            last_t = t_ns
            yield topic, t_ns, bytes(data) if raw else self.decode(topic, t_ns, data)

    def decode(self, topic: str, t_ns: int, data: bytes) -> Any:
        """One message's CDR bytes -> a rosbags object; ``BagCorruptedError`` naming topic and time if
        it does not deserialize."""
        msgtype = self.info.topics[topic].msgtype
        try:
            return self.store.deserialize_cdr(data, msgtype)
        except Exception as exc:  # noqa: BLE001 - any decode failure is damage in that message
            raise BagCorruptedError(f"{self.path}: message on {topic} ({msgtype}) at t={t_ns} ns "
                                    f"does not deserialize: {type(exc).__name__}: {exc}") from None


_POLICY_NAMES = {
    "history": ("system_default", "keep_last", "keep_all", "unknown"),
    "reliability": ("system_default", "reliable", "best_effort", "unknown", "best_available"),
    "durability": ("system_default", "transient_local", "volatile", "unknown", "best_available"),
}


def _normalize_msgtype(name: str) -> str:
    """``pkg/Name`` (ROS 1 style, some MCAP writers) -> ``pkg/msg/Name``."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


@functools.lru_cache(maxsize=64)
def _parse_qos_text(text: str) -> tuple[dict[str, Any], ...]:
    """``offered_qos_profiles`` of an MCAP channel (metadata v8 integers or v9 names) as dicts."""
    if not text:
        return ()
    try:
        items = yaml.load(text, Loader=_YAML_LOADER) or []
    except yaml.YAMLError:
        return ()
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        d: dict[str, Any] = {"depth": int(item.get("depth", 0) or 0)}
        for key, names in _POLICY_NAMES.items():
            v = item.get(key, "unknown")
            d[key] = names[v] if isinstance(v, int) and 0 <= v < len(names) else str(v).lower()
        out.append({"history": d["history"], "depth": d["depth"], "reliability": d["reliability"],
                    "durability": d["durability"]})
    return tuple(out)


def _qos_dict(q: Any) -> dict[str, Any]:
    return {"history": q.history.name.lower(), "depth": int(q.depth), "reliability": q.reliability.name.lower(),
            "durability": q.durability.name.lower()}


def open_bag(path: str | Path) -> BagReader:
    """Open a bag for reading (see the module docstring); raises ``BagError`` subclasses only."""
    reader = BagReader(Path(path).expanduser())
    try:
        return reader._open()
    except BaseException:
        reader.close()
        raise


def bag_info(path: str | Path) -> BagInfo:
    """``ros2 bag info`` for ``path``, without reading messages."""
    with open_bag(path) as reader:
        return reader.info
