"""``dexsafe/GraspExecute-v0``: the residual grasp task through the safety shield."""

from __future__ import annotations

import numpy as np
import pytest

from dexsafe.sim.envs.grasp_execute import GraspExecuteEnv, perturbed_fraction


@pytest.fixture(scope="module")
def env():
    e = GraspExecuteEnv()
    yield e
    e.close()


def test_an_episode_runs_the_scripted_grasp_and_lift(env):
    finished, succeeded = env.finished, env.succeeded
    obs, info = env.reset(seed=3, options={"pair": ("tall_box", "small_box"), "perturb": False})
    assert obs.shape == env.observation_space.shape and obs.dtype == np.float32
    assert info["pair"] == "tall_box:small_box" and not info["perturbed"]
    assert env.disturbance() < 0.05, "the objects stand where they were placed when the policy takes over"
    assert env.action_space.shape == (10,)  # 6 wrist + 4 finger synergies of the dexsafe hand
    rewards, done, steps = [], False, 0
    while not done:
        obs, reward, cost, terminated, truncated, info = env.step(np.zeros(10))
        rewards.append(reward)
        steps += 1
        done = terminated or truncated
        assert np.isfinite(obs).all() and cost >= 0
    assert terminated and info["phase"] == "done" and 25 <= steps <= env.max_episode_steps
    assert (env.finished, env.succeeded) == (finished + 1, succeeded + int(info["is_success"]))
    assert info["rise"].shape == (2,)
    if info["is_success"]:
        assert rewards[-1] > 10 and np.all(info["rise"] >= env.success_height)


def test_bad_actions_and_options_are_refused(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match="finite"):
        env.step(np.full(10, np.nan))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="kind"):
        env.reset(seed=0, options={"pair": ("tall_box", "teapot")})


def test_the_curriculum_goes_from_clean_to_mostly_perturbed():
    assert [perturbed_fraction(p) for p in (0.0, 0.3, 0.5, 0.9, 2.0)] == [0.0, 0.0, 0.5, 0.8, 0.8]


def test_registered():
    from dexsafe.sim.envs import make

    e = make("dexsafe/GraspExecute-v0", pairs="thin_can:fat_can")
    try:
        _, info = e.reset(seed=1)
        assert info["pair"] == "thin_can:fat_can"
    finally:
        e.close()
