"""dexsafe.sim: MuJoCo scenes with dexterous hands, the simulator backend interface, Gymnasium tasks.

Modules: ``hands`` (hand description files), ``scene_spec`` (scene files),
``placement`` (seeded, overlap-free object poses), ``meshes`` (OBJ/STL via
trimesh), ``compose`` (hand + wrist + table + objects -> MjModel),
``backend`` (``SimBackend`` and its data types), ``mujoco_backend``
(``MujocoBackend``), ``isaac`` (optional Isaac Lab), ``camera`` (depth ->
point cloud), ``geometry`` (quaternion conventions), ``costs`` (safety cost
channels), ``envs`` (Gymnasium tasks), ``scripted`` (a scripted two-object
grasp for the dexsafe hand), ``render`` (PNG pictures), ``benchmarks``
(``make bench`` rows).

Headless default: without a display, offscreen rendering uses OSMesa unless
``MUJOCO_GL`` says otherwise (set before MuJoCo is first imported).
"""

import os as _os

if not _os.environ.get("MUJOCO_GL") and not _os.environ.get("DISPLAY"):
    _os.environ["MUJOCO_GL"] = "osmesa"
    _os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
