"""dexsafe.evaluation: rosbag record/replay, metrics, reports, and the benchmark harness.

Never imports rclpy.
"""
