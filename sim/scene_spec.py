"""Scene files: what a scene YAML in ``config/scenes/`` says, as plain dataclasses.

Pure Python (no MuJoCo): the planner reads the same files as the simulator.
Frames and units follow REP-103: metres, radians, kilograms, newtons; every
position is in ``world`` (z up, table top at ``table.height``).

Format (every key documented; unknown keys are an error, so typos surface)::

    name: two_blocks                # scene name (defaults to the file stem)
    description: "..."              # free text
    hand: dexsafe_hand              # config/hands/<name>.yaml, or a path
    seed: 0                         # default seed for object placement
    table:
      size: [0.8, 0.6]              # x, y extent of the table top, m
      height: 0.40                  # z of the table top surface in world, m
      friction: 0.8
    workspace:                      # box the wrist must stay in, world frame, m
      min: [-0.35, -0.3, 0.40]
      max: [0.35, 0.3, 0.85]
    objects:
      - id: red_block               # unique, [a-z0-9_]
        label: red block            # words a person uses for it
        shape: box                  # box | cylinder | sphere | capsule | mesh
        size: [0.05, 0.05, 0.05]    # box: full x,y,z extents; cylinder: [radius, height];
                                    # sphere: [radius]; capsule: [radius, cylinder length];
                                    # mesh: [scale] (optional, default 1)
        mesh: meshes/mug.obj        # mesh shapes only; relative to the scene file
        mass: 0.10                  # kg
        friction: 0.8               # sliding friction coefficient
        color: [0.8, 0.1, 0.1, 1.0] # RGBA
        max_contact_force: 15.0     # N; more is damage (a cost channel, and a planner limit)
        tags: [fragile]             # free tags for planning: sharp, fragile, liquid, heavy, ...
        position: [0.0, 0.05]       # optional fixed x, y (z: resting on the table)
        yaw: 0.0                    # optional fixed yaw, rad
        region: {min: [-0.1, -0.1], max: [0.1, 0.1]}  # optional x, y sampling region
    zones:                          # optional named boxes in world
      - id: person
        kind: keep_out              # keep_out | handover | place
        min: [0.3, -0.3, 0.4]
        max: [0.6, 0.3, 1.2]
    relations:                      # optional facts for the planner
      - [knife, in, knife_block]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dexsafe.core import yaml_io
from dexsafe.core.paths import resolve_data_file

SHAPES = ("box", "cylinder", "sphere", "capsule", "mesh")
ZONE_KINDS = ("keep_out", "handover", "place")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_SIZE_LEN = {"box": 3, "cylinder": 2, "sphere": 1, "capsule": 2}


class SceneError(ValueError):
    """A scene file that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class ObjectSpec:
    """One object in a scene. Units: m, kg, N; positions in ``world``."""

    id: str
    label: str
    shape: str
    size: tuple[float, ...]
    mass: float = 0.1
    friction: float = 0.8
    color: tuple[float, float, float, float] = (0.6, 0.6, 0.6, 1.0)
    max_contact_force: float = 20.0
    tags: tuple[str, ...] = ()
    mesh: str | None = None
    position: tuple[float, float] | None = None
    yaw: float | None = None
    region: tuple[tuple[float, float], tuple[float, float]] | None = None

    def half_height(self) -> float:
        """Distance from the object's origin to its lowest point when upright, m."""
        if self.shape == "box":
            return self.size[2] / 2
        if self.shape == "cylinder":
            return self.size[1] / 2
        if self.shape == "sphere":
            return self.size[0]
        if self.shape == "capsule":
            return self.size[1] / 2 + self.size[0]
        raise SceneError(f"half_height of a mesh needs its geometry (object {self.id!r})")

    def footprint_radius(self) -> float:
        """Radius of a circle in x-y that contains the object when upright, m."""
        if self.shape == "box":
            return 0.5 * (self.size[0] ** 2 + self.size[1] ** 2) ** 0.5
        if self.shape in ("cylinder", "sphere", "capsule"):
            return self.size[0]
        raise SceneError(f"footprint of a mesh needs its geometry (object {self.id!r})")


@dataclass(frozen=True)
class ZoneSpec:
    """A named axis-aligned box in ``world``, m."""

    id: str
    kind: str
    min: tuple[float, float, float]
    max: tuple[float, float, float]

    def contains(self, xyz) -> bool:
        return all(lo <= v <= hi for lo, v, hi in zip(self.min, xyz, self.max))


@dataclass(frozen=True)
class TableSpec:
    size: tuple[float, float] = (0.8, 0.6)
    height: float = 0.40
    friction: float = 0.8


@dataclass(frozen=True)
class SceneSpec:
    """A whole scene: hand, table, objects, zones, relations."""

    name: str
    hand: str = "dexsafe_hand"
    description: str = ""
    seed: int = 0
    table: TableSpec = field(default_factory=TableSpec)
    workspace_min: tuple[float, float, float] = (-0.35, -0.3, 0.40)
    workspace_max: tuple[float, float, float] = (0.35, 0.3, 0.85)
    objects: tuple[ObjectSpec, ...] = ()
    zones: tuple[ZoneSpec, ...] = ()
    relations: tuple[tuple[str, str, str], ...] = ()
    source: Path | None = None

    def object(self, object_id: str) -> ObjectSpec:
        """The object with this id; ``KeyError`` listing the known ids otherwise."""
        for obj in self.objects:
            if obj.id == object_id:
                return obj
        raise KeyError(f"unknown object id {object_id!r}; scene {self.name!r} has {self.object_ids()}")

    def object_ids(self) -> list[str]:
        return [o.id for o in self.objects]


def _floats(where: str, value, n: int | None = None) -> tuple[float, ...]:
    if isinstance(value, (int, float)):
        value = [value]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise SceneError(f"{where}: expected numbers, got {value!r}") from exc
    if n is not None and len(out) != n:
        raise SceneError(f"{where}: expected {n} numbers, got {len(out)}")
    if any(v != v or v in (float("inf"), float("-inf")) for v in out):
        raise SceneError(f"{where}: non-finite value in {out}")
    return out


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise SceneError(f"{where}: expected a mapping, got {type(data).__name__}")
    extra = set(data) - allowed
    if extra:
        raise SceneError(f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}")


def _parse_object(where: str, data: dict, base: Path | None) -> ObjectSpec:
    _check_keys(where, data, {"id", "label", "shape", "size", "mesh", "mass", "friction", "color",
                              "max_contact_force", "tags", "position", "yaw", "region"})
    oid = str(data.get("id", ""))
    if not _ID.match(oid):
        raise SceneError(f"{where}: id {oid!r} must match [a-z][a-z0-9_]*")
    shape = data.get("shape")
    if shape not in SHAPES:
        raise SceneError(f"{where} ({oid}): shape {shape!r} is not one of {SHAPES}")
    mesh = data.get("mesh")
    if shape == "mesh":
        if not mesh:
            raise SceneError(f"{where} ({oid}): a mesh object needs 'mesh: path'")
        mesh_path = Path(mesh) if Path(mesh).is_absolute() or base is None else base / mesh
        if not mesh_path.is_file():
            raise SceneError(f"{where} ({oid}): mesh file {mesh_path} does not exist")
        mesh = str(mesh_path)
        size = _floats(f"{where}.size", data.get("size", [1.0]), 1)
    else:
        size = _floats(f"{where}.size", data.get("size"), _SIZE_LEN[shape])
    if any(s <= 0 for s in size):
        raise SceneError(f"{where} ({oid}): size must be positive, got {size}")
    mass = _floats(f"{where}.mass", data.get("mass", 0.1), 1)[0]
    friction = _floats(f"{where}.friction", data.get("friction", 0.8), 1)[0]
    fmax = _floats(f"{where}.max_contact_force", data.get("max_contact_force", 20.0), 1)[0]
    if mass <= 0 or friction <= 0 or fmax <= 0:
        raise SceneError(f"{where} ({oid}): mass, friction and max_contact_force must be positive")
    region = data.get("region")
    if region is not None:
        _check_keys(f"{where}.region", region, {"min", "max"})
        region = (_floats(f"{where}.region.min", region.get("min"), 2),
                  _floats(f"{where}.region.max", region.get("max"), 2))
    position = data.get("position")
    if position is not None:
        position = _floats(f"{where}.position", position, 2)
    yaw = data.get("yaw")
    if yaw is not None:
        yaw = _floats(f"{where}.yaw", yaw, 1)[0]
    return ObjectSpec(
        id=oid,
        label=str(data.get("label", oid.replace("_", " "))),
        shape=shape,
        size=size,
        mass=mass,
        friction=friction,
        color=_floats(f"{where}.color", data.get("color", [0.6, 0.6, 0.6, 1.0]), 4),
        max_contact_force=fmax,
        tags=tuple(str(t) for t in data.get("tags", ()) or ()),
        mesh=mesh,
        position=position,
        yaw=yaw,
        region=region,
    )


def parse_scene(data: dict, name: str = "scene", source: Path | None = None) -> SceneSpec:
    """Build a ``SceneSpec`` from already-loaded YAML data; raises ``SceneError``."""
    where = str(source) if source else name
    _check_keys(where, data, {"name", "description", "hand", "seed", "table", "workspace",
                              "objects", "zones", "relations"})
    base = source.parent if source else None
    table = data.get("table", {}) or {}
    _check_keys(f"{where}.table", table, {"size", "height", "friction"})
    table_spec = TableSpec(
        size=_floats(f"{where}.table.size", table.get("size", [0.8, 0.6]), 2),
        height=_floats(f"{where}.table.height", table.get("height", 0.40), 1)[0],
        friction=_floats(f"{where}.table.friction", table.get("friction", 0.8), 1)[0],
    )
    ws = data.get("workspace", {}) or {}
    _check_keys(f"{where}.workspace", ws, {"min", "max"})
    ws_min = _floats(f"{where}.workspace.min", ws.get("min", [-0.35, -0.3, 0.40]), 3)
    ws_max = _floats(f"{where}.workspace.max", ws.get("max", [0.35, 0.3, 0.85]), 3)
    if any(lo >= hi for lo, hi in zip(ws_min, ws_max)):
        raise SceneError(f"{where}.workspace: min {ws_min} must be below max {ws_max}")
    objects = tuple(_parse_object(f"{where}.objects[{i}]", o, base)
                    for i, o in enumerate(data.get("objects", []) or []))
    ids = [o.id for o in objects]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise SceneError(f"{where}: duplicate object id(s) {dup}")
    zones = []
    for i, z in enumerate(data.get("zones", []) or []):
        _check_keys(f"{where}.zones[{i}]", z, {"id", "kind", "min", "max"})
        if z.get("kind") not in ZONE_KINDS:
            raise SceneError(f"{where}.zones[{i}]: kind {z.get('kind')!r} is not one of {ZONE_KINDS}")
        zones.append(ZoneSpec(str(z.get("id")), z["kind"], _floats(f"{where}.zones[{i}].min", z.get("min"), 3),
                              _floats(f"{where}.zones[{i}].max", z.get("max"), 3)))
    relations = []
    for i, r in enumerate(data.get("relations", []) or []):
        if not (isinstance(r, (list, tuple)) and len(r) == 3):
            raise SceneError(f"{where}.relations[{i}]: expected [subject, relation, object], got {r!r}")
        relations.append(tuple(str(x) for x in r))
    return SceneSpec(
        name=str(data.get("name", name)),
        hand=str(data.get("hand", "dexsafe_hand")),
        description=str(data.get("description", "")),
        seed=int(data.get("seed", 0)),
        table=table_spec,
        workspace_min=ws_min,
        workspace_max=ws_max,
        objects=objects,
        zones=tuple(zones),
        relations=tuple(relations),
        source=source,
    )


def load_scene(name_or_path: str | os.PathLike) -> SceneSpec:
    """Load a scene by path or by name under ``config/scenes/``; raises ``SceneError``."""
    try:
        path = resolve_data_file(name_or_path, "scenes")
    except FileNotFoundError as exc:
        raise SceneError(str(exc)) from exc
    try:
        data = yaml_io.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SceneError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        raise SceneError(f"{path}: empty scene file")
    return parse_scene(data, name=path.stem, source=path)
