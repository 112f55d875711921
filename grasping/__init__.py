"""dexsafe.grasping"""
