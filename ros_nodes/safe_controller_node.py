"""The ``safe_controller`` lifecycle node: a trained constrained policy at a fixed rate, through the shield.

configure  load the checkpoint (``dexsafe.policies.load_policy``) and a mirror of its task
           (``dexsafe.sim.envs.mirror.TaskMirror``: the task's own observation and action code)
activate   every 1/rate s (steady clock): observation from ``/joint_states`` and
           ``/dexsafe/objects`` -> policy -> new position targets on ``/dexsafe/policy_commands``
           (the shield's input; never the hand's command topic)
deactivate stop publishing: the shield holds the last safe posture once commands go stale
cleanup    drop the policy and the mirror

Goal points (SafeReach) come from ``~/goal`` (geometry_msgs/Point, world) or the
``goal`` parameter.
"""

from __future__ import annotations

import threading

import numpy as np
from geometry_msgs.msg import Point
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.lifecycle import State, TransitionCallbackReturn
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray

from dexsafe.msg import SceneObjects
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, own_group, spin_node

PARAMS = [
    ParamSpec("checkpoint", "", "policy checkpoint (checkpoint.pt or its run folder) from dexsafe train"),
    ParamSpec("env_id", "", "the task the policy was trained in; empty = the checkpoint's"),
    ParamSpec("scene", "two_blocks", "scene of the task mirror"),
    ParamSpec("rate", 0.0, "control rate, Hz; 0 = the task's control rate (as trained)", (0.0, 1000.0)),
    ParamSpec("goal", [0.0, 0.0, 0.6], "goal point in world for goal-reaching tasks, m"),
    ParamSpec("policy_topic", "/dexsafe/policy_commands", "the safety shield's input"),
]


class SafeControllerNode(LifecycleNode):
    def __init__(self, **kwargs) -> None:
        super().__init__("safe_controller", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        self._lock = threading.Lock()
        self._positions: dict[str, float] = {}
        self._velocities: dict[str, float] = {}
        self._objects: dict = {}
        self.policy = self.mirror = self._pub = self._timer = None
        self._targets: np.ndarray | None = None
        self.ticks = 0
        reliable = QoSProfile(depth=10)
        self.create_subscription(JointState, "/joint_states", self._on_joints, reliable, callback_group=own_group())
        self.create_subscription(SceneObjects, "/dexsafe/objects", self._on_objects, reliable,
                                 callback_group=own_group())
        # The goal and the tick stay in the default group, exclusive with the lifecycle transitions that
        # build and drop the policy mirror they use; the state inputs only store, under the lock.
        self.create_subscription(Point, "~/goal", self._on_goal, reliable)

    # --- lifecycle ----------------------------------------------------------------------------
    def on_configure(self, state: State) -> TransitionCallbackReturn:
        from dexsafe.policies import load_policy
        from dexsafe.sim.envs.mirror import TaskMirror

        try:
            if not self.p["checkpoint"]:
                raise ValueError("parameter checkpoint is empty")
            self.policy = load_policy(self.p["checkpoint"])
            env_id = self.p["env_id"] or self.policy.metadata.get("env_id", "")
            if not str(env_id).startswith("dexsafe/"):
                raise ValueError(f"the checkpoint's task {env_id!r} is not a dexsafe task")
            self.mirror = TaskMirror(env_id, scene=self.p["scene"])
            if hasattr(self.mirror.env, "goal"):
                self.mirror.set_goal(self.p["goal"])
        except (ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self._pub = self.create_lifecycle_publisher(Float64MultiArray, self.p["policy_topic"], QoSProfile(depth=10))
        self.get_logger().info(f"policy {self.p['checkpoint']} for {env_id}: obs {self.mirror.observation_dim}, "
                               f"action {self.mirror.action_dim}")
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: State) -> TransitionCallbackReturn:
        rate = self.p["rate"] or 1.0 / self.mirror.control_dt
        self._targets = None
        self._timer = self.create_timer(1.0 / rate, self._tick)
        return super().on_activate(state)

    def on_deactivate(self, state: State) -> TransitionCallbackReturn:
        if self._timer is not None:
            self.destroy_timer(self._timer)
            self._timer = None
        return super().on_deactivate(state)

    def on_cleanup(self, state: State) -> TransitionCallbackReturn:
        if self._pub is not None:
            self.destroy_lifecycle_publisher(self._pub)
        if self.mirror is not None:
            self.mirror.close()
        self.policy = self.mirror = self._pub = None
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: State) -> TransitionCallbackReturn:
        if self.mirror is not None:
            self.mirror.close()
            self.mirror = None
        return TransitionCallbackReturn.SUCCESS

    # --- inputs -------------------------------------------------------------------------------
    def _on_joints(self, msg: JointState) -> None:
        with self._lock:
            self._positions = dict(zip(msg.name, msg.position))
            self._velocities = dict(zip(msg.name, msg.velocity)) if len(msg.velocity) == len(msg.name) else {}

    def _on_objects(self, msg: SceneObjects) -> None:
        objects = {o.id: ((o.pose.position.x, o.pose.position.y, o.pose.position.z),
                          (o.pose.orientation.x, o.pose.orientation.y, o.pose.orientation.z, o.pose.orientation.w))
                   for o in msg.objects}
        with self._lock:
            self._objects = objects

    def _on_goal(self, msg: Point) -> None:
        try:
            if self.mirror is not None:
                self.mirror.set_goal([msg.x, msg.y, msg.z])
        except ValueError as exc:
            self.get_logger().warning(f"goal rejected: {exc}")

    # --- control ------------------------------------------------------------------------------
    def _tick(self) -> None:
        with self._lock:
            positions, velocities, objects = dict(self._positions), dict(self._velocities), dict(self._objects)
        if not positions:
            return
        try:
            obs = self.mirror.observe(positions, velocities, objects)
            action = self.policy(obs)
            current = self._targets if self._targets is not None else np.array(
                [positions[n] for n in self.mirror.joint_names])
            self._targets = self.mirror.targets(action, current)
        except ValueError as exc:
            self.get_logger().warning(f"no command this tick: {exc}", throttle_duration_sec=1.0)
            return
        self._pub.publish(Float64MultiArray(data=self._targets.tolist()))
        self.ticks += 1


def main(argv: list[str] | None = None) -> int:
    return spin_node(SafeControllerNode, argv)
