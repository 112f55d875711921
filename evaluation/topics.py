"""The stack's topics a run is recorded on, with their types and offered QoS.

Names are the defaults of the sim and safety_shield nodes (DESIGN.md, "ROS
graph"); replay and dataset conversion look for exactly these. A bag from a
remapped graph is read with a ``TopicMap`` naming the recorded topics.
"""

from __future__ import annotations

from dataclasses import dataclass

from dexsafe.evaluation.bag_writer import RELIABLE, SENSOR_DATA, make_qos

JOINT_STATES = "/joint_states"
CLOCK = "/clock"
OBJECTS = "/dexsafe/objects"
CONTACTS = "/dexsafe/contacts"
SCENE_CLOUD = "/dexsafe/scene_cloud"
POLICY_COMMANDS = "/dexsafe/policy_commands"
HAND_COMMANDS = "/hand_controller/commands"
COST = "/dexsafe/cost"
DIAGNOSTICS = "/diagnostics"
ESTOP = "/dexsafe/estop"
MISSION_PLAN = "/dexsafe/mission/plan"

#: topic -> (message type, offered QoS) as the stack's nodes publish them.
STACK_TOPICS: dict[str, tuple[str, object]] = {
    JOINT_STATES: ("sensor_msgs/msg/JointState", RELIABLE),
    CLOCK: ("rosgraph_msgs/msg/Clock", RELIABLE),
    OBJECTS: ("dexsafe/msg/SceneObjects", RELIABLE),
    CONTACTS: ("dexsafe/msg/HandContacts", RELIABLE),
    SCENE_CLOUD: ("sensor_msgs/msg/PointCloud2", SENSOR_DATA),
    POLICY_COMMANDS: ("std_msgs/msg/Float64MultiArray", RELIABLE),
    HAND_COMMANDS: ("std_msgs/msg/Float64MultiArray", RELIABLE),
    COST: ("std_msgs/msg/Float64", RELIABLE),
    DIAGNOSTICS: ("diagnostic_msgs/msg/DiagnosticArray", RELIABLE),
    ESTOP: ("std_msgs/msg/Bool", RELIABLE),
    MISSION_PLAN: ("dexsafe/msg/Plan", make_qos(durability="transient_local", depth=10)),
}


@dataclass(frozen=True)
class TopicMap:
    """Which recorded topic plays which role in an evaluation (defaults: the stack's names)."""

    joint_states: str = JOINT_STATES
    objects: str = OBJECTS
    contacts: str = CONTACTS
    policy_commands: str = POLICY_COMMANDS
    hand_commands: str = HAND_COMMANDS
    cost: str = COST
    estop: str = ESTOP
    plans: str = MISSION_PLAN
