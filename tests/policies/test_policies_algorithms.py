"""Every algorithm smoke-trains on tiny CMDPs with tiny networks; the maths pieces are
checked against their definitions (GAE, CG, CPO's constraint, multipliers)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dexsafe.policies import ALGORITHMS, make_vector_env, train
from dexsafe.policies.algorithms import ConfigError, algorithm_class, config_from_dict, make_algorithm
from dexsafe.policies.algorithms.cpo import cpo_step, pcpo_step
from dexsafe.policies.algorithms.trpo import conjugate_gradient
from dexsafe.policies.buffer import discounted_gae
from dexsafe.policies.envs import EnvSpecError, SauteWrapper, make_env
from dexsafe.policies.lagrange import LagrangeMultiplier, PIDLagrangian
from dexsafe.policies.toy_envs import PointLineCost, TwoPointLineCost

TINY = {
    "steps_per_epoch": 200,
    "num_envs": 2,
    "hidden_sizes": [8, 8],
    "update_iters": 3,
    "critic_update_iters": 2,
    "minibatch_size": 64,
    "cost_limit": 5.0,
    "cg_iters": 5,
}




def tiny_config(algo: str, **extra) -> dict:
    cls = algorithm_class(algo)
    fields = cls.config_class.__dataclass_fields__
    return {k: v for k, v in {**TINY, **extra}.items() if k in fields}


EXPECTED = {
    "ppo", "ppo_lag", "cppo_pid", "trpo", "trpo_lag", "natural_pg", "rcpo",
    "cpo", "pcpo", "focops", "cup", "saute_ppo",
}


def test_registry_has_the_safepo_single_agent_set_and_mappo_lag():
    assert set(ALGORITHMS) == EXPECTED | {"mappo_lag"}
    assert algorithm_class("PPO-Lag") is ALGORITHMS["ppo_lag"]
    with pytest.raises(ConfigError, match="unknown algorithm 'sac'"):
        algorithm_class("sac")


# Each algorithm on one of two toy CMDPs, alternating: RandomCMDP (random terminations,
# big noisy rewards and costs, an action box that is not [-1, 1]) and PointGoalHazard2D
# (goal terminations and time-limit truncations). mappo_lag is multi-agent: tested below.
SMOKE = [
    (algo, ["toy/RandomCMDP-v0", "toy/PointGoalHazard2D-v0"][i % 2]) for i, algo in enumerate(sorted(EXPECTED))
]


@pytest.mark.parametrize(("algo", "env_id"), SMOKE)
def test_every_algorithm_smoke_trains(algo, env_id):
    before = None

    def grab(a, row):
        nonlocal before
        if before is None:
            before = [p.detach().clone() for p in a.model.actor.parameters()]

    result = train(algo, env_id, tiny_config(algo), seed=1, total_steps=400, on_epoch=grab)
    assert len(result.rows) == 2
    row = result.final_row
    for key in ("episode_reward", "episode_cost", "kl", "loss_reward_critic", "loss_cost_critic"):
        assert key in row and math.isfinite(row[key]), (key, row)
    params = list(result.algorithm.model.actor.parameters())
    assert all(torch.isfinite(p).all() for p in params)
    assert any(not torch.equal(b, p) for b, p in zip(before, params)), "the actor never moved"
    if result.algorithm.constrained and algo not in ("cpo", "pcpo", "saute_ppo"):
        assert "lagrange_multiplier" in row
    if "line_search_tries" in row and algo not in ("natural_pg", "rcpo"):
        # an accepted line-search step stays inside the trust region; a rejected one (-1) moves nothing
        for r in result.rows:
            assert r["kl"] <= result.algorithm.config.target_kl + 1e-9, r


def test_unconstrained_and_constrained_methods_differ_in_what_they_follow():
    env = make_vector_env("toy/PointLine-v0", 1)
    ppo = make_algorithm("ppo", env, tiny_config("ppo"))
    lag = make_algorithm("ppo_lag", make_vector_env("toy/PointLine-v0", 1), tiny_config("ppo_lag"))
    batch, _, _ = ppo.collect_rollout()
    torch.testing.assert_close(ppo.policy_advantage(batch), batch.reward_advantages)
    lag.lagrange.update(1e6)  # force λ > 0
    lam = lag.lagrange.value
    assert lam > 0
    expected = (batch.reward_advantages - lam * batch.cost_advantages) / (1 + lam)
    torch.testing.assert_close(lag.policy_advantage(batch), expected)


# ---------------------------------------------------------------- maths pieces
def test_gae_matches_the_recursive_definition_with_dones():
    rng = np.random.default_rng(0)
    T, N, gamma, lam = 7, 3, 0.9, 0.8
    r = torch.as_tensor(rng.normal(size=(T, N)), dtype=torch.float32)
    v = torch.as_tensor(rng.normal(size=(T, N)), dtype=torch.float32)
    d = torch.as_tensor(rng.random((T, N)) < 0.3, dtype=torch.float32)
    last = torch.as_tensor(rng.normal(size=N), dtype=torch.float32)
    adv, ret = discounted_gae(r, v, last, d, gamma, lam)
    for n in range(N):
        for t in range(T):
            # A_t = sum_k (γλ)^k δ_{t+k}, stopping after the first done
            total, factor = 0.0, 1.0
            for k in range(t, T):
                v_next = last[n] if k == T - 1 else v[k + 1, n]
                delta = r[k, n] + gamma * (1 - d[k, n]) * v_next - v[k, n]
                total += factor * delta
                if d[k, n]:
                    break
                factor *= gamma * lam
            assert adv[t, n] == pytest.approx(float(total), abs=1e-5)
    torch.testing.assert_close(ret, adv + v)


def test_conjugate_gradient_solves_spd_systems():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6, 6))
    a = torch.as_tensor(m @ m.T + 6 * np.eye(6), dtype=torch.float64)
    b = torch.as_tensor(rng.normal(size=6), dtype=torch.float64)
    x = conjugate_gradient(lambda v: a @ v, b, iters=20)
    torch.testing.assert_close(a @ x, b)


@pytest.mark.parametrize("seed", range(40))
def test_cpo_step_satisfies_its_linearised_constraint_and_trust_region(seed):
    rng = np.random.default_rng(seed)
    n = 5
    m = rng.normal(size=(n, n))
    H = m @ m.T + 0.5 * np.eye(n)
    H_inv = np.linalg.inv(H)
    g, b = rng.normal(size=n), rng.normal(size=n)
    c = float(rng.normal(scale=0.3))
    delta = 0.01
    t = lambda x: torch.as_tensor(x, dtype=torch.float64)  # noqa: E731
    step = cpo_step(t(g), t(b), t(H_inv @ g), t(H_inv @ b), c, delta)
    x = step.direction.numpy()
    kl_quad = 0.5 * x @ H @ x
    assert kl_quad <= delta * (1 + 1e-6), (step.case, kl_quad)
    s = b @ H_inv @ b
    if step.case == 0:  # infeasible: the recovery step lowers cost as fast as the region allows
        assert c > 0 and 2 * delta - c**2 / s < 0
        assert b @ x < 0 and kl_quad == pytest.approx(delta)
    else:
        assert b @ x + c <= 1e-6 * (1 + abs(c)), (step.case, b @ x + c)
        # optimality: no random feasible point in the region does better on g
        best = g @ x
        for _ in range(300):
            y = rng.normal(size=n)
            y *= math.sqrt(2 * delta / (y @ H @ y)) * rng.random() ** (1 / n)
            if b @ y + c <= 0:
                assert g @ y <= best + 1e-6


def test_cpo_picks_trpo_step_when_constraint_is_slack():
    g = torch.tensor([1.0, 0.0], dtype=torch.float64)
    b = torch.tensor([0.0, 1.0], dtype=torch.float64)
    step = cpo_step(g, b, g, b, c=-10.0, delta=0.01)  # H = I
    assert step.case == 3
    torch.testing.assert_close(step.direction, math.sqrt(0.02) * g)


def test_pcpo_projects_onto_the_half_space():
    g = torch.tensor([1.0, 1.0], dtype=torch.float64)
    b = torch.tensor([0.0, 1.0], dtype=torch.float64)
    x = pcpo_step(b, g, b, q=2.0, c=0.0, delta=0.01)  # H = I
    assert float(b @ x) == pytest.approx(0.0, abs=1e-9)  # on the boundary bᵀx + c = 0
    assert float(x[0]) == pytest.approx(math.sqrt(0.02 / 2.0))


def test_lagrange_multiplier_rises_above_the_limit_and_falls_below():
    for opt in ("Adam", "SGD"):
        lag = LagrangeMultiplier(cost_limit=10.0, init=0.5, lr=0.05, optimizer=opt)
        values = [lag.update(20.0) for _ in range(10)]
        assert all(b > a for a, b in zip([0.5, *values], values)), values
        down = [lag.update(2.0) for _ in range(200)]
        # SGD turns at once; Adam's momentum carries it up for a few steps first
        turn = 1 if opt == "SGD" else 20
        assert min(down[:turn]) < values[-1] and down[-1] == 0.0  # clamped at zero, never negative
        assert all(b <= a for a, b in zip(down[turn:], down[turn + 1 :]))
    capped = LagrangeMultiplier(1.0, init=0.0, lr=1.0, upper_bound=0.3)
    assert max(capped.update(100.0) for _ in range(5)) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="unknown lagrangian optimizer"):
        LagrangeMultiplier(1.0, optimizer="RMSprop")


def test_pid_lagrangian_rises_above_the_limit_and_falls_below():
    pid = PIDLagrangian(cost_limit=10.0)
    up = [pid.update(30.0) for _ in range(20)]
    assert up[-1] > up[0] > 0
    down = [pid.update(0.0) for _ in range(400)]
    assert down[-1] < up[-1] and down[-1] == 0.0
    state = pid.state_dict()
    twin = PIDLagrangian(cost_limit=10.0)
    twin.load_state_dict(state)
    assert twin.update(25.0) == pid.update(25.0)


def test_ppo_lag_brings_cost_under_the_limit_where_ppo_does_not():
    """PointLineCost: greedy costs ~7/episode. λ must rise while cost > d, and cost must fall."""
    cfg = {
        "steps_per_epoch": 800,
        "num_envs": 8,
        "hidden_sizes": [16, 16],
        "update_iters": 10,
        "critic_update_iters": 5,
        "minibatch_size": 200,
        "actor_lr": 3e-3,
        "critic_lr": 3e-3,
        "target_kl": 0.05,
        "linear_lr_decay": False,
        "cost_limit": 1.0,
    }
    lag_cfg = {**cfg, "lambda_lr": 0.5, "lagrangian_multiplier_init": 0.0}
    lag = train("ppo_lag", "toy/PointLine-v0", lag_cfg, seed=3, total_steps=6400)
    ppo = train("ppo", "toy/PointLine-v0", cfg, seed=3, total_steps=4000)
    lam = [r["lagrange_multiplier"] for r in lag.rows]
    costs = [r["episode_cost"] for r in lag.rows]
    limit = cfg["cost_limit"]
    # λ rises on every epoch whose cost is over the limit (two in a row: Adam's momentum agrees)
    rising = [i for i in range(1, len(costs)) if costs[i] > limit and costs[i - 1] > limit]
    assert rising and all(lam[i] > lam[i - 1] for i in rising), (costs, lam)
    # the cost went well over the limit, then came back under it
    assert max(costs) > 3 * limit, costs
    assert np.mean(costs[-2:]) < limit, costs
    # plain PPO, same seed and settings, stays far above
    assert np.mean([r["episode_cost"] for r in ppo.rows[-2:]]) > 3 * limit


# ---------------------------------------------------------------- envs and configs
def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"unknown PPOConfig keys \['clip'\]"):
        config_from_dict(algorithm_class("ppo").config_class, {"clip": 0.1})
    with pytest.raises(ConfigError, match="gamma must be in"):
        config_from_dict(algorithm_class("ppo").config_class, {"gamma": 2.0})
    with pytest.raises(ConfigError, match="steps_per_epoch"):
        config_from_dict(algorithm_class("ppo").config_class, {"steps_per_epoch": 2, "num_envs": 4})


def test_make_env_accepts_ids_factories_and_rejects_junk():
    env = make_env("dexsafe.policies.toy_envs:PointLineCost", horizon=5)
    obs, _ = env.reset(seed=0)
    out = env.step(np.array([1.0]))
    assert len(out) == 6 and env.max_episode_steps == 5
    env = make_env(lambda: PointLineCost())
    assert env.observation_space.shape == (2,)
    with pytest.raises(EnvSpecError, match="cannot import"):
        make_env("no_such_module_xyz:Env")
    with pytest.raises(EnvSpecError, match="has no attribute"):
        make_env("dexsafe.policies.toy_envs:Nope")

    class FiveTuple(PointLineCost):
        def step(self, action):
            obs, r, c, term, trunc, info = super().step(action)
            return obs, r, term, trunc, {**info, "cost": c}

    env = make_env(FiveTuple)
    env.reset(seed=0)
    for _ in range(4):
        obs, r, c, term, trunc, info = env.step(np.array([1.0]))
    assert c == 1.0  # x = 0.8 > 0.5: cost came through info["cost"]


def test_vector_env_autoresets_and_reports_episodes():
    venv = make_vector_env("toy/PointLine-v0", 3)
    obs, _ = venv.reset(seed=0)
    assert obs.shape == (3, 2)
    episodes = []
    for _ in range(10):
        obs, r, c, term, trunc, info = venv.step(np.ones((3, 1)))
        episodes += info["episodes"]
    assert trunc.all() and len(episodes) == 3
    assert episodes[0]["length"] == 10 and episodes[0]["cost"] == pytest.approx(8.0)
    assert (info["final_obs"][:, 1] == 1.0).all() and (obs[:, 1] == 0.0).all()


def test_saute_wrapper_tracks_the_budget_and_reshapes_reward():
    env = SauteWrapper(PointLineCost(), cost_limit=2.0, saute_gamma=1.0, unsafe_reward=-1.0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3,) and obs[-1] == 1.0
    rewards, zs = [], []
    for _ in range(10):
        obs, r, c, term, trunc, info = env.step(np.array([1.0]))
        rewards.append(r)
        zs.append(obs[-1])
        assert info["reward_unshaped"] != -1.0
    # cost 1 from step 3 on; budget 2 -> z: 1, 1, 0.5, 0, -0.5, ...
    assert zs[2] == pytest.approx(0.5) and zs[3] == pytest.approx(0.0)
    assert rewards[3:] == [-1.0] * 7 and rewards[2] > 0


# ---------------------------------------------------------------- multi-agent
def test_mappo_lag_multiplier_rule_rises_over_the_limit_and_falls_under():
    from dexsafe.policies.algorithms.mappo_lag import mappo_lagrange_update

    lam = 0.78
    for _ in range(10):
        new = mappo_lagrange_update(lam, 30.0, cost_limit=25.0, gamma=0.99, surrogate_cost=0.0, lr=1.0)
        assert new > lam
        lam = new
    lam = mappo_lagrange_update(lam, 0.0, 25.0, 0.99, 0.0, lr=100.0)
    assert lam == 0.0  # falls, never below zero
    # an update that already lowered the cost (E[ρA_C] < 0) slows the rise
    slowed = mappo_lagrange_update(1.0, 30.0, 25.0, 0.99, -0.04, 1.0)
    assert slowed < mappo_lagrange_update(1.0, 30.0, 25.0, 0.99, 0.0, 1.0)


def test_mappo_lag_trains_two_agents_checkpoints_and_resumes(tmp_path):
    from dexsafe.policies import load_policy
    from dexsafe.policies.checkpoint import MultiAgentPolicy

    cfg = {
        "steps_per_epoch": 400, "num_envs": 4, "hidden_sizes": [16, 16], "update_iters": 5,
        "critic_update_iters": 3, "minibatch_size": 200, "actor_lr": 3e-3, "critic_lr": 3e-3,
        "linear_lr_decay": False, "cost_limit": 0.0, "lambda_lr": 5.0, "lagrangian_multiplier_init": 0.0,
    }
    result = train("mappo_lag", "toy/TwoPointLine-v0", cfg, seed=0, total_steps=1600, out_dir=tmp_path)
    rows = result.rows
    for agent in TwoPointLineCost.possible_agents:
        lam = [r[f"lagrange_multiplier_{agent}"] for r in rows]
        assert all(math.isfinite(r[f"episode_cost_{agent}"]) for r in rows)
        assert lam[0] > 0 and max(lam) > 0.2, lam  # cost > limit 0: λ_i climbs
    for key in ("episode_reward", "episode_cost", "kl", "loss_reward_critic", "lagrange_multiplier"):
        assert math.isfinite(rows[-1][key])
    policy = load_policy(tmp_path)
    assert isinstance(policy, MultiAgentPolicy) and policy.agents == ("hand_0", "hand_1")
    actions = policy({"hand_0": np.zeros(3), "hand_1": np.ones(3) * 0.1})
    assert set(actions) == {"hand_0", "hand_1"} and actions["hand_0"].shape == (1,)
    with pytest.raises(ValueError, match="lack agents"):
        policy({"hand_0": np.zeros(3)})
    resumed = train("mappo_lag", "toy/TwoPointLine-v0", seed=0, total_steps=2000, out_dir=tmp_path, resume=tmp_path)
    assert resumed.algorithm.global_step == 2000 and len(resumed.rows) == 5
