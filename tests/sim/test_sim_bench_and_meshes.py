"""The sim benchmark group runs (shortened), and mesh objects load or fail clearly."""

from __future__ import annotations

import math

import pytest

from dexsafe.sim.benchmarks import run_sim
from dexsafe.sim.compose import object_geometry
from dexsafe.sim.meshes import MeshError, load_mesh
from dexsafe.sim.scene_spec import load_scene


def test_sim_benchmark_rows():
    rows = run_sim(lambda msg: None, scale=0.02)
    names = [r.name for r in rows]
    assert names == ["mj_step two_blocks", "GraspLift-v0 env.step", "GraspLift-v0 vector N=8"]
    assert all(r.value > 0 and math.isfinite(r.value) and r.group == "sim" for r in rows)
    assert rows[1].reference == pytest.approx(rows[0].value / 10)


def test_sim_mesh_object_geometry_from_the_obj():
    cup = load_scene("cup_and_block").object("cup")
    geo = object_geometry(cup)
    assert geo.half_height == pytest.approx(0.04, abs=1e-3)  # the cup is 8 cm tall
    assert 0.03 < geo.footprint_radius < 0.05
    mesh = load_mesh(cup.mesh, 1.0)
    assert abs(mesh.vertices.max(axis=0) + mesh.vertices.min(axis=0)).max() < 1e-9  # centred


def test_sim_bad_mesh_files_are_mesh_errors(tmp_path):
    with pytest.raises(MeshError, match="does not exist"):
        load_mesh(str(tmp_path / "none.obj"))
    flat = tmp_path / "flat.obj"
    flat.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n")
    with pytest.raises(MeshError, match="flat"):
        load_mesh(str(flat))
