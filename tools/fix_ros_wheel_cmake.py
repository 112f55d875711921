"""Point the ROS 2 wheels' exported CMake files at this interpreter.

The Kilted wheels were built in a manylinux container; their exported CMake
targets name that machine's Python include dir and numpy include dir
(``/opt/python/cp311-cp311/...``). Building an interface package against them
fails until those two paths name this venv's interpreter and numpy. Idempotent.

Usage: python tools/fix_ros_wheel_cmake.py [PREFIX]   (default: sys.prefix)
"""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import numpy

_BUILD_PY_INCLUDE = re.compile(r"/opt/python/cp3\d+-cp3\d+/include/python3\.\d+")
_BUILD_NUMPY_INCLUDE = re.compile(
    r"/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_)?core/include"
)


def rewrite(text: str, py_include: str, numpy_include: str) -> str:
    """Return ``text`` with the build machine's include dirs replaced."""
    text = _BUILD_NUMPY_INCLUDE.sub(numpy_include, text)
    return _BUILD_PY_INCLUDE.sub(py_include, text)


def main(argv: list[str]) -> int:
    prefix = Path(argv[1]) if len(argv) > 1 else Path(sys.prefix)
    py_include = sysconfig.get_paths()["include"]
    numpy_include = numpy.get_include()
    changed = 0
    for path in sorted((prefix / "share").glob("*/cmake/*.cmake")):
        text = path.read_text()
        if "/opt/python/" not in text:
            continue
        new = rewrite(text, py_include, numpy_include)
        if new != text:
            path.write_text(new)
            changed += 1
    print(f"fix_ros_wheel_cmake: {changed} file(s) now use {py_include} and {numpy_include}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
