"""The offline dataset format: D4RL keys, npz/HDF5 round trips, validation, qualities from rollouts."""

from __future__ import annotations

import numpy as np
import pytest

from dexsafe.policies.datasets import (
    DatasetError,
    OfflineDataset,
    build_dataset,
    collect,
    concatenate,
    load_dataset,
)
from dexsafe.policies.toy_envs import PointGoalHazard2D, RandomCMDP


def _tiny(n=6, with_next=False):
    obs = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    return OfflineDataset(obs, np.zeros((n, 1)), np.ones(n), np.zeros(n), [0, 0, 1, 0, 0, 0], [0] * (n - 1) + [1],
                          obs + 100 if with_next else None, {"env_id": "toy", "action_low": [-1], "action_high": [1]})


@pytest.mark.parametrize("suffix", [".npz", ".hdf5"])
def test_round_trip_keeps_every_key_and_metadata(tmp_path, suffix):
    if suffix == ".hdf5":
        pytest.importorskip("h5py")
    env = RandomCMDP()
    ds = collect(env, None, 50, seed=3, metadata={"quality": "random"})
    back = load_dataset(ds.save(tmp_path / f"d{suffix}"))
    for key, arr in ds.as_dict().items():
        np.testing.assert_array_equal(getattr(back, key), arr, err_msg=key)
    assert back.metadata["quality"] == "random" and back.metadata["action_low"] == [-2.0, -2.0]
    assert back.terminals.dtype == bool and back.timeouts[-1] | back.terminals[-1]


def test_missing_next_observations_follow_d4rl_rule():
    ds = _tiny().with_next_observations()
    # rows 0,1,2 (terminal at 2 keeps it), 3,4 have successors; row 5 is a timeout: dropped
    assert len(ds) == 5
    np.testing.assert_array_equal(ds.next_observations[0], [2, 3])
    assert ds.terminals[2]


def test_validation_names_the_bad_key(tmp_path):
    with pytest.raises(DatasetError, match="rewards has 3 rows"):
        OfflineDataset(np.zeros((4, 2)), np.zeros((4, 1)), np.zeros(3), np.zeros(4), np.zeros(4), np.zeros(4))
    with pytest.raises(DatasetError, match="actions contains NaN"):
        OfflineDataset(np.zeros((2, 2)), [[np.nan], [0]], np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2))
    np.savez(tmp_path / "bad.npz", observations=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="lacks the keys"):
        load_dataset(tmp_path / "bad.npz")
    with pytest.raises(DatasetError, match="unknown dataset suffix"):
        _tiny().save(tmp_path / "x.csv")


def test_qualities_from_rollouts():
    env = PointGoalHazard2D()
    go = lambda o: np.clip(o[2:4] * 5, -1, 1)  # noqa: E731 - a near-expert driver
    rand = build_dataset(env, "random", 200, seed=0)
    med = build_dataset(env, "medium", 200, policy=go, noise=0.5, seed=0)
    exp = build_dataset(env, "expert", 200, policy=go, seed=0)
    mix = build_dataset(env, "mixed", 200, policy=go, seed=0)
    me = build_dataset(env, "medium-expert", 200, policy=go, seed=0)
    assert len(rand) == len(med) == len(exp) == len(mix) == len(me) == 200
    assert rand.episode_returns().mean() < med.episode_returns().mean() <= exp.episode_returns().mean() + 1e-6
    assert me.metadata["quality"] == "medium-expert"
    with pytest.raises(DatasetError, match="needs a behaviour policy"):
        build_dataset(env, "medium", 10)
    with pytest.raises(DatasetError, match="unknown dataset quality"):
        build_dataset(env, "great", 10, policy=go)


def test_concatenate_needs_episode_boundaries():
    a = _tiny(with_next=True)
    both = concatenate([a, a])
    assert len(both) == 12
    b = OfflineDataset(a.observations, a.actions, a.rewards, a.costs, a.terminals, np.zeros(6), a.next_observations)
    b.terminals[-1] = False
    with pytest.raises(DatasetError, match="does not end an episode"):
        concatenate([b, a])
