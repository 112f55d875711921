"""Gymnasium tasks: API checks, each cost channel quiet and provoked, pre-grasp, vector form."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dexsafe.sim.envs as envs
from dexsafe.sim.costs import CHANNELS


@pytest.fixture(scope="module")
def grasp_env():
    env = gym.make("dexsafe/GraspLift-v0").unwrapped
    yield env
    env.close()


@pytest.mark.parametrize("env_id", sorted(envs.GYMNASIUM_TWINS))
def test_sim_gymnasium_env_checker_passes(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box observations; "wrapped env" notice
        check_env(env, skip_render_check=True)  # the 5-tuple view (unwrapped is the 6-tuple task)
    obs, info = env.reset(seed=0)
    obs, r, term, trunc, info = env.step(env.action_space.sample())
    assert set(info["costs"]) == set(CHANNELS) and info["cost"] == sum(info["costs"].values())
    env.close()


@pytest.mark.parametrize("hand", ["dexsafe_hand", "shadow_hand"])
@pytest.mark.parametrize("env_id", sorted(envs.SAFE_TASKS))
def test_sim_safety_step_api_and_quiet_rollout_costs_nothing(env_id, hand):
    if env_id == "dexsafe/GraspExecute-v0" and hand != "dexsafe_hand":
        with pytest.raises(ValueError, match="dexsafe hand only"):
            gym.make(env_id, hand=hand)
        return
    env = gym.make(env_id, hand=hand)
    obs, info = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    for _ in range(40):
        out = env.step(np.zeros(env.action_space.shape, np.float32))
        assert len(out) == 6
        obs, reward, cost, term, trunc, info = out
        assert cost == 0.0 and all(v == 0.0 for v in info["costs"].values()), info["costs"]
        assert np.isfinite(reward)
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.full(env.action_space.shape, np.nan))
    env.close()


def _rollout(env, steps, before_step=None):
    total = dict.fromkeys(CHANNELS, 0.0)
    for k in range(steps):
        if before_step:
            before_step(k)
        *_, info = env.step(np.zeros(env.action_space.shape, np.float32))
        for ch, v in info["costs"].items():
            total[ch] += v
    return total


def test_sim_cost_table_collision(grasp_env):
    env, b = grasp_env, grasp_env.backend
    env.reset(seed=0)
    q = b.targets
    q[0], q[1] = -0.3, 0.2
    b.set_joint_positions(q)
    env._targets = b.targets

    def down(k):
        env._targets[2] = max(env._targets[2] - 0.006, 0.47)

    c = _rollout(env, 60, down)
    assert c["table_collision"] > 0 and c["contact_force"] == 0 and c["object_dropped"] == 0


def test_sim_cost_contact_force(grasp_env):
    env, b = grasp_env, grasp_env.backend
    env.reset(seed=0)
    red = b.object_positions()[0]
    q = b.home_targets()
    q[b.joint_names.index("thumb_rotation_joint")] = 0.0  # thumb in the palm plane, out of the way
    b.set_joint_positions(q)
    palm_off = b.palm_position() - q[:3]
    q[:2] = red[:2] - palm_off[:2]
    q[2] = red[2] + 0.10
    b.set_joint_positions(q)
    env._targets = b.targets

    def press(k):
        env._targets[2] = max(env._targets[2] - 0.006, 0.46)

    c = _rollout(env, 40, press)
    assert c["contact_force"] > 0


def test_sim_cost_joint_limit(grasp_env):
    env, b = grasp_env, grasp_env.backend
    env.reset(seed=0)
    j = b.joint_names.index("index_knuckle_joint")

    def creep(k):  # slowly, so only the limit channel fires
        env._targets[j] = min(env._targets[j] + 0.05, b.ctrl_upper[j])

    c = _rollout(env, 30, creep)
    assert c["joint_limit"] > 0 and c["speed_limit"] == 0 and c["table_collision"] == 0


def test_sim_cost_speed_limit(grasp_env):
    env = grasp_env
    env.reset(seed=0)
    env._targets[1] += 0.15  # a 15 cm jump of the wrist target
    c = _rollout(env, 20)
    assert c["speed_limit"] > 0 and c["joint_limit"] == 0


def test_sim_cost_object_dropped(grasp_env):
    env, b = grasp_env, grasp_env.backend
    env.reset(seed=0)
    b.set_object_pose("red_block", [0.0, -0.22, 0.70])  # released in the air, away from the hand
    c = _rollout(env, 25)
    assert c["object_dropped"] > 0 and c["contact_force"] == 0 and c["table_collision"] == 0
    env.reset(seed=0)
    b.set_object_pose("red_block", [0.55, 0.0, 0.60])  # off the table's edge: falls to the floor
    *_, term, trunc, info = env.step(np.zeros(env.action_space.shape))
    c = _rollout(env, 40)
    assert c["object_dropped"] > 0


def test_sim_pregrasp_reset_option(grasp_env):
    env, b = grasp_env, grasp_env.backend
    env.reset(seed=0)
    q = b.targets
    q[2] += 0.05
    q[b.joint_names.index("index_proximal_joint")] = 0.7
    obs, _ = env.reset(seed=0, options={"pregrasp": {"q": q}})
    np.testing.assert_allclose(b.joint_state().position[: len(q)], q, atol=1e-9)
    options = {"pregrasp": {"joints": {"middle_proximal_joint": 0.5}}, "targets": ["red_block"]}
    obs, _ = env.reset(seed=0, options=options)
    assert b.joint_state().position[b.joint_names.index("middle_proximal_joint")] == pytest.approx(0.5)
    assert env.target_ids == ["red_block"]
    with pytest.raises(ValueError, match="pregrasp joint"):
        env.reset(options={"pregrasp": {"joints": {"elbow": 1.0}}})
    with pytest.raises(ValueError, match="unknown target"):
        env.reset(options={"targets": ["ghost"]})


def test_sim_vector_env_shapes():
    with envs.make_vec_env("dexsafe/SafeReach-v0", 3, seed=0, max_episode_steps=5) as venv:
        obs, info = venv.reset()
        assert obs.shape == (3, *venv.single_observation_space.shape)
        for k in range(6):
            obs, rew, cost, term, trunc, info = venv.step(np.zeros((3, *venv.single_action_space.shape)))
            assert obs.shape[0] == rew.shape[0] == cost.shape[0] == term.shape[0] == trunc.shape[0] == 3
            assert set(info["costs"]) == set(CHANNELS) and all(v.shape == (3,) for v in info["costs"].values())
            if k == 4:
                assert trunc.all() and info["_final_obs"].all()
        assert venv.action_space.shape == (3, 3)
    with pytest.raises(ValueError, match="Safety-Gymnasium-API task"):
        envs.make_vec_env("dexsafe/SafeReachGymnasium-v0", 2)


def test_sim_grasp_lift_success_is_reachable_from_a_pregrasp(grasp_env):
    """Drive the action space from the scripted pre-grasp: close, lift -> is_success, terminated."""
    from dexsafe.sim.scripted import plan_row_grasp

    env, b = grasp_env, grasp_env.backend
    env.reset(seed=4)
    plan = plan_row_grasp(b)
    env.reset(seed=4, options={"pregrasp": {"q": plan.pregrasp}})
    info, terminated = {}, False
    for target, steps in ((plan.closed, 40), (plan.lifted, 80)):
        for _ in range(steps):
            action = np.clip((target - env._targets) / env.max_delta / 0.5, -1.0, 1.0)
            _, reward, cost, terminated, truncated, info = env.step(action)
            if terminated:
                break
        if terminated:
            break
    assert terminated and info["is_success"] and info["objects_lifted"] == 2
    assert reward > 1.0
