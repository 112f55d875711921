"""Static checks that a bag's ``metadata.yaml`` is what ``ros2 bag info`` on a
given distro can decode.

There is no rosbag2 here to run, so the rules below restate what rosbag2's
metadata decoder (``rosbag2_storage/yaml.hpp`` and ``qos.cpp``) requires:

- every distro: ``version``, ``storage_identifier``, ``duration.nanoseconds``,
  ``starting_time.nanoseconds_since_epoch``, ``message_count``,
  ``relative_file_paths``, and per topic ``name``, ``type``,
  ``serialization_format`` and ``message_count``; from v3 the compression
  fields, from v5 ``files``;
- Humble reads ``offered_qos_profiles`` as a YAML *string* with integer
  policies (``as<std::string>()``, then ``as<int>()``); a v9 sequence with
  policy names fails there ("yaml-cpp: bad conversion", rosbag2#2013), so
  Humble needs version <= 8 with a string;
- Jazzy reads v4-v9; for v7+ it needs ``type_description_hash``, for v8+
  ``ros_distro``, for v6+ a ``custom_data`` map (or null).

``check_metadata`` returns the problems; an empty list means the distro reads it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

DISTROS = ("humble", "jazzy")
_POLICY_KEYS = ("history", "reliability", "durability", "liveliness")


def _qos_problems(text, where: str, distro: str, version: int) -> list[str]:
    if distro == "humble" or version < 9:
        if not isinstance(text, str):
            return [f"{where}: offered_qos_profiles must be a YAML string for {distro} at v{version}, "
                    f"got {type(text).__name__}"]
        if not text:
            return []
        try:
            items = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return [f"{where}: offered_qos_profiles string is not YAML: {exc}"]
    else:
        items = text
    if not isinstance(items, list):
        return [f"{where}: offered_qos_profiles is not a list"]
    out = []
    for i, q in enumerate(items):
        for key in (*_POLICY_KEYS, "depth", "deadline", "lifespan", "liveliness_lease_duration",
                    "avoid_ros_namespace_conventions"):
            if key not in q:
                out.append(f"{where}: QoS profile {i} lacks {key}")
        if distro == "humble":
            out += [f"{where}: QoS {k} must be an integer for Humble, got {q[k]!r}"
                    for k in _POLICY_KEYS if k in q and not isinstance(q[k], int)]
        for key in ("deadline", "lifespan", "liveliness_lease_duration"):
            if key in q and not (isinstance(q[key], dict) and {"sec", "nsec"} <= set(q[key])):
                out.append(f"{where}: QoS {key} needs sec and nsec")
    return out


def check_metadata(path: str | Path, distro: str) -> list[str]:
    """Problems ``ros2 bag info`` on ``distro`` would have with the bag at ``path``."""
    if distro not in DISTROS:
        raise ValueError(f"distro must be one of {DISTROS}")
    meta_path = Path(path) / "metadata.yaml"
    data = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    info = (data or {}).get("rosbag2_bagfile_information")
    if not isinstance(info, dict):
        return [f"{meta_path}: no rosbag2_bagfile_information"]
    problems = []
    version = info.get("version")
    if not isinstance(version, int):
        return ["version missing or not an integer"]
    if distro == "humble" and version > 8:
        problems.append(f"version {version}: Humble cannot decode v9 offered_qos_profiles (rosbag2#2013)")
    if distro == "jazzy" and version > 9:
        problems.append(f"version {version} is newer than Jazzy's 9")
    required = ["storage_identifier", "duration", "starting_time", "message_count", "relative_file_paths",
                "topics_with_message_count"]
    if version >= 3:
        required += ["compression_format", "compression_mode"]
    if version >= 5:
        required.append("files")
    if distro == "jazzy" and version >= 8:
        required.append("ros_distro")
    problems += [f"missing {k}" for k in required if k not in info]
    if "duration" in info and "nanoseconds" not in (info["duration"] or {}):
        problems.append("duration lacks nanoseconds")
    if "starting_time" in info and "nanoseconds_since_epoch" not in (info["starting_time"] or {}):
        problems.append("starting_time lacks nanoseconds_since_epoch")
    custom = info.get("custom_data")
    if version >= 6 and custom is not None and not (
            isinstance(custom, dict) and all(isinstance(v, str) for v in custom.values())):
        problems.append("custom_data must be a map of strings")
    for i, t in enumerate(info.get("topics_with_message_count") or []):
        meta = t.get("topic_metadata") or {}
        where = f"topic {meta.get('name', i)}"
        problems += [f"{where}: missing {k}" for k in ("name", "type", "serialization_format") if k not in meta]
        if "message_count" not in t:
            problems.append(f"{where}: missing message_count")
        if version >= 4:
            problems += _qos_problems(meta.get("offered_qos_profiles", ""), where, distro, version)
        if distro == "jazzy" and version >= 7 and "type_description_hash" not in meta:
            problems.append(f"{where}: missing type_description_hash (v7+)")
    for f in info.get("files") or []:
        if not {"path", "starting_time", "duration", "message_count"} <= set(f):
            problems.append(f"files entry {f.get('path', '?')} incomplete")
    return problems
