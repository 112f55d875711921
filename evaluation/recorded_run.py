"""A recorded run as arrays: what replay and dataset conversion work on.

``load_run(path)`` reads the stack's topics from a bag (see ``topics``) into
time series indexed by bag receive time (ns). Joint positions are reordered
into the shield's command order (``ShieldLimits.joint_names``) the way the
shield node does it, by name. Nothing here judges the run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dexsafe.evaluation import cdr_fast
from dexsafe.evaluation.bag_reader import BagInfo, BagReader, open_bag
from dexsafe.evaluation.errors import RunContentError, UnknownMessageTypeError
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.topics import TopicMap


@dataclass
class Series:
    """Samples of one topic: ``t_ns`` (bag receive time, int64) and ``values`` (one row per message)."""

    t_ns: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.t_ns)

    @classmethod
    def empty(cls, width: int = 0) -> Series:
        return cls(np.zeros(0, dtype=np.int64), np.zeros((0, width)))

    def latest_before(self, t_ns: int, strict: bool = True) -> int:
        """Index of the last sample received before ``t_ns`` (at or before if not strict), -1 if none."""
        return int(np.searchsorted(self.t_ns, t_ns, side="left" if strict else "right")) - 1


@dataclass
class RecordedRun:
    path: Path
    bag: BagInfo
    info: RunInfo
    """the run's settings; ``RunInfo()`` defaults when the bag has none (``has_run_info`` False)"""
    has_run_info: bool
    joint_names: tuple[str, ...]
    """command order (the shield's ``joint_names``)"""
    joint_states: Series
    """measured positions in command order, rad or m"""
    policy_commands: Series
    """what the policy asked for (NaN-padded if a command had another length)"""
    hand_commands: Series
    """what the shield sent to the hand"""
    cost: Series
    """the shield's per-tick cost, shape (N, 1)"""
    finger_forces: list[dict[str, float]] = field(default_factory=list)
    """per /dexsafe/contacts message: summed normal force per finger, N"""
    contacts_t_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    objects: Series | None = None
    """object positions (N, K*3) in ``world``, m, ordered as ``object_ids``"""
    object_ids: tuple[str, ...] = ()
    estop: Series | None = None
    """e-stop engaged (1.0) or released (0.0)"""
    policy_raw: list[np.ndarray] = field(default_factory=list)
    """policy commands exactly as recorded (any length): what open-loop replay feeds the shield"""
    hand_raw: list[np.ndarray] = field(default_factory=list)
    """hand commands exactly as recorded (any length)"""

    @property
    def origin_ns(self) -> int:
        return int(self.bag.start_ns)

    @property
    def duration_s(self) -> float:
        return self.bag.duration_s


def _as_matrix(rows: list[np.ndarray], width: int) -> np.ndarray:
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        n = min(width, r.size)
        out[i, :n] = r[:n]
    return out


def load_run(path: str | Path | BagReader, topics: TopicMap | None = None, *, need: tuple[str, ...] = (),
             with_objects: bool = True, progress: Callable[[int], None] | None = None) -> RecordedRun:
    """Read a run from the bag at ``path`` (or an open ``BagReader``).

    ``need``: TopicMap field names that must have messages (e.g. ``("policy_commands",
    "hand_commands")``); a missing one raises ``RunContentError`` naming the topic.
    ``progress(n)`` is called with the number of messages read so far, every 500.
    """
    from dexsafe.evaluation.sim_loop import shield_for

    topics = topics or TopicMap()
    if isinstance(path, BagReader):
        return _load(path, topics, need, with_objects, progress, shield_for)
    with open_bag(path) as reader:
        return _load(reader, topics, need, with_objects, progress, shield_for)


def _slow(reader: BagReader, topic: str, t_ns: int, raw: bytes, topics: TopicMap):
    """Decode with rosbags (other layouts, big-endian, or damage: then it raises a clear error)."""
    msgtype = reader.info.topics[topic].msgtype
    msg = reader.decode(topic, t_ns, raw)
    try:
        if topic == topics.joint_states:
            return tuple(msg.name), np.asarray(msg.position, dtype=float)
        if topic in (topics.policy_commands, topics.hand_commands):
            return np.asarray(msg.data, dtype=float)
        if topic in (topics.cost, topics.estop):
            return float(msg.data)
        if topic == topics.contacts:
            return [(c.link, float(c.normal_force)) for c in msg.contacts]
        if topic == topics.objects:
            return [(o.id, (o.pose.position.x, o.pose.position.y, o.pose.position.z)) for o in msg.objects]
        return msg
    except AttributeError as exc:
        raise RunContentError(f"{reader.path}: {topic} has type {msgtype}, which lacks {exc.name!r}: "
                              "map the roles to the right topics (TopicMap)") from None


def _load(reader: BagReader, topics: TopicMap, need, with_objects, progress, shield_for) -> RecordedRun:
    info = reader.info
    for role in need:
        name = getattr(topics, role)
        if name not in info.topics or info.topics[name].count == 0:
            have = ", ".join(sorted(info.topics)) or "(none)"
            raise RunContentError(f"{info.path}: no messages on {name} ({role.replace('_', ' ')}); "
                                  f"the bag has: {have}")
    run_info = info.run_info()
    settings = run_info or RunInfo()
    try:
        _, limits, finger_of_body = shield_for(settings)
    except (ValueError, FileNotFoundError) as exc:
        raise RunContentError(f"{info.path}: the recorded run's scene/hand cannot be loaded: {exc}") from None
    names = tuple(limits.joint_names)
    n = len(names)
    wanted = [topics.joint_states, topics.policy_commands, topics.hand_commands, topics.cost, topics.contacts,
              topics.estop] + ([topics.objects] if with_objects else [])
    buf: dict[str, tuple[list[int], list]] = {t: ([], []) for t in wanted}
    index_for: dict[tuple[str, ...], np.ndarray] = {}
    object_ids: tuple[str, ...] = ()
    count = 0
    fast = {topics.joint_states: cdr_fast.joint_state, topics.policy_commands: cdr_fast.float64_array,
            topics.hand_commands: cdr_fast.float64_array, topics.cost: cdr_fast.float64,
            topics.estop: cdr_fast.boolean, topics.contacts: cdr_fast.hand_contacts,
            topics.objects: cdr_fast.object_positions}
    present = [t for t in wanted if t in info.topics]
    if unknown := reader.unknown_types(present):
        raise UnknownMessageTypeError(f"{info.path}: message type(s) unknown and not defined in the bag: "
                                      + ", ".join(f"{t} ({m})" for t, m in sorted(unknown.items())))
    for topic, t_ns, raw in reader.raw_by_topic(present):
        ts, vals = buf[topic]
        decoded = fast[topic](raw) if topic in fast else None
        if decoded is None:
            decoded = _slow(reader, topic, t_ns, raw, topics)
        if topic == topics.joint_states:
            key, pos = decoded
            idx = index_for.get(key)
            if idx is None:
                missing = [j for j in names if j not in key]
                if missing:
                    raise RunContentError(f"{info.path}: {topic} lacks joints {missing} of the hand")
                idx = index_for[key] = np.array([key.index(j) for j in names])
            if pos.size != len(key):
                continue  # the shield node drops such states too
            vals.append(pos[idx])
        elif topic in (topics.policy_commands, topics.hand_commands):
            vals.append(decoded)
        elif topic in (topics.cost, topics.estop):
            vals.append(np.array([float(decoded)]))
        elif topic == topics.contacts:
            forces: dict[str, float] = {}
            for link, force in decoded:
                finger = finger_of_body.get(link)
                if finger is not None:
                    forces[finger] = forces.get(finger, 0.0) + force
            vals.append(forces)
        elif topic == topics.objects:
            if not object_ids:
                object_ids = tuple(oid for oid, _ in decoded)
            pos = dict(decoded)
            vals.append(np.array([pos.get(i, (np.nan,) * 3) for i in object_ids], dtype=float).reshape(-1))
        ts.append(t_ns)
        count += 1
        if progress is not None and count % 500 == 0:
            progress(count)

    for ts, vals in buf.values():  # each topic in receive-time order (bulk reads are per chunk)
        if any(b < a for a, b in zip(ts, ts[1:])):
            order = sorted(range(len(ts)), key=ts.__getitem__)
            ts[:] = [ts[i] for i in order]
            vals[:] = [vals[i] for i in order]

    def series(topic: str, width: int) -> Series:
        ts, vals = buf.get(topic, ([], []))
        if not ts:
            return Series.empty(width)
        return Series(np.asarray(ts, dtype=np.int64), _as_matrix(vals, width))

    objects = None
    if with_objects and buf[topics.objects][0]:
        objects = series(topics.objects, 3 * len(object_ids))
    estop = series(topics.estop, 1) if buf[topics.estop][0] else None
    return RecordedRun(path=info.path, bag=info, info=settings, has_run_info=run_info is not None,
                       joint_names=names, joint_states=series(topics.joint_states, n),
                       policy_commands=series(topics.policy_commands, n),
                       hand_commands=series(topics.hand_commands, n), cost=series(topics.cost, 1),
                       finger_forces=list(buf[topics.contacts][1]),
                       contacts_t_ns=np.asarray(buf[topics.contacts][0], dtype=np.int64),
                       objects=objects, object_ids=object_ids, estop=estop,
                       policy_raw=list(buf[topics.policy_commands][1]), hand_raw=list(buf[topics.hand_commands][1]))
