"""The launch files and `dexsafe launch` describe the same graph: same nodes, config
files, parameter overrides and remappings; `dexsafe launch` really starts it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest

from dexsafe.ros_nodes.graph import ARGUMENTS, graph, resolve_arguments
from dexsafe.ros_nodes.launcher import node_command
from dexsafe.ros_nodes.registry import node_entries

ROOT = Path(__file__).resolve().parents[1]


class _Recorder:
    """Stand-ins for launch/launch_ros classes (no ROS distro here) that record their arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _Config(_Recorder):
    values: dict = {}

    def perform(self, context):
        return self.values[self.args[0]]


def _fake_launch_modules(values):
    launch = types.ModuleType("launch")
    launch.LaunchDescription = _Recorder
    actions = types.ModuleType("launch.actions")
    actions.DeclareLaunchArgument = _Recorder
    actions.OpaqueFunction = _Recorder
    subs = types.ModuleType("launch.substitutions")
    _Config.values = values
    subs.LaunchConfiguration = _Config
    launch_ros = types.ModuleType("launch_ros")
    ros_actions = types.ModuleType("launch_ros.actions")
    ros_actions.Node = _Recorder
    return {"launch": launch, "launch.actions": actions, "launch.substitutions": subs,
            "launch_ros": launch_ros, "launch_ros.actions": ros_actions}


@pytest.mark.parametrize("kind", ["sim", "real", "replay"])
@pytest.mark.parametrize("given", [{}, {"scene": "three_objects", "hardware": "fake",
                                        "hardware_config": "hardware/leap.yaml", "planner_backend": "openai"}])
def test_launch_file_matches_graph(kind, given, monkeypatch):
    values = resolve_arguments(given)
    for name, module in _fake_launch_modules(values).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(f"{kind}_launch", ROOT / "launch" / f"{kind}.launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    entries = ld.args[0]
    declared = [e.args[0] for e in entries if e.kwargs.get("description")]
    assert declared == list(ARGUMENTS), "every argument declared, with a description"
    nodes = entries[-1].kwargs["function"](None)
    expected = graph(kind, given)
    assert [n.kwargs["executable"] for n in nodes] == [s.name for s in expected]
    for node, spec_ in zip(nodes, expected):
        assert node.kwargs["package"] == "dexsafe" and node.kwargs["name"] == spec_.name
        assert node.kwargs["parameters"] == [spec_.config_file, spec_.parameters]
        assert node.kwargs["remappings"] == list(spec_.remappings)
        assert Path(spec_.config_file).is_file()
        cmd = node_command(spec_)  # what `dexsafe launch` runs: the same config, overrides, remappings
        assert cmd[cmd.index("--params-file") + 1] == spec_.config_file
        assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "-p"] == [f"{k}:={v}" for k, v in
                                                                       spec_.parameters.items()]
        assert spec_.name in node_entries()


def test_real_graph_goes_through_the_hardware_adapter():
    real = {s.name: s for s in graph("real", {"hardware": "fake"})}
    assert "fake_hand_driver" in real
    assert real["safety_shield"].remappings == (("/hand_controller/commands", "/dexsafe/hand_commands"),)
    # With fake hardware a sim is the physical world behind the fake driver: it never takes dexsafe's
    # command topics or publishes /joint_states itself.
    sim_topics = dict(real["sim"].remappings)
    assert sim_topics["/hand_controller/commands"].startswith("/fake_hardware/")
    assert sim_topics["/joint_states"].startswith("/fake_hardware/")
    assert sim_topics["/hand_controller/joint_trajectory"].startswith("/fake_hardware/")
    assert real["fake_hand_driver"].parameters["plant"] == "sim"
    robot = {s.name for s in graph("real")}
    assert "fake_hand_driver" not in robot and "sim" not in robot


def test_bad_launch_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="unknown launch argument"):
        graph("sim", {"scenee": "x"})
    with pytest.raises(ValueError, match="planner_backend"):
        graph("sim", {"planner_backend": "gpt"})


@pytest.mark.ros
@pytest.mark.slow
def test_dexsafe_launch_starts_the_sim_graph():
    proc = subprocess.run([str(Path(sys.prefix) / "bin" / "dexsafe"), "launch", "sim", "--duration", "12",
                           "real_time_factor:=1.0"], capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    for name in ("sim", "safety_shield", "grasp_executor", "planner", "aligner"):
        assert f"[launch] started {name}" in out
    assert "[sim]" in out and "shielding 22 joints" in out
