"""The ``grasp_executor`` node: ``/dexsafe/execute_grasp`` (dexsafe/action/ExecuteGrasp).

Executes a grasp proposal with the scripted executor
(``dexsafe.policies.scripted_grasp``): reach the pre-grasp from above, close
until each finger grips, lift, hold one second. From the close phase on, a
trained residual (``policy``: 'default', the one shipped in ``policies/models``,
or a checkpoint path; '' for none; ``dexsafe.policies.residual_grasp``)
corrects its targets. Without a usable policy (file missing, another hand,
another number of objects, a mesh object) the scripted executor runs alone,
and the log says why. Its targets go to the safety
shield's input (``/dexsafe/policy_commands``), never to the hand directly.
Feedback: phase (reach | close | lift | hold), progress, safety cost so far
(from ``/dexsafe/cost``). Cancel opens the hand and backs off upward. Success,
as in MultiGrasp: every object risen at least ``success_height`` (or 80 % of a
smaller lift height) after the hold. A malformed goal (NaN or out-of-workspace
pose, unknown joints or objects, absurd lift height or timeout) is aborted at
once with the reason in ``message``; the server keeps serving.

Timing runs on a steady clock at ``control_rate``; run the sim at real time.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from dexsafe.action import ExecuteGrasp
from dexsafe.core.validation import InvalidInput, finite, in_range
from dexsafe.msg import HandContacts, SceneObjects
from dexsafe.policies.residual_grasp import (
    GraspObservation,
    ResidualGraspExecutor,
    ResidualGraspPolicy,
    ResidualScales,
    TrackedObject,
    load_residual_policy,
    shape_features,
)
from dexsafe.policies.scripted_grasp import ExecutorConfig, Phase, ScriptedGraspExecutor
from dexsafe.ros_nodes.conversions import check_object_ids, pose_from_msg
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node

PARAMS = [
    ParamSpec("scene", "two_blocks", "scene (workspace box, hand) the grasps are executed in"),
    ParamSpec("hand", "", "hand description name or path; empty = the scene's hand"),
    ParamSpec("control_rate", 50.0, "target updates per second (steady clock), Hz", (1.0, 1000.0)),
    ParamSpec("policy_topic", "/dexsafe/policy_commands", "the safety shield's input"),
    ParamSpec("success_height", 0.10, "rise every object needs after the hold, m", (0.001, 1.0)),
    ParamSpec("approach_height", 0.10, "come down onto the pre-grasp from this high, m", (0.0, 0.5)),
    ParamSpec("reach_speed", 0.15, "wrist speed while reaching, m/s", (0.01, 1.0)),
    ParamSpec("close_speed", 1.2, "finger closing speed, rad/s", (0.05, 6.0)),
    ParamSpec("grip_force", 3.0, "contact force at which a finger stops closing, N", (0.1, 100.0)),
    ParamSpec("lift_speed", 0.10, "wrist speed while lifting, m/s", (0.01, 1.0)),
    ParamSpec("hold_time", 1.0, "hold after lifting before judging success, s", (0.0, 30.0)),
    ParamSpec("policy", "default", "trained residual policy on top of the scripted executor: 'default' (the one "
              "shipped in policies/models), a checkpoint path, or '' for the scripted executor alone"),
]
JOINT_TOLERANCE = 0.05  # rad: proposals may sit this far outside a joint limit (then clipped)


class GraspExecutorNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_executor", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        from dexsafe.sim.hands import load_hand
        from dexsafe.sim.scene_spec import load_scene
        from dexsafe.sim.shield_limits import ExecutorJoints, finger_of_body, shield_limits_for

        self.scene = load_scene(self.p["scene"])
        self.hand = load_hand(self.p["hand"] or self.scene.hand)
        joints = ExecutorJoints.from_limits(shield_limits_for(self.scene, self.hand))
        self.joint_names = list(joints.joint_names)
        self.lower, self.upper, self.closing = joints.lower, joints.upper, joints.closing
        self.finger_joints = joints.finger_joints
        self.finger_of_body = finger_of_body(self.scene, self.hand)
        self.open_fingers = self.hand.finger_open_posture()
        self.config = ExecutorConfig(approach_height=self.p["approach_height"], reach_speed=self.p["reach_speed"],
                                     close_speed=self.p["close_speed"], grip_force=self.p["grip_force"],
                                     lift_speed=self.p["lift_speed"], hold_time=self.p["hold_time"])
        self.policy: ResidualGraspPolicy | None = None
        if self.p["policy"]:
            try:
                self.policy = load_residual_policy(self.p["policy"])
                self.get_logger().info(f"residual grasp policy {self.policy.path} "
                                       f"(trained for {self.policy.spec.hand}, {self.policy.spec.num_objects} objects)")
            except (ValueError, OSError) as exc:
                self.get_logger().warning(f"no trained grasp policy, the scripted executor runs alone: {exc}")
        self._lock = threading.Lock()
        self._q: np.ndarray | None = None
        self._qdot: np.ndarray | None = None
        self._objects: dict[str, float] = {}
        self._tracked: dict[str, TrackedObject] = {}
        self._forces: dict[str, float] = {}
        self._cost = 0.0
        self._busy = False

        group = ReentrantCallbackGroup()
        reliable = QoSProfile(depth=10)
        self.pub = self.create_publisher(Float64MultiArray, self.p["policy_topic"], reliable)
        self.create_subscription(JointState, "/joint_states", self._on_joints, reliable, callback_group=group)
        self.create_subscription(SceneObjects, "/dexsafe/objects", self._on_objects, reliable, callback_group=group)
        self.create_subscription(HandContacts, "/dexsafe/contacts", self._on_contacts, reliable, callback_group=group)
        self.create_subscription(Float64, "/dexsafe/cost", self._on_cost, reliable, callback_group=group)
        self.server = ActionServer(self, ExecuteGrasp, "/dexsafe/execute_grasp", self._execute,
                                   goal_callback=self._on_goal, cancel_callback=lambda _: CancelResponse.ACCEPT,
                                   callback_group=group)

    # --- inputs ---------------------------------------------------------------------------------
    def _on_joints(self, msg: JointState) -> None:
        names = list(msg.name)
        try:
            index = [names.index(n) for n in self.joint_names]
            q = np.array([msg.position[i] for i in index])
        except (ValueError, IndexError):
            return
        qdot = np.array([msg.velocity[i] for i in index]) if len(msg.velocity) == len(names) else np.zeros(len(q))
        with self._lock:
            self._q, self._qdot = q, qdot

    def _on_objects(self, msg: SceneObjects) -> None:
        tracked = {}
        for o in msg.objects:
            p, r = o.pose.position, o.pose.orientation
            try:
                shape = shape_features(o.shape, o.size)
            except ValueError:
                continue  # a mesh: the policy does not run on it (the grasp falls back to scripted)
            tracked[o.id] = TrackedObject(np.array([p.x, p.y, p.z]), np.array([r.x, r.y, r.z, r.w]), shape)
        with self._lock:
            self._objects = {o.id: o.pose.position.z for o in msg.objects}
            self._tracked = tracked

    def _on_contacts(self, msg: HandContacts) -> None:
        forces: dict[str, float] = {}
        for c in msg.contacts:
            finger = self.finger_of_body.get(c.link)
            if finger is not None and c.other not in ("table", "floor"):
                forces[finger] = forces.get(finger, 0.0) + c.normal_force
        with self._lock:
            self._forces = forces

    def _on_cost(self, msg: Float64) -> None:
        with self._lock:
            self._cost += msg.data

    def _on_goal(self, goal) -> GoalResponse:
        if self._busy:
            self.get_logger().warning("rejecting a grasp goal: another grasp is running")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    # --- goal -> pre-grasp ------------------------------------------------------------------------
    def pregrasp_from_goal(self, goal) -> np.ndarray:
        """Full command-order pre-grasp from the goal; raises ``InvalidInput`` saying what is wrong."""
        from dexsafe.sim.wrist import pose_to_wrist_joints

        in_range("lift_height", goal.lift_height, 1e-3, 0.5, "m")
        in_range("timeout", goal.timeout, 0.1, 300.0, "s")
        prop = goal.proposal
        with self._lock:
            known = list(self._objects)
        if prop.object_ids:
            if not known:
                raise InvalidInput("no object list from the sim yet (/dexsafe/objects)")
            check_object_ids(prop.object_ids, known)
        xyz, quat = pose_from_msg(prop.hand_pose, "proposal.hand_pose")
        q = np.concatenate([pose_to_wrist_joints(xyz, quat), self.open_fingers])
        for i, name in enumerate(self.joint_names[:6]):
            if not self.lower[i] - 1e-6 <= q[i] <= self.upper[i] + 1e-6:
                unit = "m" if i < 3 else "rad"
                raise InvalidInput(f"pre-grasp puts {name} at {q[i]:.3f} {unit}, outside "
                                   f"[{self.lower[i]:.3f}, {self.upper[i]:.3f}] (workspace / wrist limits)")
        if len(prop.joint_names) != len(prop.joint_positions):
            raise InvalidInput("proposal.joint_names and joint_positions differ in length")
        values = finite("proposal.joint_positions", prop.joint_positions)
        for name, v in zip(prop.joint_names, values):
            if name not in self.joint_names[6:]:
                raise InvalidInput(f"proposal names joint {name!r}, not a finger joint of {self.hand.name}")
            k = self.joint_names.index(name)
            if not self.lower[k] - JOINT_TOLERANCE <= v <= self.upper[k] + JOINT_TOLERANCE:
                raise InvalidInput(f"proposal joint {name} = {v:.3f} rad is outside "
                                   f"[{self.lower[k]:.3f}, {self.upper[k]:.3f}]")
            q[k] = v
        return np.clip(q, self.lower, self.upper)

    # --- execution --------------------------------------------------------------------------------
    def _execute(self, goal_handle):
        self._busy = True
        try:
            return self._run(goal_handle)
        finally:
            self._busy = False

    def _run(self, goal_handle):
        goal = goal_handle.request
        result = ExecuteGrasp.Result()
        t_start = time.monotonic()
        try:
            pregrasp = self.pregrasp_from_goal(goal)
        except InvalidInput as exc:
            result.message = f"rejected: {exc}"
            self.get_logger().warning(result.message)
            goal_handle.abort()
            return result
        with self._lock:
            q, z0, cost0 = self._q, dict(self._objects), self._cost
        if q is None:
            result.message = "rejected: no /joint_states yet"
            goal_handle.abort()
            return result
        ids = list(goal.proposal.object_ids) or list(z0)
        executor = ScriptedGraspExecutor(pregrasp, self.closing, self.lower, self.upper, self.finger_joints,
                                         goal.lift_height, self.config)
        period = 1.0 / self.p["control_rate"]
        grasp = self._grasp_for(executor, len(ids), period)
        next_tick = time.monotonic()
        while executor.phase != Phase.DONE:
            now = time.monotonic()
            if goal_handle.is_cancel_requested:
                self._open_hand(executor)
                goal_handle.canceled()
                result.message = "cancelled: hand opened and backed off"
                result.duration = now - t_start
                return result
            if now - t_start > goal.timeout:
                self._open_hand(executor)
                goal_handle.abort()
                result.message = f"timed out after {goal.timeout:.1f} s in phase {executor.phase.value}"
                result.duration = now - t_start
                return result
            with self._lock:
                q, qdot, forces, cost = self._q, self._qdot, dict(self._forces), self._cost - cost0
                objects = [self._tracked[o] for o in ids if o in self._tracked]
            had_policy = grasp.policy is not None
            if had_policy and len(objects) != len(ids):
                grasp.stop_policy("an object of the grasp is not tracked (or is a mesh, which it does not know)")
            targets = grasp.update(now - t_start, q, forces, period, qdot, objects)
            if had_policy and grasp.policy is None:
                self.get_logger().warning(f"grasp policy stopped, the scripted executor goes on alone: "
                                          f"{grasp.fallback_reason}")
            self.pub.publish(Float64MultiArray(data=targets.tolist()))
            goal_handle.publish_feedback(ExecuteGrasp.Feedback(
                phase=executor.phase.value if executor.phase != Phase.DONE else "hold",
                progress=float(executor.progress()), cost_so_far=float(cost)))
            next_tick += period
            time.sleep(max(0.0, next_tick - time.monotonic()))
        with self._lock:
            z1 = dict(self._objects)
        need = min(self.p["success_height"], 0.8 * goal.lift_height)
        rise = {o: z1.get(o, 0.0) - z0.get(o, 0.0) for o in ids}
        result.objects_lifted = [o for o, r in rise.items() if r >= need]
        result.success = len(result.objects_lifted) == len(ids)
        result.peak_contact_force = float(grasp.peak_force)
        result.duration = time.monotonic() - t_start
        by = f"residual policy {self.policy.path.name}" if grasp.policy is not None else (
            f"scripted executor; policy stopped: {grasp.fallback_reason}" if grasp.fallback_reason
            else "scripted executor")
        result.message = ("lifted " if result.success else "not all lifted: ") + ", ".join(
            f"{o} {r * 100:.1f} cm" for o, r in rise.items()) + f" (need {need * 100:.1f} cm; {by})"
        (goal_handle.succeed if result.success else goal_handle.abort)()
        self.get_logger().info(result.message)
        return result

    def _grasp_for(self, executor: ScriptedGraspExecutor, num_objects: int, period: float) -> ResidualGraspExecutor:
        """The executor with the trained residual when the policy fits this grasp, else scripted alone."""
        policy = self.policy
        if policy is not None:
            why = policy.mismatch(self.hand.name, num_objects, self.p["control_rate"])
            if why:
                self.get_logger().info(f"grasp policy not used for this grasp ({why}): scripted executor alone")
                policy = None
        decide_every = policy.spec.decide_every if policy else 1
        scales = policy.spec.scales if policy else ResidualScales()
        observation = GraspObservation(list(self.finger_joints), len(self.joint_names), num_objects,
                                       decide_every * period)
        return ResidualGraspExecutor(executor, policy, observation, scales, decide_every)

    def _open_hand(self, executor: ScriptedGraspExecutor, seconds: float = 1.0) -> None:
        with self._lock:
            q = self._q
        if q is None:
            return
        open_q = executor.open_targets(q, np.concatenate([q[:6], self.open_fingers]))
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pub.publish(Float64MultiArray(data=open_q.tolist()))
            time.sleep(1.0 / self.p["control_rate"])


def main(argv: list[str] | None = None) -> int:
    return spin_node(GraspExecutorNode, argv)
