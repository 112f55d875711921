"""Make ``cup.obj``: a small tapered cup (trimesh surface of revolution), metres.

Run: ``python config/scenes/meshes/make_cup.py``. Outer radius 3.2 cm at the rim,
2.6 cm at the base, 8 cm tall, 3 mm walls; the origin is at the centre of the base.
"""

from pathlib import Path

import numpy as np
import trimesh

# (radius, z) profile from the outer base, up the outside, over the rim, down the inside.
profile = np.array([
    [0.0, 0.0], [0.026, 0.0], [0.032, 0.080], [0.029, 0.080], [0.0235, 0.004], [0.0, 0.004],
])
cup = trimesh.creation.revolve(profile, sections=40)
cup.merge_vertices()
out = Path(__file__).with_name("cup.obj")
cup.export(out)
print(f"wrote {out}: {len(cup.vertices)} vertices, watertight={cup.is_watertight}, volume={cup.volume:.2e} m^3")
