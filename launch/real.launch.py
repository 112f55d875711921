"""`ros2 launch dexsafe real.launch.py [name:=value ...]`: the real graph.

The nodes, their config/*.yaml files, overrides and remappings are described once in
dexsafe.ros_nodes.graph; without a ROS distro, `dexsafe launch real` starts the same graph.
Arguments: `ros2 launch dexsafe real.launch.py --show-args`.
"""

from dexsafe.ros_nodes.graph import launch_description


def generate_launch_description():
    return launch_description("real")
