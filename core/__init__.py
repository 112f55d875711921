"""Small shared pieces every dexsafe library uses: file locations and input checks.

Imports neither rclpy nor MuJoCo nor torch.
"""
