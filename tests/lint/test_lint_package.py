"""Static checks run as tests: ruff, package.xml, interface definitions, node list."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lint
ROOT = Path(__file__).resolve().parents[2]


def test_ruff_clean():
    proc = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_package_xml_is_valid_format3():
    from catkin_pkg.package import parse_package

    pkg = parse_package(str(ROOT / "package.xml"))  # raises InvalidPackage on schema errors
    assert pkg.name == "dexsafe" and pkg.package_format == 3
    assert pkg.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [g.name for g in pkg.member_of_groups]
    declared = {d.name for d in pkg.build_depends + pkg.buildtool_depends}
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for found in re.findall(r"find_package\((\w+) REQUIRED", cmake):
        if found != "Python3":
            assert found in declared, f"CMakeLists finds {found} but package.xml does not declare it"


def test_interface_files_parse():
    from rosidl_adapter.parser import parse_action_string, parse_message_string, parse_service_string

    files = sorted((ROOT / "msg").glob("*.msg")) + sorted((ROOT / "srv").glob("*.srv")) + \
        sorted((ROOT / "action").glob("*.action"))
    assert files
    for path in files:
        text = path.read_text()
        if path.suffix == ".msg":
            parse_message_string("dexsafe", path.stem, text)
        elif path.suffix == ".srv":
            parse_service_string("dexsafe", path.stem, text)
        else:
            parse_action_string("dexsafe", path.stem, text)


def test_every_listed_node_imports():
    import importlib

    from dexsafe.ros_nodes.registry import node_entries

    for name, entry in node_entries().items():
        module, func = entry.entry_point.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name
