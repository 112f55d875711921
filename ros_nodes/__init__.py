"""dexsafe.ros_nodes: thin rclpy nodes. Each converts messages to library types,
calls a library, and converts back; parameters are declared with types,
defaults and descriptions and set from config/*.yaml."""
