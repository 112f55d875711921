"""config/scenes/kitchen_table.yaml: the contents issue 6 asks for, physically plausible and non-overlapping."""

from __future__ import annotations

import itertools
import math

from dexsafe.sim.scene_spec import load_scene

SCENE = load_scene("kitchen_table")


def _half_extents(o):
    return (o.size[0] / 2, o.size[1] / 2) if o.shape == "box" else (o.size[0], o.size[0])


def _volume(o):
    if o.shape == "box":
        return o.size[0] * o.size[1] * o.size[2]
    if o.shape == "cylinder":
        return math.pi * o.size[0] ** 2 * o.size[1]
    return 4 / 3 * math.pi * o.size[0] ** 3


def test_contents():
    ids = set(SCENE.object_ids())
    assert {"red_cup", "blue_cup", "glass_cup", "red_block", "green_block", "apple", "banana", "orange", "knife",
            "phone", "tray", "bowl", "plate", "cutting_board", "knife_block", "charging_pad"} <= ids
    tags = {o.id: set(o.tags) for o in SCENE.objects}
    assert {"liquid", "fragile"} <= tags["glass_cup"] and "sharp" in tags["knife"] and "electronics" in tags["phone"]
    kinds = {z.kind for z in SCENE.zones}
    assert {"keep_out", "handover"} <= kinds
    assert all(o.shape != "mesh" for o in SCENE.objects)


def test_objects_are_plausible_and_do_not_overlap():
    for o in SCENE.objects:
        density = o.mass / _volume(o)
        assert 100 < density < 12000, f"{o.id}: {density:.0f} kg/m^3"
        assert 0.01 < o.mass < 3 and 0 < o.max_contact_force <= 100
        hx, hy = _half_extents(o)
        x, y = o.position
        assert abs(x) + hx <= SCENE.table.size[0] / 2 and abs(y) + hy <= SCENE.table.size[1] / 2, o.id
        for z in SCENE.zones:
            if z.kind == "keep_out":
                assert y + hy < z.min[1], f"{o.id} lies in keep-out zone {z.id}"
    for a, b in itertools.combinations(SCENE.objects, 2):
        (ax, ay), (bx, by) = _half_extents(a), _half_extents(b)
        sep = abs(a.position[0] - b.position[0]) >= ax + bx or abs(a.position[1] - b.position[1]) >= ay + by
        assert sep, f"{a.id} overlaps {b.id}"
