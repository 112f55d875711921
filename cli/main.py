"""``dexsafe`` entry point.

Each subcommand is a module ``dexsafe.cli.<name>`` with two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...        # exit status

and a line in ``SUBCOMMANDS`` below. Modules are imported only when their
subcommand runs, so ``dexsafe --help`` stays fast and a subcommand's heavy
dependencies (torch, MuJoCo, rclpy) load only for it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# DDS discovery stays on this host unless the user widened it explicitly (on a
# robot network: export ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET). Set before any
# subcommand imports rclpy.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

# name -> (module, one-line help). Later issues add: grasp, train, sweep, plan,
# launch, eval-bag, dataset, record.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("dexsafe.cli.demo", "run the node graph in simulation and report what happened"),
    "bench": ("dexsafe.cli.bench", "run benchmarks and print/write the results table"),
    "node": ("dexsafe.cli.node", "run one dexsafe node by name (like `ros2 run dexsafe NAME`)"),
    "info": ("dexsafe.cli.info", "print versions, paths and the ROS environment in use"),
    "render": ("dexsafe.cli.render", "render a scene headless to a PNG"),
    "plan": ("dexsafe.cli.plan", "plan an instruction against a scene and print the plan"),
    "train": ("dexsafe.cli.train", "train a (constrained) policy on a task"),
    "sweep": ("dexsafe.cli.sweep", "train algorithms x envs x seeds in parallel (or on Ray) into one table"),
    "record": ("dexsafe.cli.record", "record the running stack's topics to a rosbag2 bag (MCAP by default)"),
    "eval-bag": ("dexsafe.cli.eval_bag", "replay a recorded bag open or closed loop and judge it"),
    "dataset": ("dexsafe.cli.dataset", "offline-RL datasets (dataset from-bag: recorded runs -> D4RL .npz)"),
    "offline": ("dexsafe.cli.offline", "offline pretraining and SO2/baseline finetuning: pretrain, finetune, compare"),
    "so2-dataset": ("dexsafe.cli.so2_dataset", "build an offline dataset from sim rollouts (random/medium/expert/...)"),
    "grasp": ("dexsafe.cli.grasp", "propose multi-object grasps (MultiGrasp stage 1) and render them"),
    "launch": ("dexsafe.cli.launch", "start the sim, real or replay node graph (like ros2 launch)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dexsafe", description="dexsafe: safe, instruction-following dexterous manipulation"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
        # Arguments are added lazily in main() for the chosen subcommand only.
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    if name not in SUBCOMMANDS:
        parser.error(f"unknown command {name!r}; choose from {', '.join(SUBCOMMANDS)}")
    module_name, help_text = SUBCOMMANDS[name]
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"dexsafe {name}", description=help_text)
    module.add_arguments(sub)
    parse = sub.parse_intermixed_args if getattr(module, "INTERMIXED_ARGS", False) else sub.parse_args
    args = parse(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
