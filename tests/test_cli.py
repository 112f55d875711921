"""The installed `dexsafe` command works without sourcing anything."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEXSAFE = Path(sys.prefix) / "bin" / "dexsafe"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(DEXSAFE), *args], capture_output=True, text=True, timeout=120)


def test_help_lists_subcommands():
    proc = _run("--help")
    assert proc.returncode == 0, proc.stderr
    for name in ("demo", "bench", "node", "info"):
        assert name in proc.stdout


def test_info_sees_generated_interfaces():
    proc = _run("info")
    assert proc.returncode == 0, proc.stderr
    assert "dexsafe.msg / dexsafe.srv / dexsafe.action importable" in proc.stdout


def test_unknown_subcommand_is_a_clear_error():
    proc = _run("frobnicate")
    assert proc.returncode == 2
    assert "unknown command 'frobnicate'" in proc.stderr


def test_every_node_has_a_ros2_run_launcher():
    from dexsafe.ros_nodes.registry import node_entries

    lib = Path(sys.prefix) / "lib" / "dexsafe"
    for name in node_entries():
        exe = lib / name
        assert exe.is_file(), f"`ros2 run dexsafe {name}` needs {exe} (rebuild: make build)"
        assert exe.stat().st_mode & 0o111
