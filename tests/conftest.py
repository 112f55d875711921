"""Shared pytest set-up.

Before anything imports rclpy: DDS discovery stays on loopback and the run
gets its own ROS_DOMAIN_ID (the Makefile picks one per make invocation; a
bare `pytest` picks one from the process id). Rendering is headless.
"""

from __future__ import annotations

import os

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(os.getpid() % 100 + 1))
os.environ.setdefault("MUJOCO_GL", "osmesa")
os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")

import pytest  # noqa: E402


@pytest.fixture
def ros():
    """A ``RosHarness``: own rclpy context, executor thread; nodes torn down after the test."""
    from dexsafe.ros_nodes.testing import RosHarness

    harness = RosHarness()
    try:
        yield harness
    finally:
        harness.close()


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread for the test (small networks; two cores shared with DDS and MuJoCo)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
