"""Recording: a sim run written to a bag reads back message for message; the bag is
readable by the `mcap` package's own reader; its metadata suits Humble and Jazzy."""

from __future__ import annotations

import pytest
import yaml

from dexsafe.evaluation import topics as T
from dexsafe.evaluation.bag_reader import msg_to_plain, open_bag
from dexsafe.evaluation.bag_writer import METADATA_VERSION, BagWriter
from dexsafe.evaluation.compat import check_metadata
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.sim_loop import SimStackLoop, scripted_policy

RECORDED = (T.CLOCK, T.JOINT_STATES, T.OBJECTS, T.CONTACTS, T.POLICY_COMMANDS, T.HAND_COMMANDS, T.COST)


def _record(path, storage: str, duration: float | None = None):
    """Record the scripted grasp (optionally only its first ``duration`` s); return what was written."""
    written = []
    loop = SimStackLoop(RunInfo(seed=2, source="test"))
    try:
        policy, full = scripted_policy(loop)
        with BagWriter(path, storage, run_info=loop.info) as bag:
            for topic in RECORDED:
                msgtype, qos = T.STACK_TOPICS[topic]
                bag.add_topic(topic, msgtype, (qos,))

            def sink(topic, t_ns, msg):
                bag.write(topic, t_ns, msg)
                written.append((topic, t_ns, msg_to_plain(msg)))

            loop.run(policy, duration or full, sink)
    finally:
        loop.close()
    return written


@pytest.fixture(scope="module")
def mcap_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bags") / "run"
    return path, _record(path, "mcap", duration=3.0)


def _read_back(path):
    with open_bag(path) as bag:
        return bag.info, [(t, ts, msg_to_plain(m)) for t, ts, m in bag.messages()]


def test_mcap_round_trip_every_message_equal(mcap_run):
    path, written = mcap_run
    info, read = _read_back(path)
    assert info.storage == "mcap" and info.message_count == len(written)
    assert {t: sum(1 for w in written if w[0] == t) for t in RECORDED} == {t: info.topics[t].count for t in RECORDED}
    key = lambda m: (m[1], RECORDED.index(m[0]))  # noqa: E731 - time, then write order within a tick
    assert sorted(read, key=key) == sorted(written, key=key)
    assert info.run_info() == RunInfo(seed=2, source="test")
    assert all(t.has_definition for t in info.topics.values())
    assert info.topics[T.JOINT_STATES].qos == ({"history": "keep_last", "depth": 10, "reliability": "reliable",
                                                "durability": "volatile"},)


def test_sqlite3_round_trip(tmp_path):
    written = _record(tmp_path / "run", "sqlite3", duration=0.3)
    info, read = _read_back(tmp_path / "run")
    assert info.storage == "sqlite3" and (tmp_path / "run" / "run.db3").is_file()
    key = lambda m: (m[1], RECORDED.index(m[0]))  # noqa: E731
    assert sorted(read, key=key) == sorted(written, key=key)
    assert info.run_info().seed == 2


def test_readable_by_the_mcap_package_with_embedded_definitions(mcap_run):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path, written = mcap_run
    decoded = {}
    with (path / "run.mcap").open("rb") as fh:
        reader = make_reader(fh, decoder_factories=[DecoderFactory()])
        for _, channel, message, ros_msg in reader.iter_decoded_messages():
            decoded.setdefault(channel.topic, []).append((message.log_time, ros_msg))
    assert {t: len(v) for t, v in decoded.items()} == {t: sum(1 for w in written if w[0] == t) for t in RECORDED}
    ours = [w for w in written if w[0] == T.OBJECTS]
    for (log_time, theirs), (_, t_ns, plain) in zip(decoded[T.OBJECTS], ours):  # dexsafe/msg from the schema
        assert log_time == t_ns
        assert [o.id for o in theirs.objects] == [o["id"] for o in plain["objects"]]
        assert [o.pose.position.z for o in theirs.objects] == [o["pose"]["position"]["z"] for o in plain["objects"]]
    js = decoded[T.JOINT_STATES][-1][1]
    last = [w for w in written if w[0] == T.JOINT_STATES][-1][2]
    assert list(js.name) == last["name"] and list(js.position) == last["position"]


def test_metadata_reads_on_humble_and_jazzy(mcap_run, tmp_path):
    path, _ = mcap_run
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == METADATA_VERSION == 8
    assert isinstance(meta["topics_with_message_count"][0]["topic_metadata"]["offered_qos_profiles"], str)
    assert check_metadata(path, "humble") == [] and check_metadata(path, "jazzy") == []
    # The check is not vacuous: rosbags' v9 (Jazzy's own format) is flagged for Humble.
    from rosbags.rosbag2 import StoragePlugin, Writer

    from dexsafe.evaluation.bag_writer import RELIABLE
    from dexsafe.evaluation.typestore import typestore

    ts = typestore()
    with Writer(tmp_path / "v9", version=9, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/x", "std_msgs/msg/Float64", typestore=ts, offered_qos_profiles=[RELIABLE])
        w.write(conn, 1, ts.serialize_cdr(ts.types["std_msgs/msg/Float64"](data=1.0), "std_msgs/msg/Float64"))
    assert check_metadata(tmp_path / "v9", "jazzy") == []
    assert any("rosbag2#2013" in p for p in check_metadata(tmp_path / "v9", "humble"))
    with open_bag(tmp_path / "v9") as bag:  # and we read Jazzy's v9 ourselves
        assert bag.info.metadata_version == 9 and bag.info.topics["/x"].qos[0]["reliability"] == "reliable"


def test_fast_cdr_decoders_agree_with_rosbags(mcap_run):
    import numpy as np

    from dexsafe.evaluation import cdr_fast
    from dexsafe.evaluation.typestore import typestore

    path, _ = mcap_run
    checked = 0
    with open_bag(path) as bag:
        store = bag.store
        for topic, _, raw in bag.messages(raw=True):
            msg = store.deserialize_cdr(raw, bag.info.topics[topic].msgtype)
            if topic == T.JOINT_STATES:
                names, pos = cdr_fast.joint_state(raw)
                assert names == tuple(msg.name) and np.array_equal(pos, msg.position)
            elif topic in (T.POLICY_COMMANDS, T.HAND_COMMANDS):
                assert np.array_equal(cdr_fast.float64_array(raw), msg.data)
            elif topic == T.COST:
                assert cdr_fast.float64(raw) == msg.data
            elif topic == T.CONTACTS:
                assert cdr_fast.hand_contacts(raw) == [(c.link, c.normal_force) for c in msg.contacts]
            elif topic == T.OBJECTS:
                assert cdr_fast.object_positions(raw) == [
                    (o.id, (o.pose.position.x, o.pose.position.y, o.pose.position.z)) for o in msg.objects]
            else:
                continue
            checked += 1
    assert checked > 1000
    # A layout with dimensions takes the general path; big-endian CDR is left to rosbags (None).
    ts = typestore()
    ty = ts.types
    arr = ty["std_msgs/msg/Float64MultiArray"](
        layout=ty["std_msgs/msg/MultiArrayLayout"](
            dim=[ty["std_msgs/msg/MultiArrayDimension"](label="joints", size=3, stride=3)], data_offset=0),
        data=np.array([1.0, 2.0, 3.0]))
    raw = bytes(ts.serialize_cdr(arr, "std_msgs/msg/Float64MultiArray"))
    assert cdr_fast.float64_array(raw).tolist() == [1.0, 2.0, 3.0]
    big = bytes(ts.serialize_cdr(arr, "std_msgs/msg/Float64MultiArray", little_endian=False))
    assert cdr_fast.float64_array(big) is None
    assert cdr_fast.joint_state(b"\x00\x01\x00\x00\xff") is None  # truncated
