"""The node graphs dexsafe starts: which nodes, which config files, which overrides
and remappings, for ``sim``, ``real`` and ``replay``.

One description, two starters: ``launch/*.launch.py`` turns it into launch_ros
``Node`` actions for ``ros2 launch dexsafe sim.launch.py`` on a ROS distro, and
``dexsafe launch sim`` (``dexsafe.ros_nodes.launcher``) starts the same nodes as
processes without one. Pure Python: importable without rclpy or launch.

Launch arguments (``name:=value``), each with a default and a description:
see ``ARGUMENTS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dexsafe.core.paths import config_path


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


ARGUMENTS: dict[str, Argument] = {a.name: a for a in (
    Argument("hand", "", "hand description (config/hands name or path); empty = the scene's hand"),
    Argument("scene", "two_blocks", "scene (config/scenes name or path) for sim, shield and executor"),
    Argument("planning_scene", "two_blocks", "scene the planner and aligner ground instructions in"),
    Argument("planner_backend", "rule", "planner backend", ("rule", "openai")),
    Argument("real_time_factor", "1.0", "sim only: sim seconds per wall second (0 = as fast as possible)"),
    Argument("hardware", "real", "real graph only: the hand's driver, or a fake driver for tests", ("real", "fake")),
    Argument("hardware_config", "hardware_adapter.yaml",
             "real graph only: hardware_adapter config under config/ (e.g. hardware/leap.yaml)"),
    Argument("record", "false", "record the run to an MCAP bag (needs the recorder node)", ("true", "false")),
)}


@dataclass(frozen=True)
class NodeSpec:
    """One node to start: registry name, its config file, overrides, remappings."""

    name: str
    config: str
    parameters: dict[str, object] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()

    @property
    def config_file(self) -> str:
        return str(config_path(self.config))

    def ros_arguments(self) -> list[str]:
        """``--ros-args --params-file CFG -p k:=v -r from:=to``: what ``ros2 launch`` passes this node."""
        args = ["--ros-args", "--params-file", self.config_file]
        for key, value in self.parameters.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            args += ["-p", f"{key}:={text}"]
        for src, dst in self.remappings:
            args += ["-r", f"{src}:={dst}"]
        return args


def resolve_arguments(given: dict[str, str] | None = None) -> dict[str, str]:
    """Defaults overridden by ``given``; raises ``ValueError`` on unknown names or bad choices."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(ARGUMENTS))
    if unknown:
        raise ValueError(f"unknown launch argument(s) {unknown}; known: {sorted(ARGUMENTS)}")
    out = {name: given.get(name, a.default) for name, a in ARGUMENTS.items()}
    for name, value in out.items():
        choices = ARGUMENTS[name].choices
        if choices and value not in choices:
            raise ValueError(f"{name}:={value} is not one of {choices}")
    return out


HAND_COMMANDS = "/hand_controller/commands"
ADAPTER_INPUT = "/dexsafe/hand_commands"
FAKE_HARDWARE_REMAPPINGS = ((HAND_COMMANDS, "/fake_hardware/commands"),
                            ("/hand_controller/joint_trajectory", "/fake_hardware/joint_trajectory"),
                            ("/joint_states", "/fake_hardware/joint_states"))
"""The sim behind the fake driver: commanded only by the fake driver, its joint states read only by it."""


def _common(args: dict[str, str], real: bool = False) -> list[NodeSpec]:
    hand = {"hand": args["hand"]} if args["hand"] else {}
    # On a robot the shield's output goes to the hardware adapter, which speaks the driver's names and units.
    shield_remap = ((HAND_COMMANDS, ADAPTER_INPUT),) if real else ()
    nodes = [
        NodeSpec("safety_shield", "safety_shield.yaml", {"scene": args["scene"], **hand}, shield_remap),
        NodeSpec("grasp_proposer", "grasp_proposer.yaml", {"scene": args["scene"], **hand}),
        NodeSpec("grasp_executor", "grasp_executor.yaml", {"scene": args["scene"], **hand}),
        NodeSpec("planner", "planner.yaml", {"scene": args["planning_scene"], "backend": args["planner_backend"]}),
        NodeSpec("aligner", "aligner.yaml", {"scene": args["planning_scene"]}),
        NodeSpec("mission", "mission.yaml", {"scene": args["scene"]}),
    ]
    return nodes


def graph(kind: str, given: dict[str, str] | None = None) -> list[NodeSpec]:
    """The nodes of the ``sim``, ``real`` or ``replay`` graph for these launch arguments."""
    args = resolve_arguments(given)
    hand = {"hand": args["hand"]} if args["hand"] else {}
    if kind == "sim":
        sim = NodeSpec("sim", "sim.yaml", {"scene": args["scene"], "real_time_factor": float(args["real_time_factor"]),
                                           **hand})
        nodes = [sim, *_common(args)]
        if args["record"] == "true":
            nodes.append(NodeSpec("recorder", "recorder.yaml"))
        return nodes
    if kind == "real":
        # No sim: shield -> hardware_adapter -> the driver; the adapter publishes /joint_states.
        nodes = [*_common(args, real=True), NodeSpec("hardware_adapter", args["hardware_config"], {**hand})]
        if args["hardware"] == "fake":
            # The fake driver answers on the driver's (and arm's) topics of the same hardware config; behind it
            # the sim node is the physical hand, arm and objects, on topics nothing else in the graph uses.
            # Its object poses and contacts stand in for the lab's pose tracker and tactile sensors.
            nodes.append(NodeSpec("fake_hand_driver", "fake_hand_driver.yaml",
                                  {"hardware_config": args["hardware_config"], "plant": "sim"}))
            nodes.append(NodeSpec("sim", "sim.yaml", {"scene": args["scene"], **hand}, FAKE_HARDWARE_REMAPPINGS))
        if args["record"] == "true":
            nodes.append(NodeSpec("recorder", "recorder.yaml", {"sim_node": ""}))
        return nodes
    if kind == "replay":
        # Replay evaluation re-runs the deciding nodes against recorded inputs: no sim, no executor.
        return [n for n in _common(args) if n.name in ("safety_shield", "planner", "aligner")]
    raise ValueError(f"unknown graph {kind!r}; choose sim, real or replay")


def launch_description(kind: str):
    """A ``launch.LaunchDescription`` for ``ros2 launch`` (needs a ROS distro's launch and launch_ros).

    Declares every argument in ``ARGUMENTS`` and, once they are known, one
    ``launch_ros`` ``Node`` per ``NodeSpec``: executable and name from the
    registry, parameters = [config file, overrides], remappings.
    """
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    from launch import LaunchDescription

    def nodes(context):
        given = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
        return [Node(package="dexsafe", executable=spec.name, name=spec.name, output="screen",
                     parameters=[spec.config_file, dict(spec.parameters)], remappings=list(spec.remappings))
                for spec in graph(kind, given)]

    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                      **({"choices": list(a.choices)} if a.choices else {}))
                for a in ARGUMENTS.values()]
    return LaunchDescription([*declared, OpaqueFunction(function=nodes)])
