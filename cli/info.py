"""``dexsafe info``: what this installation is made of, for bug reports."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import platform
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def run(args: argparse.Namespace) -> int:
    from dexsafe.core.paths import share_dir

    print(f"python       {sys.version.split()[0]} ({sys.executable})")
    print(f"platform     {platform.platform()}")
    print(f"share dir    {share_dir()}")
    for dist in ("ros-rclpy", "numpy", "torch", "mujoco", "rosbags"):
        print(f"{dist:<12} {_version(dist)}")
    for var in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "RMW_IMPLEMENTATION", "MUJOCO_GL"):
        print(f"{var:<30} {os.environ.get(var, '(unset)')}")
    try:
        import dexsafe.msg  # noqa: F401  generated interfaces

        print("interfaces   dexsafe.msg / dexsafe.srv / dexsafe.action importable")
    except ImportError as exc:
        print(f"interfaces   NOT importable: {exc}")
    return 0
