"""The small planning models shipped with dexsafe (``make planning-models`` retrains them); a package so
``pip install .`` ships the ``.pt`` files."""
