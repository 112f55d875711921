"""pip install of the dexsafe libraries without ROS.

``pip install .`` installs ``dexsafe.core``, ``dexsafe.sim``, ``dexsafe.grasping``,
``dexsafe.policies``, ``dexsafe.planning``, ``dexsafe.evaluation`` and the CLI,
with the data files (config/, urdf/) under ``share/dexsafe`` in the prefix.
The ROS nodes and generated interfaces need the colcon build (see README).
"""

from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
LIBS = ["core", "sim", "grasping", "policies", "planning", "evaluation", "cli"]


def packages() -> list[str]:
    found = []
    for lib in LIBS:
        for init in sorted((ROOT / lib).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT)
            found.append("dexsafe." + ".".join(rel.parts))
    return found


def data_files() -> list[tuple[str, list[str]]]:
    out = []
    for top in ("config", "urdf"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file():
                rel = path.relative_to(ROOT)
                out.append((str(Path("share/dexsafe") / rel.parent), [str(rel)]))
    return out


def requirements() -> list[str]:
    reqs = []
    for path in sorted((ROOT / "requirements").glob("*.txt")):
        if path.name != "ros.txt":  # the ROS wheels come with the colcon build, not the libraries
            for line in path.read_text().splitlines():
                line = line.split("#")[0].strip()
                if line and not line.startswith(("pytest", "ruff")):
                    reqs.append(line)
    return reqs


setup(
    name="dexsafe",
    version="0.1.0",
    description="Safe, instruction-following dexterous manipulation (libraries, no ROS)",
    license="Apache-2.0",
    python_requires=">=3.11",
    package_dir={"dexsafe": "."},
    packages=packages(),
    package_data={"": ["*.txt", "*.yaml", "*.json", "*.pt"]},
    data_files=data_files(),
    install_requires=requirements(),
    entry_points={"console_scripts": ["dexsafe = dexsafe.cli.main:main"]},
)
