"""The ``so2_controller`` node: runs an offline-to-online finetuned policy through the safety shield.

In: ``/joint_states`` (sensor_msgs/JointState), ``/dexsafe/objects`` (dexsafe/msg/SceneObjects),
``/dexsafe/cost`` (std_msgs/Float64, the shield's per-tick cost; used only when finetuning).
Out: ``/dexsafe/policy_commands`` (std_msgs/Float64MultiArray, position targets in the hand's
command order): the shield's input. It never publishes to the hand's command topic.

Every tick (``control_rate``, steady clock; default the task's control rate) it builds the
task's observation from the latest messages, asks the policy for an action in [-1, 1] and
moves the position targets exactly as the task env does
(``targets[controlled] += a * max_delta``, clipped to the joint limits).

Supported task: ``dexsafe/SafeReach-v0`` (observation: palm centre by forward kinematics of
the measured joints on a private MuJoCo model of the scene, goal minus palm, wrist velocity,
objects relative to the palm). The goal is the ``goal`` parameter, or sampled like the env
does; reaching it (``goal_tolerance``) or ``episode_ticks`` ticks start a new goal.

With ``online_finetune`` true (in sim), the node keeps learning from what it does: each tick's
transition ``(o, a, r, c, o')`` — reward recomputed from the observations as the task defines it
(``10 · progress + 1`` on reaching the goal), cost from the shield — goes into the online buffer
(and the offline ``dataset``'s buffer when one is given, SO2's mixing), then
``updates_per_tick`` agent updates run; a checkpoint is written every ``checkpoint_every``
updates and on shutdown. The update runs inside the tick: keep networks small or the rate low.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from dexsafe.msg import SceneObjects
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, own_group, spin_node

PARAMS = [
    ParamSpec("checkpoint", "", "offline/finetuned checkpoint (dexsafe offline ...); required"),
    ParamSpec("task", "dexsafe/SafeReach-v0", "task whose observation and action layout the policy uses"),
    ParamSpec("scene", "two_blocks", "scene of the task (must match the sim's)"),
    ParamSpec("hand", "", "hand description name or path; empty = the scene's hand"),
    ParamSpec("control_rate", 0.0, "policy ticks per second (steady clock), Hz; 0 = the task's rate", (0.0, 1000.0)),
    ParamSpec("goal", [0.0], "SafeReach goal for the palm centre [x, y, z] in world, m; [0.0] = sample"),
    ParamSpec("goal_tolerance", 0.02, "palm-goal distance that counts as reached, m", (0.0, 1.0)),
    ParamSpec("episode_ticks", 100, "ticks before a new goal (a time-limit episode end)", (1, 1_000_000)),
    ParamSpec("seed", 0, "seed of goal sampling and finetuning", (0, 2**31 - 1)),
    ParamSpec("deterministic", True, "act with the policy's mean (false: sample, as when finetuning)"),
    ParamSpec("online_finetune", False, "keep finetuning online from the node's own transitions (sim only)"),
    ParamSpec("dataset", "", "offline dataset mixed into finetuning batches; empty = online data only"),
    ParamSpec("updates_per_tick", 1, "agent updates per tick when finetuning (update-to-data ratio)", (0, 100)),
    ParamSpec("batch_size", 64, "rows per finetuning update", (1, 100_000)),
    ParamSpec("online_ratio", 0.1, "share of each batch from online-only rows when a dataset is given",
              (0.0, 1.0)),
    ParamSpec("warmup_ticks", 0, "ticks collected before the first finetuning update", (0, 1_000_000)),
    ParamSpec("checkpoint_every", 500, "write a checkpoint every this many finetuning updates", (1, 10_000_000)),
    ParamSpec("checkpoint_dir", "", "where finetuned checkpoints go; empty = beside the loaded checkpoint"),
    ParamSpec("command_topic", "/dexsafe/policy_commands", "the shield's input (never the hand's command topic)"),
]


class ReachObservation:
    """SafeReach's observation and reward from measured joints and object positions (no rclpy)."""

    def __init__(self, env, goal: np.ndarray) -> None:
        self.env = env  # a SafeReachEnv: its backend is the forward-kinematics model, its limits the action map
        self.backend = env.backend
        self.joint_names = list(self.backend.joint_names)
        self.object_ids = list(self.backend.object_ids)
        self.goal = np.asarray(goal, dtype=float)

    def observe(self, q: np.ndarray, qd: np.ndarray, objects: dict[str, np.ndarray]) -> np.ndarray:
        self.backend.set_joint_positions(q)
        palm = self.backend.palm_position().copy()
        rel = np.concatenate([np.asarray(objects[o], dtype=float) - palm for o in self.object_ids])
        return np.concatenate([palm, self.goal - palm, qd[:3], rel]).astype(np.float32)

    @staticmethod
    def distance(obs: np.ndarray) -> float:
        return float(np.linalg.norm(obs[3:6]))

    def reward(self, prev: np.ndarray, obs: np.ndarray, tolerance: float) -> tuple[float, bool]:
        """``10 (d_prev - d) + 1[d < tol]`` and whether the goal is reached (as the env)."""
        d = self.distance(obs)
        reached = d < tolerance
        return 10.0 * (self.distance(prev) - d) + float(reached), reached


class SO2ControllerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("so2_controller", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        if not self.p["checkpoint"]:
            raise ValueError("so2_controller: parameter 'checkpoint' is required (a dexsafe offline checkpoint)")
        if self.p["task"] != "dexsafe/SafeReach-v0":
            raise ValueError(f"so2_controller: task {self.p['task']!r} is not supported from topics; "
                             "supported: dexsafe/SafeReach-v0")
        from dexsafe.policies.offline.checkpoint import load_agent
        from dexsafe.sim.envs import make

        self.agent, self.meta = load_agent(self.p["checkpoint"], optimizers=False)
        self.env = make(self.p["task"], scene=self.p["scene"], hand=self.p["hand"] or None)
        if self.agent.obs_dim != self.env.observation_space.shape[0] or \
                self.agent.act_dim != self.env.action_space.shape[0]:
            raise ValueError(f"checkpoint {self.p['checkpoint']} has obs/act dims {self.agent.obs_dim}/"
                             f"{self.agent.act_dim}; task {self.p['task']} in scene {self.p['scene']!r} needs "
                             f"{self.env.observation_space.shape[0]}/{self.env.action_space.shape[0]}")
        self.rng = np.random.default_rng(self.p["seed"])
        self.obs_model = ReachObservation(self.env, self._new_goal())
        self.joint_names = self.obs_model.joint_names
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._qd: np.ndarray | None = None
        self._objects: dict[str, np.ndarray] = {}
        self._cost = 0.0
        self._targets: np.ndarray | None = None
        self._prev: tuple[np.ndarray, np.ndarray] | None = None  # (obs, normalised action) of the last tick
        self.ticks = 0
        self.episode_tick = 0
        self.goals_reached = 0
        self.episode_return = 0.0
        self.saved_checkpoints: list[Path] = []
        self._learner = self._make_learner() if self.p["online_finetune"] else None
        self._steady = Clock(clock_type=ClockType.STEADY_TIME)

        reliable = QoSProfile(depth=10)
        self.pub_command = self.create_publisher(Float64MultiArray, self.p["command_topic"], reliable)
        self.create_subscription(JointState, "/joint_states", self._on_joint_state, reliable,
                                 callback_group=own_group())
        self.create_subscription(SceneObjects, "/dexsafe/objects", self._on_objects, reliable,
                                 callback_group=own_group())
        self.create_subscription(Float64, "/dexsafe/cost", self._on_cost, reliable, callback_group=own_group())
        rate = self.p["control_rate"] or 1.0 / self.env.control_dt
        self.create_timer(1.0 / rate, self._tick, clock=self._steady, callback_group=own_group())
        self.get_logger().info(
            f"{self.meta.get('method') or self.meta['algorithm']} policy on {self.p['task']} at {rate:g} Hz -> "
            f"{self.p['command_topic']}; online finetuning {'on' if self._learner else 'off'}")

    # --- set-up -----------------------------------------------------------------------------
    def _new_goal(self) -> np.ndarray:
        goal = list(self.p["goal"])
        if len(goal) == 3:
            return np.asarray(goal, dtype=float)
        h = self.env.backend.scene.table.height
        return self.rng.uniform([-0.15, -0.15, h + 0.12], [0.15, 0.15, h + 0.30])

    def _make_learner(self):
        from dexsafe.policies.datasets import load_dataset
        from dexsafe.policies.offline.buffers import MixedSampler, ReplayBuffer
        from dexsafe.policies.offline.so2 import METHODS, OnlineConfig, finetune_agent

        # A checkpoint of a method keeps that method's online settings (SO2: PVU, per-head targets,
        # actor once per tick); a pretrained-only checkpoint is finetuned as SO2 when it is EDAC.
        method = self.meta.get("method") or ("so2" if self.agent.name == "edac" else "")
        if method not in METHODS:
            raise ValueError(f"so2_controller: cannot finetune a {self.agent.name} checkpoint without a method")
        online = OnlineConfig(updates_per_step=self.p["updates_per_tick"], batch_size=self.p["batch_size"],
                              online_ratio=self.p["online_ratio"], warmup_steps=self.p["warmup_ticks"])
        self.agent = finetune_agent(method, self.agent, online)
        obs_dim, act_dim = self.agent.obs_dim, self.agent.act_dim
        online_buf = ReplayBuffer(100_000, obs_dim, act_dim)
        if self.p["dataset"]:
            offline = ReplayBuffer.from_dataset(load_dataset(self.p["dataset"]), shuffle_seed=self.p["seed"])
            ratio = self.p["online_ratio"]
        else:
            offline, ratio = online_buf, 1.0
        torch_seed = int(self.p["seed"])
        import torch

        torch.manual_seed(torch_seed)
        out = Path(self.p["checkpoint_dir"] or Path(self.p["checkpoint"]).resolve().parent / "online")
        return {"online": online_buf, "offline": offline, "sampler": MixedSampler(offline, online_buf, ratio),
                "rng": np.random.default_rng(torch_seed), "out": out, "updates": 0, "method": method or "online"}

    # --- inputs ---------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        names = list(msg.name)
        try:
            idx = [names.index(n) for n in self.joint_names]
        except ValueError:
            self.get_logger().warning("/joint_states lacks some of the hand's joints", throttle_duration_sec=2.0)
            return
        pos = np.asarray(msg.position, dtype=float)
        vel = np.asarray(msg.velocity, dtype=float) if len(msg.velocity) == len(names) else np.zeros(len(names))
        with self._lock:
            self._q, self._qd = pos[idx], vel[idx]

    def _on_objects(self, msg: SceneObjects) -> None:
        objects = {o.id: np.array([o.pose.position.x, o.pose.position.y, o.pose.position.z]) for o in msg.objects}
        with self._lock:
            self._objects = objects

    def _on_cost(self, msg: Float64) -> None:
        with self._lock:
            self._cost += float(msg.data)

    # --- the tick -------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            q, qd, objects, cost = self._q, self._qd, dict(self._objects), self._cost
            self._cost = 0.0
        missing = [o for o in self.obs_model.object_ids if o not in objects]
        if q is None or missing:
            return  # nothing to act on yet
        obs = self.obs_model.observe(q, qd, objects)
        self.ticks += 1
        self.episode_tick += 1
        end_episode = self.episode_tick >= self.p["episode_ticks"]
        if self._prev is not None:
            reward, reached = self.obs_model.reward(self._prev[0], obs, self.p["goal_tolerance"])
            self.episode_return += reward
            if self._learner is not None:
                self._learn(self._prev[0], self._prev[1], reward, cost, obs, reached)
            if reached:
                self.goals_reached += 1
                end_episode = True
        if end_episode:
            self.obs_model.goal = self._new_goal()
            self.episode_tick, self.episode_return = 0, 0.0
            obs = self.obs_model.observe(q, qd, objects)
        if self._targets is None:
            self._targets = q.copy()
        a = self.agent.act(obs, deterministic=self.p["deterministic"] and self._learner is None)
        targets = self._targets.copy()
        targets[self.env.controlled] += a * self.env.max_delta
        self._targets = np.clip(targets, self.env.backend.ctrl_lower, self.env.backend.ctrl_upper)
        self._prev = (obs, a.astype(np.float32))
        self.pub_command.publish(Float64MultiArray(data=self._targets.tolist()))

    def _learn(self, obs, action, reward, cost, next_obs, terminal) -> None:
        lr = self._learner
        lr["online"].add(obs, action, reward, cost, next_obs, terminal)
        if lr["offline"] is not lr["online"]:
            lr["offline"].add(obs, action, reward, cost, next_obs, terminal)
        if self.ticks <= self.p["warmup_ticks"] or len(lr["online"]) < 2:
            return
        self.agent.train()
        for _ in range(self.p["updates_per_tick"]):
            self.agent.update(lr["sampler"].sample(self.p["batch_size"], lr["rng"]))
            lr["updates"] += 1
            if lr["updates"] % self.p["checkpoint_every"] == 0:
                self.save_checkpoint()

    def save_checkpoint(self) -> Path | None:
        """Write the finetuned agent to ``checkpoint_dir/checkpoint.pt`` (no-op when not finetuning)."""
        if self._learner is None:
            return None
        from dexsafe.policies.offline.checkpoint import save_agent

        lr = self._learner
        path = save_agent(self.agent, lr["out"] / "checkpoint.pt", action_low=self.meta["action_low"],
                          action_high=self.meta["action_high"], env_id=self.p["task"],
                          env_kwargs={"scene": self.p["scene"]}, method=lr["method"], phase="online",
                          extra={"node_updates": lr["updates"], "ticks": self.ticks})
        self.saved_checkpoints.append(path)
        return path

    @property
    def finetune_updates(self) -> int:
        return 0 if self._learner is None else int(self._learner["updates"])

    def destroy_node(self) -> None:
        if self._learner is not None and self._learner["updates"] > 0:
            try:
                self.save_checkpoint()
            except OSError as exc:
                self.get_logger().error(f"could not save the finetuned checkpoint: {exc}")
        self.env.close()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return spin_node(SO2ControllerNode, argv)
