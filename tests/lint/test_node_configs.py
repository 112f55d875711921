"""Every node's parameters are declared in code (PARAMS) and set in config/<node>.yaml,
with the same names and types."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from dexsafe.ros_nodes.registry import node_entries

pytestmark = pytest.mark.lint
CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", sorted(node_entries()))
def test_node_config_matches_declared_parameters(name):
    module = importlib.import_module(node_entries()[name].entry_point.split(":")[0])
    specs = {p.name: p for p in module.PARAMS}
    path = CONFIG / f"{name}.yaml"
    assert path.is_file(), f"node {name} has no {path}"
    data = yaml.safe_load(path.read_text())
    params = data[name]["ros__parameters"]
    assert set(params) == set(specs), f"{path}: keys differ from {module.__name__}.PARAMS"
    for key, value in params.items():
        default = specs[key].default
        assert type(value) is type(default), f"{path}: {key} is {type(value).__name__}, declared {type(default)}"
        assert specs[key].description, f"{module.__name__}: {key} has no description"


@pytest.mark.parametrize("path", sorted((CONFIG / "hardware").glob("*.yaml")), ids=lambda p: p.name)
def test_hardware_configs_set_every_adapter_parameter(path):
    from dexsafe.core.joint_mapping import JointMapping
    from dexsafe.ros_nodes.hardware_adapter_node import PARAMS

    params = yaml.safe_load(path.read_text())["hardware_adapter"]["ros__parameters"]
    assert set(params) == {p.name for p in PARAMS}
    JointMapping.create(params["hand_joints"], params["driver_joints"], params["scale"], params["offset"])
