"""`dexsafe dataset from-bag`: recorded runs -> the D4RL layout of dexsafe.policies.datasets."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from dexsafe.evaluation.dataset import KEYS, dataset_from_bags
from dexsafe.evaluation.sim_loop import record_scripted_run


@pytest.fixture(scope="module")
def bags(tmp_path_factory):
    root = tmp_path_factory.mktemp("dataset")
    record_scripted_run(root / "full")
    record_scripted_run(root / "partial", duration=3.0)  # stops before the lift: not solved
    return root / "full", root / "partial"


def test_from_bag_writes_the_d4rl_keys(bags, tmp_path):
    full, partial = bags
    layout = dataset_from_bags([full, partial], tmp_path / "data.npz")
    with np.load(tmp_path / "data.npz") as data:
        assert set(KEYS) <= set(data.files) and set(data.files) <= set(KEYS) | {"metadata"}
        n = len(data["actions"])
        assert n == layout["transitions"] == 385 + 150  # one transition per 50 Hz policy command
        assert data["observations"].shape == (n, 22 + 2 * 3) and data["actions"].shape == (n, 22)
        assert data["observations"].dtype == np.float32 and data["terminals"].dtype == bool
        # Episode ends: the full run lifted both blocks (terminal), the partial one timed out.
        assert np.flatnonzero(data["terminals"]).tolist() == [384]
        assert np.flatnonzero(data["timeouts"]).tolist() == [n - 1]
        assert data["rewards"][:385].sum() > 0.1  # blocks rose > 10 cm on average
        assert 0 < data["costs"].sum() < n  # the shield intervened on some steps
    assert [e["solved"] for e in layout["episodes"]] == [True, False]


def test_loads_with_the_offline_rl_loader(bags, tmp_path):
    datasets = pytest.importorskip("dexsafe.policies.datasets")
    dataset_from_bags([bags[0]], tmp_path / "d.npz")
    ds = datasets.load_dataset(tmp_path / "d.npz")
    assert len(ds) == 385 and ds.summary()["terminals"] == 1
    low, high = ds.action_bounds()
    assert np.all(ds.actions >= low - 1e-6) and np.all(ds.actions <= high + 1e-6)


def test_cli(bags, tmp_path, capsys):
    from dexsafe.cli import dataset

    parser = argparse.ArgumentParser()
    dataset.add_arguments(parser)
    assert dataset.run(parser.parse_args(["from-bag", str(bags[0]), "-o", str(tmp_path / "x.npz")])) == 0
    assert "385 transitions from 1 episode(s), 1 solved" in capsys.readouterr().out
    assert dataset.run(parser.parse_args(["from-bag", str(tmp_path / "nope"), "-o", str(tmp_path / "y.npz")])) == 2
    assert "no such bag" in capsys.readouterr().err
