"""Interoperability: bags from other writers and distros are read and evaluated;
truncated, corrupted and foreign files give a clear error naming the problem."""

from __future__ import annotations

import argparse
import shutil

import pytest
import yaml

from dexsafe.evaluation import topics as T
from dexsafe.evaluation.bag_reader import msg_to_plain, open_bag
from dexsafe.evaluation.errors import (
    BagCorruptedError,
    BagError,
    BagNotFoundError,
    BagTruncatedError,
    ForeignBagError,
    UnknownMessageTypeError,
)
from dexsafe.evaluation.evaluate import evaluate_bag
from dexsafe.evaluation.run_info import RunInfo
from dexsafe.evaluation.sim_loop import SimStackLoop, record_scripted_run, scripted_policy
from dexsafe.evaluation.typestore import msgdef

REPLAYED = (T.JOINT_STATES, T.CONTACTS, T.POLICY_COMMANDS, T.HAND_COMMANDS, T.COST)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """2 s of the scripted grasp, in MCAP."""
    path = tmp_path_factory.mktemp("interop") / "short"
    loop = SimStackLoop(RunInfo())
    try:
        policy, _ = scripted_policy(loop)
        from dexsafe.evaluation.bag_writer import BagWriter

        with BagWriter(path, "mcap", run_info=loop.info) as bag:
            for topic in REPLAYED + (T.OBJECTS,):
                bag.add_topic(topic, T.STACK_TOPICS[topic][0])
            loop.run(policy, 2.0, lambda topic, t_ns, msg: bag.has_topic(topic) and bag.write(topic, t_ns, msg))
    finally:
        loop.close()
    return path


def test_bag_from_mcap_ros2_support_is_evaluated(short_run, tmp_path):
    """A single .mcap from Foxglove's writer: no metadata.yaml, zstd chunks, definitions as given."""
    from mcap_ros2.writer import Writer

    out = tmp_path / "foreign.mcap"
    with open_bag(short_run) as bag, out.open("wb") as fh:
        writer = Writer(fh)
        schemas = {t: writer.register_msgdef(i.msgtype, msgdef(i.msgtype)) for t, i in bag.info.topics.items()}
        for topic, t_ns, msg in bag.messages(REPLAYED):
            writer.write_message(topic, schemas[topic], msg_to_plain(msg), log_time=t_ns, publish_time=t_ns)
        writer.finish()
    with open_bag(out) as bag:
        assert bag.info.metadata_version is None and bag.info.run_info() is None
        assert set(bag.info.topics) == set(REPLAYED)
    s = evaluate_bag(out, "open").summary
    assert s.passed and s.max_divergence == 0.0, s.headline()
    assert any("no dexsafe run info" in n for n in s.notes)


def test_humble_era_sqlite3_metadata_v5_is_read(tmp_path):
    """What Humble's `ros2 bag record` writes by default: sqlite3, metadata v5 (no hash, no custom data)."""
    path = tmp_path / "humble"
    record_scripted_run(path, storage="sqlite3", info=RunInfo(), duration=2.0)
    meta_path = path / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    info = meta["rosbag2_bagfile_information"]
    info["version"] = 5
    for key in ("custom_data", "ros_distro"):
        info.pop(key)
    for t in info["topics_with_message_count"]:
        t["topic_metadata"].pop("type_description_hash")
    meta_path.write_text(yaml.safe_dump(meta))
    s = evaluate_bag(path, "open").summary
    assert s.passed and s.max_divergence == 0.0, s.headline()


def test_directory_without_metadata_is_read_from_its_storage_file(short_run, tmp_path):
    bag = shutil.copytree(short_run, tmp_path / "nometa")
    (bag / "metadata.yaml").unlink()
    with open_bag(bag) as reader:
        assert reader.info.message_count > 0 and reader.info.run_info() == RunInfo()  # from the MCAP metadata


def _cli(path, capsys) -> str:
    from dexsafe.cli import eval_bag

    parser = argparse.ArgumentParser()
    eval_bag.add_arguments(parser)
    assert eval_bag.run(parser.parse_args([str(path), "--no-report", "--no-progress"])) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_truncated_mcap(short_run, tmp_path, capsys):
    bag = shutil.copytree(short_run, tmp_path / "cut")
    data = (bag / "short.mcap").read_bytes()
    (bag / "short.mcap").write_bytes(data[: len(data) // 2])
    with pytest.raises(BagTruncatedError, match="truncated"):
        open_bag(bag)
    assert "short.mcap" in _cli(bag, capsys)
    (bag / "short.mcap").write_bytes(b"")
    with pytest.raises(BagTruncatedError, match="empty"):
        open_bag(bag)


def test_corrupted_mcap(short_run, tmp_path, capsys):
    bag = shutil.copytree(short_run, tmp_path / "bad")
    data = bytearray((bag / "short.mcap").read_bytes())
    mid = len(data) // 3
    data[mid:mid + 4096] = b"\xff" * 4096  # records inside a chunk overwritten
    (bag / "short.mcap").write_bytes(bytes(data))
    with pytest.raises(BagCorruptedError, match="short.mcap"):
        evaluate_bag(bag, "open")
    assert "damaged" in _cli(bag, capsys) or "cannot read" in _cli(bag, capsys)


def test_truncated_and_corrupted_sqlite3(tmp_path):
    path = tmp_path / "db"
    record_scripted_run(path, storage="sqlite3", duration=1.0)
    db = path / "db.db3"
    data = db.read_bytes()
    cut = shutil.copytree(path, tmp_path / "cut")
    (cut / "db.db3").write_bytes(data[: len(data) // 2])
    with pytest.raises(BagTruncatedError, match="truncated"):
        open_bag(cut)
    bad = shutil.copytree(path, tmp_path / "bad")
    damaged = bytearray(data)
    damaged[4096:12288] = b"\x13" * 8192  # b-tree pages overwritten
    (bad / "db.db3").write_bytes(bytes(damaged))
    with pytest.raises(BagError, match="db.db3"):
        evaluate_bag(bad, "open")


@pytest.mark.parametrize("case", ["garbage_mcap", "ros1_bag", "text_file", "empty_dir", "missing", "bad_yaml",
                                  "not_rosbag2_yaml", "json_mcap_profile"])
def test_foreign_inputs_name_the_problem(tmp_path, case):
    expected: tuple[type, str]
    if case == "garbage_mcap":
        path = tmp_path / "x.mcap"
        path.write_bytes(b"PK\x03\x04 this is a zip file, not a bag" * 10)
        expected = ForeignBagError, "not an MCAP file"
    elif case == "ros1_bag":
        path = tmp_path / "old.bag"
        path.write_bytes(b"#ROSBAG V2.0\n" + b"\0" * 100)
        expected = ForeignBagError, "ROS 1 bag"
    elif case == "text_file":
        path = tmp_path / "notes.txt"
        path.write_text("hello")
        expected = ForeignBagError, "unknown storage format '.txt'"
    elif case == "empty_dir":
        path = tmp_path / "empty"
        path.mkdir()
        expected = BagNotFoundError, "neither metadata.yaml nor"
    elif case == "missing":
        path = tmp_path / "nothing"
        expected = BagNotFoundError, "no such bag"
    elif case == "bad_yaml":
        path = tmp_path / "bag"
        path.mkdir()
        (path / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
        expected = BagCorruptedError, "not valid YAML"
    elif case == "not_rosbag2_yaml":
        path = tmp_path / "bag"
        path.mkdir()
        (path / "metadata.yaml").write_text("hello: world\n")
        expected = ForeignBagError, "not a rosbag2 metadata file"
    else:
        from mcap.writer import Writer

        path = tmp_path / "json.mcap"
        with path.open("wb") as fh:
            w = Writer(fh)
            w.start(profile="", library="test")
            schema = w.register_schema(name="Point", encoding="jsonschema", data=b"{}")
            ch = w.register_channel(topic="/p", message_encoding="json", schema_id=schema)
            w.add_message(ch, log_time=1, publish_time=1, data=b"{}")
            w.finish()
        expected = ForeignBagError, "not 'ros2'"
    cls, text = expected
    with pytest.raises(cls, match=text) as err:
        evaluate_bag(path, "open")
    assert str(path.name) in str(err.value)


def test_unknown_message_type_without_definition(tmp_path):
    from mcap.writer import Writer

    path = tmp_path / "unknown.mcap"
    with path.open("wb") as fh:
        w = Writer(fh)
        w.start(profile="ros2", library="test")
        schema = w.register_schema(name="acme_msgs/msg/Gripper", encoding="ros2msg", data=b"")
        ch = w.register_channel(topic="/gripper", message_encoding="cdr", schema_id=schema)
        w.add_message(ch, log_time=1, publish_time=1, data=b"\x00\x01\x00\x00\x00\x00\x00\x00")
        w.finish()
    with open_bag(path) as bag, pytest.raises(UnknownMessageTypeError, match=r"/gripper \(acme_msgs/msg/Gripper\)"):
        list(bag.messages())
