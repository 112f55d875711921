"""The so2_controller node: a tiny offline-to-online SO2 run on SafeReach produces a checkpoint
that the node loads; the node drives the sim through the shield from /joint_states and
/dexsafe/objects, never publishes to the hand's command topic itself, and keeps finetuning."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray

pytestmark = pytest.mark.ros

TASK = "dexsafe/SafeReach-v0"


@pytest.fixture(scope="module")
def so2_checkpoint(tmp_path_factory):
    """Offline EDAC on 200 random SafeReach transitions, then 30 SO2 online steps: the checkpoint."""
    import torch

    from dexsafe.policies.datasets import collect
    from dexsafe.policies.envs import make_env
    from dexsafe.policies.offline import (
        agent_config,
        finetune,
        finetune_agent,
        online_config,
        pretrain,
        save_agent,
    )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("so2")
    env = make_env(TASK)
    ds = collect(env, None, 200, seed=0, metadata={"env_id": TASK})
    ds.save(out / "dataset.npz")
    base = pretrain("edac", ds, agent_config("edac", {"hidden_sizes": [32], "ensemble_size": 3}), 20, 32)
    online = online_config("so2", {"steps": 30, "warmup_steps": 10, "updates_per_step": 2, "batch_size": 32,
                                   "eval_every": 30, "eval_episodes": 1})
    agent = finetune_agent("so2", base, online)
    res = finetune(agent, ds, env, online, seed=0)
    assert agent.critic_updates == 40 and len(res.rows) == 2
    path = save_agent(agent, out / "checkpoint.pt", action_low=[-1] * 3, action_high=[1] * 3, env_id=TASK,
                      method="so2", phase="online")
    env.close()
    torch.set_num_threads(threads)
    return path, out / "dataset.npz"


def test_node_runs_the_finetuned_policy_through_the_shield(ros, so2_checkpoint, tmp_path):
    from dexsafe.ros_nodes.safety_shield_node import SafetyShieldNode
    from dexsafe.ros_nodes.sim_node import SimNode
    from dexsafe.ros_nodes.so2_controller_node import SO2ControllerNode

    checkpoint, dataset = so2_checkpoint
    sim = ros.add(SimNode(context=ros.context, parameter_overrides=[
        Parameter("real_time_factor", value=1.0), Parameter("cloud_rate", value=0.0)]))
    ros.add(SafetyShieldNode(context=ros.context))
    ctrl = ros.add(SO2ControllerNode(context=ros.context, parameter_overrides=[
        Parameter("checkpoint", value=str(checkpoint)), Parameter("online_finetune", value=True),
        Parameter("dataset", value=str(dataset)), Parameter("updates_per_tick", value=2),
        Parameter("batch_size", value=16), Parameter("checkpoint_every", value=10),
        Parameter("checkpoint_dir", value=str(tmp_path / "online")), Parameter("control_rate", value=20.0)]))
    probe = ros.node("probe")
    policy_cmds, hand_cmds = [], []
    probe.create_subscription(Float64MultiArray, "/dexsafe/policy_commands", lambda m: policy_cmds.append(m.data), 10)
    probe.create_subscription(Float64MultiArray, "/hand_controller/commands", lambda m: hand_cmds.append(m.data), 10)
    ros.wait_for(lambda: len(policy_cmds) >= 15, 60.0, "policy commands from so2_controller")
    ros.wait_for(lambda: ctrl.finetune_updates >= 10 and ctrl.saved_checkpoints, 30.0, "online updates + checkpoint")
    ros.wait_for(lambda: len(hand_cmds) > 5, 10.0, "the shield forwarding commands")

    n = len(sim.joint_names)
    cmds = np.array([list(c) for c in policy_cmds])
    assert cmds.shape[1] == n and np.isfinite(cmds).all()
    assert np.ptp(cmds[:, :3], axis=0).max() > 0, "the policy moves the wrist targets"
    assert np.allclose(cmds[:, 3:], cmds[0, 3:]), "SafeReach moves only wrist x, y, z"
    assert ctrl.count_publishers("/hand_controller/commands") == 1, "only the shield writes to the hand"

    from dexsafe.policies.offline import load_offline_policy

    saved = load_offline_policy(ctrl.saved_checkpoints[-1])
    assert saved.algorithm == "so2" and saved(np.zeros(saved.obs_dim)).shape == (3,)


def test_node_refuses_a_checkpoint_of_another_task(ros, tmp_path):
    from dexsafe.policies.offline import EDAC, save_agent
    from dexsafe.ros_nodes.so2_controller_node import SO2ControllerNode

    path = save_agent(EDAC(7, 2), tmp_path / "toy.pt", action_low=[-1, -1], action_high=[1, 1], env_id="toy")
    with pytest.raises(ValueError, match="has obs/act dims 7/2"):
        SO2ControllerNode(context=ros.context, parameter_overrides=[Parameter("checkpoint", value=str(path))])
