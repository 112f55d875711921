"""The ``sim`` node: MuJoCo behind ros2_control-style topics.

In:
- ``/hand_controller/commands`` (std_msgs/Float64MultiArray): position targets
  in the order of the ``joints`` reported on ``/joint_states`` (wrist joints,
  then finger joints; rad for hinges, m for slides), the
  forward_command_controller convention;
- ``/hand_controller/joint_trajectory`` (trajectory_msgs/JointTrajectory):
  points interpolated linearly in sim time from receipt;
- ``~/reset`` (dexsafe/srv/ResetScene).

Out: ``/joint_states``, ``/clock`` (sim time), ``/dexsafe/objects``
(dexsafe/msg/SceneObjects, poses in ``world``), ``/dexsafe/contacts``
(dexsafe/msg/HandContacts), ``/dexsafe/scene_cloud`` (sensor_msgs/PointCloud2
in ``world``, sensor-data QoS, at ``cloud_rate``).

Physics runs in its own thread: ``real_time_factor`` 1 paces it to the wall
clock, 0 runs as fast as possible (other nodes then use ``/clock``). Position
targets take effect once per ``1/publish_rate`` of sim time, the controller's
update period (ros2_control's ``update_rate``). At real_time_factor 0 the state
is published at most ``max_speed_publish_rate`` times per wall second (each
message stamped with its sim time; ``/clock`` advances in steps), so building
and sending messages does not hold physics back; 0 publishes every period. While
no new command or trajectory is pending it steps ``MAX_SPEED_CHUNK`` periods per
call (a command arriving meanwhile applies at the next chunk, about 1 ms of wall
time later). Bad
commands (wrong length, NaN, unknown joint names) are rejected with a logged
reason; the sim keeps running.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from builtin_interfaces.msg import Time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import JointState, PointCloud2, PointField
from std_msgs.msg import Float64MultiArray, Header
from trajectory_msgs.msg import JointTrajectory

from dexsafe.core.stamps import sec_nanosec
from dexsafe.core.validation import InvalidInput
from dexsafe.msg import HandContact, HandContacts, SceneObjects
from dexsafe.ros_nodes.conversions import object_spec_to_msg, point, vector3
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node
from dexsafe.srv import ResetScene

MAX_SPEED_CHUNK = 4
"""At real_time_factor 0, controller periods stepped in one call while no new command or trajectory
is pending (about a millisecond of wall time: a command arriving meanwhile applies at the next chunk)."""

PARAMS = [
    ParamSpec("scene", "two_blocks", "scene name under config/scenes, or a path to a scene YAML"),
    ParamSpec("hand", "", "hand description name or path; empty = the scene's hand"),
    ParamSpec("backend", "mujoco", "simulator: mujoco (default) or isaaclab (needs Isaac Lab installed)"),
    ParamSpec("seed", -1, "object placement seed; -1 = the scene file's seed", (-1, 2**31 - 1)),
    ParamSpec("publish_rate", 100.0, "Hz of sim time for /joint_states, /clock, objects, contacts",
              (1.0, 2000.0)),
    ParamSpec("real_time_factor", 1.0, "sim seconds per wall second; 0 = as fast as possible",
              (0.0, 100.0)),
    ParamSpec("max_speed_publish_rate", 100.0, "at real_time_factor 0: most state publications per wall "
              "second (stamps stay sim time); 0 = every publish period of sim time", (0.0, 2000.0)),
    ParamSpec("cloud_rate", 1.0, "Hz of sim time for /dexsafe/scene_cloud; 0 = off", (0.0, 30.0)),
    ParamSpec("cloud_width", 160, "depth image width for the point cloud, px", (16, 1280)),
    ParamSpec("cloud_height", 120, "depth image height for the point cloud, px", (16, 960)),
    ParamSpec("camera", "", "MuJoCo camera for the point cloud; empty = the scene's default camera"),
]


def stamp(t: float) -> Time:
    """Sim time in seconds -> builtin_interfaces/Time."""
    sec, nanosec = sec_nanosec(t)
    return Time(sec=sec, nanosec=nanosec)


def cloud_msg(points: np.ndarray, header: Header) -> PointCloud2:
    """(N, 3) float32 points in ``header.frame_id`` -> an unorganised PointCloud2."""
    pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate("xyz")]
    return PointCloud2(header=header, height=1, width=len(pts), fields=fields, is_bigendian=False,
                       point_step=12, row_step=12 * len(pts), data=pts.tobytes(), is_dense=True)


class TrajectoryFollower:
    """Linear interpolation of a JointTrajectory in sim time, mapped onto the sim's joint order."""

    def __init__(self, index: np.ndarray, times: np.ndarray, points: np.ndarray, start: float) -> None:
        self.index, self.times, self.points, self.start = index, times, points, start

    @classmethod
    def from_msg(cls, msg: JointTrajectory, joint_names: list[str], start: float) -> TrajectoryFollower:
        unknown = [n for n in msg.joint_names if n not in joint_names]
        if unknown or not msg.joint_names:
            raise InvalidInput(f"trajectory joint names {unknown or '(none)'} not in {joint_names}")
        if not msg.points:
            raise InvalidInput("trajectory has no points")
        times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in msg.points])
        pts = np.array([list(p.positions) for p in msg.points], dtype=float)
        if pts.shape != (len(msg.points), len(msg.joint_names)):
            raise InvalidInput("every trajectory point needs one position per joint name")
        if not np.all(np.isfinite(pts)) or np.any(np.diff(times) <= 0) or times[0] < 0:
            raise InvalidInput("trajectory positions must be finite and times strictly increasing from >= 0")
        index = np.array([joint_names.index(n) for n in msg.joint_names])
        return cls(index, times, pts, start)

    def sample(self, t: float, targets: np.ndarray) -> np.ndarray:
        """``targets`` with the trajectory's joints set to their values at sim time ``t``."""
        dt = t - self.start
        out = targets.copy()
        out[self.index] = [np.interp(dt, self.times, self.points[:, j]) for j in range(self.points.shape[1])]
        return out

    def done(self, t: float) -> bool:
        return t - self.start >= self.times[-1]


class SimNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("sim", **kwargs)
        self.p = declare_parameters(self, PARAMS)
        self._lock = threading.Lock()
        self._backend = None
        self._targets: np.ndarray | None = None
        self._applied: np.ndarray | None = None  # the targets the backend holds (identity: new array = new targets)
        self._trajectory: TrajectoryFollower | None = None
        self.rejected_commands = 0
        self._object_cache: dict = {}
        self._object_cache_for = None
        self._load(self.p["scene"], self.p["seed"])

        reliable = QoSProfile(depth=10)
        self.pub_joint_states = self.create_publisher(JointState, "/joint_states", reliable)
        self.pub_clock = self.create_publisher(Clock, "/clock", reliable)
        self.pub_objects = self.create_publisher(SceneObjects, "/dexsafe/objects", reliable)
        self.pub_contacts = self.create_publisher(HandContacts, "/dexsafe/contacts", reliable)
        self.pub_cloud = self.create_publisher(PointCloud2, "/dexsafe/scene_cloud", qos_profile_sensor_data)
        group = MutuallyExclusiveCallbackGroup()
        self.create_subscription(Float64MultiArray, "/hand_controller/commands", self._on_command, reliable,
                                 callback_group=group)
        self.create_subscription(JointTrajectory, "/hand_controller/joint_trajectory", self._on_trajectory,
                                 reliable, callback_group=group)
        self.create_service(ResetScene, "~/reset", self._on_reset, callback_group=group)

        self._running = True
        self.steps = 0
        self.skipped_publications = 0
        self.publications = 0
        self._last_publish_wall = -1e9
        self._thread = threading.Thread(target=self._physics_loop, name="sim-physics", daemon=True)
        self._thread.start()
        self.get_logger().info(
            f"scene {self._backend.scene.name!r} with hand {self._backend.hand.name!r}: "
            f"{len(self.joint_names)} joints, objects {self._backend.scene.object_ids()}, "
            f"dt {self._backend.timestep} s, real_time_factor {self.p['real_time_factor']}")

    # --- set-up -------------------------------------------------------------------------------
    def _load(self, scene: str, seed: int) -> None:
        from dexsafe.sim.backend import make_backend
        from dexsafe.sim.scene_spec import load_scene

        backend = make_backend(self.p["backend"], load_scene(scene), self.p["hand"] or None)
        backend.reset(seed=None if seed < 0 else seed)
        old, self._backend = self._backend, backend
        self.joint_names = list(backend.joint_names)
        self._targets = self._measured_targets(backend)
        self._trajectory = None
        if old is not None:
            old.close()

    def _measured_targets(self, backend) -> np.ndarray:
        """Hold the current posture: the commanded joints' measured positions."""
        return np.array(backend.joint_state().position[: len(self.joint_names)], dtype=float)

    # --- inputs -------------------------------------------------------------------------------
    def _reject(self, why: str) -> None:
        self.rejected_commands += 1
        self.get_logger().warning(f"command rejected: {why}", throttle_duration_sec=1.0)

    def _on_command(self, msg: Float64MultiArray) -> None:
        q = np.asarray(msg.data, dtype=float)
        if q.shape != (len(self.joint_names),):
            return self._reject(f"{q.size} values, expected {len(self.joint_names)} (order: {self.joint_names})")
        if not np.all(np.isfinite(q)):
            return self._reject(f"non-finite values at {np.flatnonzero(~np.isfinite(q)).tolist()}")
        with self._lock:
            self._trajectory = None
            self._targets = q

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        try:
            with self._lock:
                self._trajectory = TrajectoryFollower.from_msg(msg, self.joint_names, self._backend.time)
        except InvalidInput as exc:
            self._reject(str(exc))

    def _on_reset(self, req, resp):
        try:
            with self._lock:
                if req.scene:
                    self._load(req.scene, int(req.seed))
                else:
                    self._backend.reset(seed=None if req.seed < 0 else int(req.seed))
                    self._targets = self._measured_targets(self._backend)
                    self._trajectory = None
                resp.objects = self._object_msgs()
            resp.success, resp.message = True, f"scene {self._backend.scene.name!r} reset"
        except (ValueError, FileNotFoundError) as exc:  # SceneError, HandError, InvalidInput are ValueErrors
            resp.success, resp.message = False, str(exc)
        return resp

    # --- physics thread -----------------------------------------------------------------------
    def _physics_loop(self) -> None:
        """Step in chunks up to the next publish instant (the controller update: targets
        apply once per 1/publish_rate of sim time, as ros2_control's update_rate), publish,
        and sleep to hold the real-time factor."""
        next_pub = next_cloud = 0.0
        wall0, sim0 = time.perf_counter(), None
        while self._running and self.context.ok():
            try:
                sim0, wall0, next_pub, next_cloud = self._physics_tick(sim0, wall0, next_pub, next_cloud)
            except Exception as exc:  # noqa: BLE001 - the sim must keep running; report and go on
                if not self.context.ok():
                    break  # shutting down
                self.get_logger().error(f"physics tick failed: {type(exc).__name__}: {exc}",
                                        throttle_duration_sec=1.0)
                with self._lock:
                    self._trajectory = None
                    self._targets = self._measured_targets(self._backend)
                time.sleep(0.01)

    def _physics_tick(self, sim0, wall0, next_pub, next_cloud):
        """One controller period: step to the next publish instant, publish, pace."""
        with self._lock:
            backend = self._backend
            t = backend.time
            if sim0 is None or t < sim0:  # first run or a reset
                wall0, sim0 = time.perf_counter(), t
                next_pub = next_cloud = t
            idle = self._trajectory is None and self._targets is self._applied
            if self._trajectory is not None:
                self._targets = self._trajectory.sample(t, self._targets)
                if self._trajectory.done(t):
                    self._trajectory = None
            if self._targets is not self._applied:  # a new command, a trajectory sample or a reset
                backend.set_joint_targets(self._targets)
                self._applied = self._targets
            # As fast as possible with nothing new to apply: several controller periods in one call.
            chunk = MAX_SPEED_CHUNK if idle and self.p["real_time_factor"] == 0 else 1
            period = 1.0 / self.p["publish_rate"]
            until = next_pub + (chunk - 1) * period
            n = max(1, int(round((until - t) / backend.timestep)))
            backend.step(n)
            self.steps += n
            t = backend.time
            publish = t >= until - 0.5 * backend.timestep
            cloud = self.p["cloud_rate"] > 0 and t >= next_cloud - 0.5 * backend.timestep
            if publish:
                next_pub = until + period
                publish = self._publication_due()
            if publish:
                msgs = self._state_msgs(t)
            if cloud:
                next_cloud += 1.0 / self.p["cloud_rate"]
                pts = backend.point_cloud(camera=self.p["camera"] or None, width=self.p["cloud_width"],
                                          height=self.p["cloud_height"])
        if publish:
            self._publish(*msgs)
            self.publications += 1
        if cloud:
            self.pub_cloud.publish(cloud_msg(pts, Header(stamp=stamp(t), frame_id="world")))
        rtf = self.p["real_time_factor"]
        if rtf > 0:
            ahead = (t - sim0) / rtf - (time.perf_counter() - wall0)
            if ahead > 0:
                time.sleep(ahead)
        return sim0, wall0, next_pub, next_cloud

    def _publication_due(self) -> bool:
        """At real_time_factor 0, hold publications to ``max_speed_publish_rate`` per wall second."""
        cap = self.p["max_speed_publish_rate"]
        if self.p["real_time_factor"] > 0 or cap <= 0:
            return True
        now = time.perf_counter()
        if now - self._last_publish_wall < 1.0 / cap:
            self.skipped_publications += 1
            return False
        self._last_publish_wall = now
        return True

    def _object_msgs(self):
        """The scene's objects as SceneObject messages with current poses. The static
        fields are built once per scene; only poses change (publishing serialises
        immediately, so reusing the messages is safe)."""
        b = self._backend
        if self._object_cache_for is not b:
            specs = {o.id: o for o in b.scene.objects}
            self._object_cache = {s.id: object_spec_to_msg(specs[s.id], s.position, s.orientation)
                                  for s in b.object_states()}
            self._object_cache_for = b
        out = []
        for s in b.object_states():
            msg = self._object_cache[s.id]
            p, q = msg.pose.position, msg.pose.orientation
            p.x, p.y, p.z = (float(v) for v in s.position)
            q.x, q.y, q.z, q.w = (float(v) for v in s.orientation)
            out.append(msg)
        return out

    def _state_msgs(self, t: float):
        b = self._backend
        js = b.joint_state()
        header = Header(stamp=stamp(t), frame_id="world")
        joint_msg = JointState(header=Header(stamp=header.stamp), name=list(js.names),
                               position=js.position.tolist(), velocity=js.velocity.tolist(),
                               effort=js.effort.tolist())
        objects = SceneObjects(header=header, objects=self._object_msgs())
        contacts = HandContacts(header=header, contacts=[
            HandContact(link=c.hand_body, other=c.other, position=point(c.position), normal=vector3(c.normal),
                        normal_force=float(c.normal_force)) for c in b.contacts()])
        return Clock(clock=header.stamp), joint_msg, objects, contacts

    def _publish(self, clock, joints, objects, contacts) -> None:
        self.pub_clock.publish(clock)
        self.pub_joint_states.publish(joints)
        self.pub_objects.publish(objects)
        self.pub_contacts.publish(contacts)

    def destroy_node(self) -> None:
        self._running = False
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        if self._backend is not None:
            self._backend.close()
        super().destroy_node()


def main(argv: list[str] | None = None) -> int:
    return spin_node(SimNode, argv)
