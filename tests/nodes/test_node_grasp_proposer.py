"""The grasp_proposer node over real DDS: a request for the scene's objects is served with
ranked proposals and markers; bad requests get clear errors and the node keeps serving."""

from __future__ import annotations

import math

import pytest
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile
from visualization_msgs.msg import MarkerArray

from dexsafe.msg import SceneObject
from dexsafe.ros_nodes.conversions import pose_to_msg
from dexsafe.srv import ProposeGrasps

pytestmark = pytest.mark.ros


@pytest.fixture
def proposer(ros):
    from dexsafe.ros_nodes.grasp_proposer_node import GraspProposerNode

    node = GraspProposerNode(context=ros.context, parameter_overrides=[
        Parameter("scene", value="two_blocks"), Parameter("use_sim_objects", value=False),
        Parameter("batch", value=8), Parameter("validate_top", value=1), Parameter("marker_proposals", value=2)])
    ros.add(node)
    return node


def _call(ros, client, req, timeout=60.0):
    return ros.result(client.call_async(req), timeout, "propose_grasps response")


def _box(oid: str, x: float, y: float, z: float = 0.43, qw: float = 1.0) -> SceneObject:
    return SceneObject(id=oid, label=oid, shape="box", size=[0.022, 0.022, 0.06], mass=0.05, friction=0.9,
                       pose=pose_to_msg([x, y, z], [0.0, 0.0, 0.0, qw]))


def test_propose_serves_and_rejects_bad_requests(ros, proposer):
    probe = ros.node("probe")
    client = probe.create_client(ProposeGrasps, "/dexsafe/propose_grasps")
    assert client.wait_for_service(timeout_sec=10.0)
    markers = []
    probe.create_subscription(MarkerArray, "/dexsafe/grasp_markers", markers.append,
                              QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL))

    # A good request against the scene parameter's objects.
    req = ProposeGrasps.Request(object_ids=["red_block", "blue_block"], num_proposals=3, time_budget=4.0, seed=1)
    resp = _call(ros, client, req)
    assert resp.success, resp.message
    assert len(resp.proposals) == 3
    scores = [p.score for p in resp.proposals]
    assert all(0 < s <= 1 for s in scores)
    best = resp.proposals[0]
    assert set(best.object_ids) == {"red_block", "blue_block"}
    assert len(best.joint_names) == len(best.joint_positions) == 16
    assert {c.object_id for c in best.contacts} == {"red_block", "blue_block"}
    assert [e.name for e in best.energy] == ["force_closure", "contact_distance", "penetration", "joint_limits"]
    assert math.isclose(sum(e.value for e in best.energy), best.energy_total, rel_tol=1e-6, abs_tol=1e-9)
    assert "gravity" in best.validation_summary and "lift" in best.validation_summary
    assert "not validated" in resp.proposals[1].validation_summary
    ros.wait_for(lambda: markers, 10.0, "grasp markers")
    assert any(m.ns == "contacts" for m in markers[-1].markers)

    bad = {
        "unknown id": (ProposeGrasps.Request(object_ids=["nope"], num_proposals=1, time_budget=1.0), "unknown object"),
        "zero objects": (ProposeGrasps.Request(object_ids=[], num_proposals=1, time_budget=1.0), "no object ids"),
        "zero proposals": (ProposeGrasps.Request(object_ids=["red_block"], num_proposals=0, time_budget=1.0),
                           "num_proposals"),
        "absurd count": (ProposeGrasps.Request(object_ids=["red_block"], num_proposals=100000, time_budget=1.0),
                         "num_proposals"),
        "zero budget": (ProposeGrasps.Request(object_ids=["red_block"], num_proposals=1, time_budget=0.0),
                        "time_budget"),
        "NaN budget": (ProposeGrasps.Request(object_ids=["red_block"], num_proposals=1, time_budget=math.nan),
                       "time_budget"),
        "absurd budget": (ProposeGrasps.Request(object_ids=["red_block"], num_proposals=1, time_budget=1e9),
                          "time_budget"),
        "NaN pose": (ProposeGrasps.Request(objects=[_box("a", math.nan, 0.0)], num_proposals=1, time_budget=1.0),
                     "non-finite"),
        "non-unit quaternion": (ProposeGrasps.Request(objects=[_box("a", 0.0, 0.0, qw=3.0)], num_proposals=1,
                                                      time_budget=1.0), "unit quaternion"),
        "id not among given": (ProposeGrasps.Request(object_ids=["b"], objects=[_box("a", 0.0, 0.0)],
                                                     num_proposals=1, time_budget=1.0), "unknown object"),
    }
    for what, (r, needle) in bad.items():
        resp = _call(ros, client, r, timeout=20.0)
        assert not resp.success, what
        assert needle in resp.message, (what, resp.message)
        assert not resp.proposals

    # Still serving: given shapes override the scene's objects.
    req = ProposeGrasps.Request(objects=[_box("a", 0.0, -0.03), _box("b", 0.0, 0.03)], num_proposals=2,
                                time_budget=3.0, seed=2)
    resp = _call(ros, client, req)
    assert resp.success, resp.message
    assert len(resp.proposals) == 2 and set(resp.proposals[0].object_ids) == {"a", "b"}
    assert proposer.requests_served == 2
