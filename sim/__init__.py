"""dexsafe.sim"""
