"""Residual grasp-and-lift policies shipped with dexsafe (``make grasp-policy`` retrains them); a package so
``pip install .`` ships the ``.pt`` files."""
