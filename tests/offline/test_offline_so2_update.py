"""SO2's online update, inspected rather than just run: the target-action perturbation,
per-head targets, the update-to-data ratio, the actor frequency and the mixed batches."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dexsafe.policies.datasets import collect
from dexsafe.policies.offline import (
    EDAC,
    METHODS,
    MixedSampler,
    ReplayBuffer,
    agent_config,
    finetune,
    finetune_agent_config,
    online_config,
    perturb_target_action,
)
from dexsafe.policies.toy_envs import PointGoalHazard2D

OBS, ACT, N, B = 4, 3, 5, 64


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"observations": torch.randn(B, OBS, generator=g), "actions": torch.rand(B, ACT, generator=g) * 2 - 1,
            "rewards": torch.randn(B, generator=g), "costs": torch.zeros(B),
            "next_observations": torch.randn(B, OBS, generator=g),
            "terminals": (torch.rand(B, generator=g) < 0.3).float()}


def _so2_agent(**over):
    torch.manual_seed(0)
    base = agent_config("edac", {"hidden_sizes": [16, 16], "ensemble_size": N})
    online = online_config("so2", {"updates_per_step": 4})
    return EDAC(OBS, ACT, finetune_agent_config("so2", base, online, over)), online


def test_so2_method_is_the_official_setting():
    agent, online = _so2_agent()
    cfg = agent.config
    assert (cfg.target_noise, cfg.target_noise_clip, cfg.per_head_targets, cfg.eta, cfg.alpha) == (
        0.3, 0.6, True, 0.0, 0.2)
    assert cfg.actor_update_freq == online.updates_per_step == 4
    d = online_config("so2")
    assert (d.updates_per_step, d.warmup_steps, d.online_ratio, d.replace_offline, d.batch_size) == (
        10, 5000, 0.1, True, 2560)
    assert METHODS["so2"].base == "edac" and METHODS["naive"].agent == {"bc": False}


def test_perturbation_is_clipped_gaussian_then_clipped_action():
    a = torch.zeros(20_000, ACT)
    noisy = perturb_target_action(a, 0.3, 0.6, torch.Generator().manual_seed(1))
    eps = noisy - a
    assert eps.abs().max() <= 0.6 + 1e-6 and (eps.abs() > 0.59).any(), "noise clipped at c = 0.6"
    assert abs(eps.std().item() - 0.3) < 0.02, "σ = 0.3 (about 4.5% of draws are clipped)"
    g = torch.Generator().manual_seed(2)
    edge = perturb_target_action(torch.full((1000, ACT), 0.9), 0.3, 0.6, g)
    assert edge.max() <= 1.0 and (edge == 1.0).any(), "the perturbed action is clipped to [-1, 1]"
    # exactly clip(a + clip(σ z, -c, c), -1, 1) with the generator's z
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    base = torch.rand(8, ACT) * 2 - 1
    z = torch.randn(base.shape, generator=g2)
    expected = (base + (0.3 * z).clamp(-0.6, 0.6)).clamp(-1, 1)
    torch.testing.assert_close(perturb_target_action(base, 0.3, 0.6, g1), expected)
    assert perturb_target_action(base, 0.0, 0.6) is base


@pytest.mark.parametrize("per_head", [True, False])
def test_critic_target_per_head_with_perturbed_action(per_head):
    agent, _ = _so2_agent(per_head_targets=per_head)
    # make the target heads differ from the online ones, as after some training
    with torch.no_grad():
        for p in agent.target_critic.parameters():
            p.add_(0.1 * torch.randn_like(p))
    batch = _batch()
    next_obs = agent.normalize(batch["next_observations"])
    agent.generator = torch.Generator().manual_seed(7)
    torch.manual_seed(11)
    y = agent.critic_target(batch["rewards"], next_obs, batch["terminals"])
    # recompute by hand with the same random draws
    torch.manual_seed(11)
    with torch.no_grad():
        a_next, logp = agent.actor(next_obs)
        z = torch.randn(a_next.shape, generator=torch.Generator().manual_seed(7))
        a_tilde = (a_next + (0.3 * z).clamp(-0.6, 0.6)).clamp(-1, 1)
        q = agent.target_critic(next_obs, a_tilde)  # [N, B]
        assert not torch.allclose(a_tilde, a_next), "the target action is perturbed"
        q_used = q if per_head else q.min(0, keepdim=True).values
        expected = batch["rewards"] + 0.99 * (1 - batch["terminals"]) * (q_used - 0.2 * logp)  # un-noised log π
    assert y.shape == ((N, B) if per_head else (1, B))
    torch.testing.assert_close(y, expected)
    if per_head:
        live = batch["terminals"] == 0  # terminal rows have y_i = r for every head
        assert (y.std(dim=0)[live] > 0).all(), "each head has its own target"
    torch.testing.assert_close(agent.last_target["noisy_action"], a_tilde)


def test_each_head_regresses_to_its_own_target():
    agent, _ = _so2_agent()
    batch = _batch(1)
    agent.generator = torch.Generator().manual_seed(3)
    torch.manual_seed(4)  # the actor's sample a' ~ π(·|s')
    y = agent.critic_target(batch["rewards"], agent.normalize(batch["next_observations"]), batch["terminals"])
    q = agent.critic(agent.normalize(batch["observations"]), batch["actions"])
    expected = ((q - y) ** 2).mean(dim=1).sum()
    agent.generator = torch.Generator().manual_seed(3)
    torch.manual_seed(4)
    metrics = agent.update_critic(batch)
    assert metrics["critic_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_update_to_data_ratio_warmup_and_mixed_buffers():
    env = PointGoalHazard2D()
    ds = collect(env, None, 300, seed=0)
    base = agent_config("edac", {"hidden_sizes": [16], "ensemble_size": 3})
    online = online_config("so2", {"steps": 40, "warmup_steps": 10, "updates_per_step": 3, "batch_size": 20,
                                   "online_ratio": 0.25, "eval_every": 40, "eval_episodes": 1})
    agent = EDAC(7, 2, finetune_agent_config("so2", base, online))
    sizes = []
    original = agent.update

    def spy(batch):
        sizes.append(len(batch["rewards"]))
        return original(batch)

    agent.update = spy
    res = finetune(agent, ds, PointGoalHazard2D(), online, seed=0)
    assert agent.critic_updates == len(sizes) == (40 - 10) * 3, "UTD updates per step after warm-up"
    assert agent.actor_updates == agent.critic_updates // 3, "one actor update per env step"
    assert set(sizes) == {20}
    assert res.rows[-1]["online_rows"] == 40 and res.rows[0]["critic_updates"] == 0
    # a TD3+BC-finetune config runs 1 update per step, no warm-up
    assert dataclasses.asdict(online_config("td3bc_ft"))["updates_per_step"] == 1


def test_mixed_sampler_takes_the_online_share():
    off, on = ReplayBuffer(50, 2, 1), ReplayBuffer(50, 2, 1)
    for _ in range(50):
        off.add([0, 0], [0], 0.0, 0.0, [0, 0], False)
        on.add([0, 0], [0], 1.0, 0.0, [0, 0], False)
    sampler = MixedSampler(off, on, 0.1)
    batch = sampler.sample(2560, np.random.default_rng(0))
    assert batch["rewards"].sum().item() == 256, "10% of a 2560 batch from the online buffer"
    assert MixedSampler(off, ReplayBuffer(5, 2, 1), 0.5).split(10) == (0, 10), "all offline while online is empty"


def test_offline_buffer_is_fifo_over_the_dataset_when_replacing():
    env = PointGoalHazard2D()
    ds = collect(env, None, 100, seed=0)
    buf = ReplayBuffer.from_dataset(ds, capacity=len(ds), shuffle_seed=0)
    for _ in range(30):
        buf.add(np.full(7, 9.0), [0, 0], 5.0, 0.0, np.zeros(7), False)
    assert len(buf) == 100 and (buf.data["rewards"] == 5.0).sum() == 30, "online rows overwrite offline rows"


def test_alpha_pretrained_keeps_the_offline_temperature():
    from dexsafe.policies.offline import finetune_agent

    base = EDAC(OBS, ACT, agent_config("edac", {"hidden_sizes": [8], "ensemble_size": 2}))
    with torch.no_grad():
        base.log_alpha.fill_(np.log(0.05))
    agent = finetune_agent("so2", base, online_config("so2"), {"alpha": "pretrained"})
    assert agent.config.alpha == pytest.approx(0.05) and agent.critic_updates == 0
    torch.testing.assert_close(agent.critic.net[0].weight, base.critic.net[0].weight)
