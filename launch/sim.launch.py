"""`ros2 launch dexsafe sim.launch.py [name:=value ...]`: the sim graph.

The nodes, their config/*.yaml files, overrides and remappings are described once in
dexsafe.ros_nodes.graph; without a ROS distro, `dexsafe launch sim` starts the same graph.
Arguments: `ros2 launch dexsafe sim.launch.py --show-args`.
"""

from dexsafe.ros_nodes.graph import launch_description


def generate_launch_description():
    return launch_description("sim")
