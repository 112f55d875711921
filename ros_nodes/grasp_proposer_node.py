"""The ``grasp_proposer`` node: ``/dexsafe/propose_grasps`` (dexsafe/srv/ProposeGrasps).

MultiGrasp stage 1 behind a service (``dexsafe.grasping``). Objects come, in order of
precedence, from the request's ``objects`` (explicit shapes and poses in ``world``), from
the sim's ``/dexsafe/objects`` (dexsafe/msg/SceneObjects, reliable; when
``use_sim_objects``), or from the ``scene`` parameter's file at its default placement.
``object_ids`` picks among them (empty with explicit ``objects`` = all of those).

The response holds the ``num_proposals`` best proposals, ranked (filter-passing first, then
by energy): wrist (``hand_base``) pose in ``world``, finger joints (the description's
commanded joints, then its passive ones), contacts per object, the weighted energy terms,
and, for the ``validate_top`` best, the MuJoCo validation (gravity test + close-and-lift);
those that pass it move to the front.
The best ``marker_proposals`` are drawn on ``/dexsafe/grasp_markers``
(visualization_msgs/MarkerArray, transient-local). A bad request (unknown id, NaN pose,
no objects, counts or budgets out of range) gets ``success = false`` and the reason; the
node keeps serving. Requests are served one at a time (the optimiser uses the CPU fully).
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np
from geometry_msgs.msg import Point, Vector3
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from dexsafe.core.validation import InvalidInput
from dexsafe.msg import EnergyTerm, GraspContact, GraspProposal, SceneObjects
from dexsafe.ros_nodes.conversions import check_object_ids, object_spec_from_msg, point, pose_to_msg, vector3
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters, spin_node
from dexsafe.srv import ProposeGrasps

PARAMS = [
    ParamSpec("scene", "two_blocks", "scene name or path: table height, and the objects when no sim publishes"),
    ParamSpec("hand", "", "hand description name or path; empty = the scene's hand"),
    ParamSpec("config", "fast_cpu", "grasping profile under config/grasping (fast_cpu, multigrasp) or a path"),
    ParamSpec("use_sim_objects", True, "use object poses from /dexsafe/objects when the sim publishes them"),
    ParamSpec("batch", 0, "samples optimised per request (at least num_proposals); 0 = the profile's batch",
              (0, 4096)),
    ParamSpec("validate_top", 2, "validate this many of the best proposals in MuJoCo; 0 = none", (0, 256)),
    ParamSpec("max_time_budget", 600.0, "the largest time_budget a request may ask for, s", (0.1, 600.0)),
    ParamSpec("marker_proposals", 3, "how many of the best proposals to draw on /dexsafe/grasp_markers", (0, 32)),
    ParamSpec("threads", 1, "torch intra-op threads for the optimiser", (1, 64)),
    ParamSpec("device", "cpu", "torch device of the optimiser (cpu, cuda, cuda:1); one this machine lacks falls "
              "back to the CPU with a logged error"),
]
MAX_PROPOSALS = 256
RANK_COLORS = [(0.1, 0.8, 0.2), (0.95, 0.75, 0.1), (0.9, 0.3, 0.1), (0.5, 0.5, 0.9)]


def proposal_msg(p, num_commanded: int) -> GraspProposal:
    """A library ``Proposal`` as a ``dexsafe/GraspProposal``."""
    v = p.validation
    if v is not None:
        summary = v.summary()
    else:
        summary = "not validated"
    summary = ("filter passed" if p.passed_filter else f"filter failed: {', '.join(p.filter_failures)}") + \
        f"; {summary}"
    return GraspProposal(
        id=p.id, object_ids=list(p.object_ids), hand_pose=pose_to_msg(p.hand_position, p.hand_quat_xyzw),
        joint_names=list(p.joint_names), joint_positions=[float(x) for x in p.joint_positions],
        contacts=[GraspContact(object_id=c.object_id, link=c.link, position=point(c.position),
                               normal=vector3(c.normal), distance=float(c.distance)) for c in p.contacts],
        energy=[EnergyTerm(name=k, value=float(val), weight=float(w)) for k, (val, w) in p.energy.items()],
        energy_total=float(p.energy_total), score=float(p.score),
        validated=bool(v is not None and v.passed and p.passed_filter), validation_summary=summary)


class GraspProposerNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("grasp_proposer", **kwargs)
        from dexsafe.grasping.proposals import GraspProposer, resolve_device, scene_object_poses
        from dexsafe.sim.scene_spec import load_scene

        self.p = declare_parameters(self, PARAMS)
        self.scene = load_scene(self.p["scene"])
        device, problem = resolve_device(self.p["device"])
        if problem:
            self.get_logger().error(f"{problem}; optimising on the CPU")
        self.proposer = GraspProposer(self.p["hand"] or self.scene.hand, self.p["config"], threads=self.p["threads"],
                                      device=device)
        self._scene_objects = {o.id: o for o in scene_object_poses(self.scene)}
        self._sim_objects: dict = {}
        self._lock = threading.Lock()
        self.requests_served = 0
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_markers = self.create_publisher(MarkerArray, "/dexsafe/grasp_markers", latched)
        if self.p["use_sim_objects"]:
            self.create_subscription(SceneObjects, "/dexsafe/objects", self._on_objects, QoSProfile(depth=10),
                                     callback_group=MutuallyExclusiveCallbackGroup())
        self.create_service(ProposeGrasps, "/dexsafe/propose_grasps", self._on_propose,
                            callback_group=ReentrantCallbackGroup())
        h = self.proposer.hand
        self.get_logger().info(
            f"hand {h.description.name!r}: {h.dof} variables, {h.num_contact_candidates} contact candidates; "
            f"profile {self.proposer.config.source}; scene {self.scene.name!r} objects {list(self._scene_objects)}")

    # --- inputs --------------------------------------------------------------------------------
    def _on_objects(self, msg: SceneObjects) -> None:
        from dexsafe.grasping.proposals import ObjectPose

        out = {}
        for i, o in enumerate(msg.objects):
            try:
                spec, (xyz, quat) = object_spec_from_msg(o, i)
            except InvalidInput as exc:
                self.get_logger().warning(f"/dexsafe/objects: skipping object: {exc}", throttle_duration_sec=5.0)
                continue
            out[spec.id] = ObjectPose(spec, tuple(xyz), tuple(quat))
        self._sim_objects = out

    def _objects_for(self, req) -> list:
        from dexsafe.grasping.proposals import ObjectPose

        if req.objects:
            given = {}
            for i, o in enumerate(req.objects):
                spec, (xyz, quat) = object_spec_from_msg(o, i)
                if spec.id in given:
                    raise InvalidInput(f"objects[{i}]: duplicate id {spec.id!r}")
                if spec.shape == "mesh" and (not spec.mesh or not os.path.isfile(spec.mesh)):
                    raise InvalidInput(f"objects[{i}] ({spec.id}): mesh_uri {spec.mesh!r} is not a readable file")
                given[spec.id] = ObjectPose(spec, tuple(xyz), tuple(quat))
            ids = check_object_ids(list(req.object_ids) or list(given), list(given))
            return [given[i] for i in ids]
        known = self._sim_objects or self._scene_objects
        ids = check_object_ids(list(req.object_ids), list(known))
        return [known[i] for i in ids]

    def _check(self, req) -> None:
        if not 1 <= req.num_proposals <= MAX_PROPOSALS:
            raise InvalidInput(f"num_proposals = {req.num_proposals} is outside [1, {MAX_PROPOSALS}]")
        b = float(req.time_budget)
        limit = float(self.p["max_time_budget"])
        if not (math.isfinite(b) and 0 < b <= limit):
            raise InvalidInput(f"time_budget = {b} s is outside (0, {limit}] s")

    # --- the service ---------------------------------------------------------------------------
    def _on_propose(self, req, resp):
        from dexsafe.grasping.proposals import GraspRequestError
        from dexsafe.grasping.validation import validate_proposals, validated_first

        try:
            self._check(req)
            objects = self._objects_for(req)
        except (InvalidInput, ValueError) as exc:
            resp.success, resp.message = False, str(exc)
            self.get_logger().warning(f"propose_grasps rejected: {exc}")
            return resp
        try:
            with self._lock:
                batch = self.p["batch"] or None
                ps = self.proposer.propose(objects, num=int(req.num_proposals), batch=batch,
                                           time_budget=float(req.time_budget), seed=int(req.seed),
                                           table_height=self.scene.table.height)
                k = min(int(self.p["validate_top"]), len(ps.proposals))
                if k:
                    validate_proposals(self.proposer.hand, objects, ps.proposals[:k], self.scene.table.height,
                                       table_size=self.scene.table.size)
                    ps.proposals = validated_first(ps.proposals)
        except (GraspRequestError, ValueError) as exc:
            resp.success, resp.message = False, str(exc)
            return resp
        except Exception as exc:  # noqa: BLE001 - report and keep serving
            self.get_logger().error(f"propose_grasps failed: {type(exc).__name__}: {exc}")
            resp.success, resp.message = False, f"internal error: {type(exc).__name__}: {exc}"
            return resp
        nc = self.proposer.hand.num_commanded
        resp.proposals = [proposal_msg(p, nc) for p in ps.proposals]
        resp.success = True
        n_valid = sum(1 for p in ps.proposals if p.validation is not None and p.validation.passed)
        resp.message = (f"{ps.accepted}/{ps.batch} samples passed the filter in {ps.seconds:.1f} s "
                        f"({ps.optim.steps_a} Langevin + {ps.optim.steps_b} Adam steps"
                        f"{', cut by the time budget' if ps.optim.stopped_by_budget else ''}); "
                        f"{n_valid}/{k} validated in MuJoCo")
        self.requests_served += 1
        self.get_logger().info(f"propose_grasps {[o.id for o in objects]}: {resp.message}")
        self._publish_markers(ps.proposals[: int(self.p["marker_proposals"])])
        return resp

    # --- markers -------------------------------------------------------------------------------
    def _publish_markers(self, proposals) -> None:
        import torch

        header = Header(frame_id="world", stamp=self.get_clock().now().to_msg())
        markers = [Marker(header=header, action=Marker.DELETEALL)]
        hand = self.proposer.hand
        for r, p in enumerate(proposals):
            rgb = RANK_COLORS[min(r, len(RANK_COLORS) - 1)]
            color = ColorRGBA(r=rgb[0], g=rgb[1], b=rgb[2], a=0.6)
            with torch.no_grad():
                pts = hand.surface_points(hand.forward_kinematics(torch.tensor(p.q, dtype=hand.dtype)[None]))[0]
            pts = pts[:: max(1, len(pts) // 300)].double().numpy()
            markers.append(Marker(header=header, ns="hand_points", id=r, type=Marker.SPHERE_LIST,
                                  action=Marker.ADD, scale=Vector3(x=0.006, y=0.006, z=0.006), color=color,
                                  points=[Point(x=float(x), y=float(y), z=float(z)) for x, y, z in pts],
                                  lifetime=Duration(seconds=0).to_msg()))
            markers.append(Marker(header=header, ns="contacts", id=r, type=Marker.SPHERE_LIST, action=Marker.ADD,
                                  scale=Vector3(x=0.012, y=0.012, z=0.012),
                                  color=ColorRGBA(r=1.0, g=0.1, b=0.1, a=1.0),
                                  points=[point(c.position) for c in p.contacts]))
            for k, c in enumerate(p.contacts):
                tip = np.asarray(c.position) + 0.03 * np.asarray(c.normal)
                markers.append(Marker(header=header, ns=f"normals_{r}", id=k, type=Marker.ARROW, action=Marker.ADD,
                                      scale=Vector3(x=0.002, y=0.004, z=0.006),
                                      color=ColorRGBA(r=0.2, g=0.4, b=1.0, a=1.0),
                                      points=[point(c.position), point(tip)]))
            markers.append(Marker(header=header, ns="hand_base", id=r, type=Marker.ARROW, action=Marker.ADD,
                                  pose=pose_to_msg(p.hand_position, p.hand_quat_xyzw),
                                  scale=Vector3(x=0.06, y=0.008, z=0.008), color=color))
        self.pub_markers.publish(MarkerArray(markers=markers))


def main(argv: list[str] | None = None) -> int:
    return spin_node(GraspProposerNode, argv)
