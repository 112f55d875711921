"""What every dexsafe node shares: typed parameter declaration and ``main()``.

Nodes stay thin: ``declare_parameters`` turns a list of ``ParamSpec`` into
declared, described, typed ROS parameters and returns their values;
``spin_node`` is the module-level ``main()`` body (ros2/demos style) that
shuts down cleanly on Ctrl-C and external shutdown.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: name, default (its type is the parameter's type), description,
    and an optional numeric range (inclusive)."""

    name: str
    default: Any
    description: str
    range: tuple[float, float] | None = None
    read_only: bool = False


def _descriptor(spec: ParamSpec) -> ParameterDescriptor:
    desc = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
    if spec.range is not None:
        lo, hi = spec.range
        if isinstance(spec.default, bool):
            pass
        elif isinstance(spec.default, int):
            desc.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
        elif isinstance(spec.default, float):
            desc.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    return desc


def own_group() -> MutuallyExclusiveCallbackGroup:
    """A callback group for one input stream or timer alone.

    Callbacks of one topic still run one at a time and in order, but a busy topic cannot
    starve another: rclpy's multi-threaded executor offers a shared mutually exclusive
    group's ready entities in creation order, so under load the later subscriptions of a
    node's default group stop running (seen: the hardware adapter's arm states went unread
    for 27 s while commands and hand states kept arriving, and it stopped the arm)."""
    return MutuallyExclusiveCallbackGroup()


def declare_parameters(node: Node, specs: Sequence[ParamSpec]) -> dict[str, Any]:
    """Declare every spec on ``node``; return ``{name: value}`` after overrides."""
    values = {}
    for spec in specs:
        param = node.declare_parameter(spec.name, spec.default, _descriptor(spec))
        values[spec.name] = param.value
    return values


GIL_SWITCH_INTERVAL = 0.0005  # s; CPython's default is 0.005


def share_the_gil() -> None:
    """Shorten the interpreter's GIL switch interval to ``GIL_SWITCH_INTERVAL`` (never lengthen it).

    Why: a multi-threaded executor runs callbacks on Python threads. A busy one (the sim stepping
    MuJoCo) keeps the GIL for the whole 5 ms default interval each time another thread asks for it,
    so a callback made of many small torch calls waits about 5 ms per call. Measured in
    ``tests/nodes/test_node_so2_controller.py`` (sim + shield + SO2 learner in one process, 2 cores): one
    EDAC update took 1-2 s and the controller ticked 7-14 times in 30 s (the test failed 4 of 6 runs);
    at 0.5 ms the test passes in 4 s."""
    sys.setswitchinterval(min(sys.getswitchinterval(), GIL_SWITCH_INTERVAL))


def spin_node(make_node: Callable[[], Node], argv: Sequence[str] | None = None, threads: int = 4) -> int:
    """Init rclpy with ``argv`` (ROS args included), build the node, spin it on a
    multi-threaded executor until Ctrl-C or shutdown; return an exit status."""
    share_the_gil()
    rclpy.init(args=list(argv) if argv is not None else sys.argv)
    node = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
