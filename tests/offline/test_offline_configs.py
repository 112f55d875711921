"""config/so2/*.yaml: every key is known to the code and carries a comment."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dexsafe.policies.offline import METHODS, agent_config, finetune_agent_config, online_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "config" / "so2").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_keys_are_valid_and_commented(path):
    cfg = yaml.safe_load(path.read_text())
    assert set(cfg) <= {"env_id", "env_kwargs", "seeds", "methods_to_run", "dataset", "pretrain", "agents", "online",
                        "methods"}
    assert len(cfg["seeds"]) >= 1 and set(cfg["methods_to_run"]) <= set(METHODS)
    for base, over in cfg["agents"].items():
        agent_config(base, over)
    for method in cfg["methods_to_run"]:
        layer = cfg["methods"].get(method) or {}
        online = online_config(method, cfg["online"], layer.get("online", {}))
        agent = dict(layer.get("agent", {}))
        if agent.get("alpha") == "pretrained":
            agent["alpha"] = 0.1
        finetune_agent_config(method, agent_config(METHODS[method].base, cfg["agents"].get(METHODS[method].base)),
                              online, agent)
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if ":" in line.split("#")[0] and not line.lstrip().startswith("#"):
            assert "#" in line, f"{path.name}:{n}: key without a comment: {line!r}"
