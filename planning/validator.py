"""The plan validator: a deterministic check that fails closed.

``validate_plan(plan, scene, limits)`` steps through the plan with a small model
of the hand's state (what it holds, what it is over, how high) and returns every
``Violation`` found: schema, unknown ids, preconditions (grasp before place,
release or handover), grip force against each object's ``max_contact_force`` and
the hand's limit (and against the minimum that holds the weight), payload and
aperture, sharp objects only by the handle and slowly, liquids slowly and never
over electronics, keep-out zones, drop heights, workspace, and the confirmation
gate (a plan touching sharp objects or a person must say ``needs_confirmation``).

An empty list means the plan may run (after confirmation where its status says
so). Anything the validator cannot understand is a violation, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.schema import MAX_STEPS, SKILLS, Plan, PlanStatus, SchemaError, plan_from_dict

GRAVITY_M_S2 = 9.81


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``step`` is the 0-based step index, or ``None`` for the whole plan."""

    code: str
    message: str
    step: int | None = None

    def __str__(self) -> str:
        where = f"step {self.step}" if self.step is not None else "plan"
        return f"[{self.code}] {where}: {self.message}"


@dataclass
class HandState:
    """What the validator believes after each step: held ids, what the hand is over, height, m."""

    holding: list[str] = field(default_factory=list)
    over: str | None = None
    height_m: float = 0.0
    resting: bool = False


def min_grip_force_n(objects, limits: PlanningLimits) -> float:
    """Grip force that holds ``objects`` against gravity with a two-sided grip, N.

    ``factor * m * g / (2 * mu)`` with the lowest friction coefficient among them.
    """
    mass = sum(o.mass for o in objects)
    mu = min(o.friction for o in objects)
    return limits.grip_safety_factor * mass * GRAVITY_M_S2 / (2.0 * mu)


def max_grip_force_n(objects, limits: PlanningLimits) -> float:
    """Strongest allowed grip on ``objects``: the lowest object limit or the hand's, N."""
    return min([limits.hand_max_force_n] + [o.max_contact_force for o in objects])


def grasp_width_m(obj) -> float:
    """Narrowest horizontal extent of an object, m (what the hand must span to hold it)."""
    if obj.shape == "box":
        return min(obj.size[0], obj.size[1])
    return 2.0 * obj.size[0]


def confirmation_reasons(plan: Plan, scene, limits: PlanningLimits) -> list[str]:
    """Codes of why ``plan`` needs a person's confirmation (``confirm:sharp``, ``confirm:handover``)."""
    out: list[str] = []
    ids = {o.id: o for o in scene.objects}
    for s in plan.steps:
        for oid in s.object_ids():
            obj = ids.get(oid)
            if obj is not None:
                for tag in limits.confirm_tags:
                    if tag in obj.tags and f"confirm:{tag}" not in out:
                        out.append(f"confirm:{tag}")
        if s.skill == "handover" and limits.confirm_handover and "confirm:handover" not in out:
            out.append("confirm:handover")
    return out


def _inside_xy(zone, xy) -> bool:
    return zone.min[0] <= xy[0] <= zone.max[0] and zone.min[1] <= xy[1] <= zone.max[1]


def validate_plan(plan: Plan | dict, scene, limits: PlanningLimits | None = None) -> list[Violation]:
    """Every rule ``plan`` breaks in ``scene``; ``[]`` means it may run. Never raises on bad plans."""
    limits = limits or PlanningLimits()
    if isinstance(plan, dict):
        try:
            plan = plan_from_dict(plan)
        except SchemaError as exc:
            return [Violation("schema", str(exc))]
    if not isinstance(plan, Plan):
        return [Violation("schema", f"expected a Plan, got {type(plan).__name__}")]
    out: list[Violation] = []
    objects = {o.id: o for o in scene.objects}
    zones = {z.id: z for z in scene.zones}
    keep_out = [z for z in scene.zones if z.kind == "keep_out"]

    if plan.status in (PlanStatus.REFUSED, PlanStatus.CLARIFY):
        if plan.steps:
            out.append(Violation("status_steps", f"a {plan.status.value} plan must have no steps, "
                                                 f"it has {len(plan.steps)}"))
        return out
    if not plan.steps:
        out.append(Violation("status_steps", f"a {plan.status.value} plan needs at least one step"))
        return out
    if len(plan.steps) > MAX_STEPS:
        out.append(Violation("schema", f"{len(plan.steps)} steps is more than {MAX_STEPS}"))

    state = HandState()
    for i, step in enumerate(plan.steps):
        if step.skill not in SKILLS:
            out.append(Violation("schema", f"skill {step.skill!r} is not in the schema", i))
            continue
        a = step.args
        try:
            _check_step(i, step.skill, a, state, objects, zones, keep_out, scene, limits, out)
        except (KeyError, TypeError, ValueError) as exc:  # malformed args that slipped past parsing
            out.append(Violation("schema", f"arguments of {step.skill!r} cannot be checked: {exc}", i))
    needed = confirmation_reasons(plan, scene, limits)
    if needed and plan.status != PlanStatus.NEEDS_CONFIRMATION:
        out.append(Violation("confirmation_required", f"the plan touches {', '.join(r.split(':')[1] for r in needed)}"
                                                      "; its status must be needs_confirmation"))
    return out


def _target_xy(target_id: str, objects, zones):
    if target_id in objects:
        return objects[target_id].position
    z = zones[target_id]
    return ((z.min[0] + z.max[0]) / 2, (z.min[1] + z.max[1]) / 2)


def _check_target(i, target_id, objects, zones, keep_out, scene, out, verb) -> bool:
    if target_id not in objects and target_id not in zones:
        out.append(Violation("unknown_id", f"{verb} target {target_id!r} is neither an object nor a zone in scene "
                                           f"{scene.name!r}", i))
        return False
    if target_id in zones and zones[target_id].kind == "keep_out":
        out.append(Violation("keep_out", f"{verb} into keep-out zone {target_id!r} (a person is there)", i))
        return False
    xy = _target_xy(target_id, objects, zones)
    if xy is not None:
        for z in keep_out:
            if _inside_xy(z, xy):
                out.append(Violation("keep_out", f"{verb} target {target_id!r} lies in keep-out zone {z.id!r}", i))
                return False
        if not (scene.workspace_min[0] <= xy[0] <= scene.workspace_max[0]
                and scene.workspace_min[1] <= xy[1] <= scene.workspace_max[1]):
            out.append(Violation("workspace", f"{verb} target {target_id!r} at {xy} is outside the workspace", i))
            return False
    return True


def _check_step(i, skill, a, state: HandState, objects, zones, keep_out, scene, limits, out) -> None:
    held = [objects[h] for h in state.holding if h in objects]
    held_sharp = any("sharp" in o.tags for o in held)
    held_liquid = any("liquid" in o.tags for o in held)
    if skill == "grasp":
        ids = list(a["object_ids"])
        if state.holding:
            out.append(Violation("precondition", f"grasp while already holding {state.holding}; place, release "
                                                 "or hand over first", i))
        missing = [x for x in ids if x not in objects]
        if missing:
            out.append(Violation("unknown_id", f"grasp of unknown object(s) {missing}; scene {scene.name!r} has "
                                               f"{sorted(objects)}", i))
            return
        objs = [objects[x] for x in ids]
        if len(ids) > limits.max_objects_per_grasp:
            out.append(Violation("too_many_objects", f"{len(ids)} objects in one grasp; at most "
                                                     f"{limits.max_objects_per_grasp}", i))
        fmax = max_grip_force_n(objs, limits)
        fmin = min_grip_force_n(objs, limits)
        f = float(a["force_n"])
        if f > fmax + 1e-9:
            weakest = min(objs, key=lambda o: o.max_contact_force)
            limit_src = (f"{weakest.id}'s max_contact_force" if weakest.max_contact_force <= limits.hand_max_force_n
                         else "the hand's limit")
            out.append(Violation("force_over_limit", f"grip force {f:.1f} N exceeds {fmax:.1f} N ({limit_src})", i))
        if fmin > fmax:
            out.append(Violation("force_infeasible", f"holding {ids} needs {fmin:.1f} N but at most {fmax:.1f} N is "
                                                     "allowed", i))
        elif f < fmin - 1e-9:
            out.append(Violation("force_below_grip", f"grip force {f:.1f} N is below the {fmin:.1f} N needed to "
                                                     f"hold {sum(o.mass for o in objs):.2f} kg", i))
        mass = sum(o.mass for o in objs)
        if mass > limits.hand_max_payload_kg:
            out.append(Violation("payload", f"{mass:.2f} kg exceeds the hand's payload {limits.hand_max_payload_kg} kg",
                                 i))
        width = sum(grasp_width_m(o) for o in objs)
        if width > limits.hand_max_aperture_m:
            out.append(Violation("aperture", f"objects {ids} span {width:.3f} m, wider than the hand's "
                                             f"{limits.hand_max_aperture_m} m", i))
        sharp = [o for o in objs if "sharp" in o.tags]
        if sharp:
            if len(objs) > 1:
                out.append(Violation("sharp_handling", "a sharp object is never grasped together with others", i))
            if a["part"] != "handle":
                out.append(Violation("sharp_handling", f"sharp {sharp[0].id!r} must be held by the handle", i))
            if a["speed"] != "slow":
                out.append(Violation("sharp_handling", f"sharp {sharp[0].id!r} must be moved slowly", i))
        if a["part"] == "handle" and any("has_handle" not in o.tags and "sharp" not in o.tags for o in objs):
            out.append(Violation("no_handle", f"part=handle but {ids} have no handle", i))
        if any("liquid" in o.tags for o in objs) and a["speed"] != "slow":
            out.append(Violation("liquid_speed", "an object holding liquid must be moved slowly", i))
        lo, hi = limits.lift_height_range_m
        if not lo <= a["lift_height_m"] <= hi:
            out.append(Violation("height_range", f"lift {a['lift_height_m']} m is outside [{lo}, {hi}] m", i))
        for o in objs:
            if o.position is not None:
                for z in keep_out:
                    if _inside_xy(z, o.position):
                        out.append(Violation("keep_out", f"{o.id!r} lies in keep-out zone {z.id!r}", i))
        state.holding = ids
        state.over = ids[0]
        state.height_m = float(a["lift_height_m"])
        state.resting = False
    elif skill == "move_to":
        t = a["target_id"]
        lo, hi = limits.move_height_range_m
        if not lo <= a["height_m"] <= hi:
            out.append(Violation("height_range", f"move height {a['height_m']} m is outside [{lo}, {hi}] m", i))
        if _check_target(i, t, objects, zones, keep_out, scene, out, "move"):
            if held_liquid and t in objects and "electronics" in objects[t].tags:
                out.append(Violation("liquid_electronics", f"liquid held over electronics {t!r}", i))
        if held_sharp and a["speed"] != "slow":
            out.append(Violation("sharp_handling", "a sharp object is moved slowly", i))
        if held_liquid and a["speed"] != "slow":
            out.append(Violation("liquid_speed", "an object holding liquid must be moved slowly", i))
        if t in zones and zones[t].kind == "handover" and held_sharp:
            out.append(Violation("sharp_handling", "sharp objects enter a handover zone only by handover", i))
        state.over = t
        state.height_m = float(a["height_m"])
        state.resting = False
    elif skill == "place":
        t = a["target_id"]
        if not state.holding:
            out.append(Violation("precondition", "place while holding nothing; grasp first", i))
        if t in state.holding:
            out.append(Violation("place_target", f"cannot place {t!r} on itself", i))
        if _check_target(i, t, objects, zones, keep_out, scene, out, "place"):
            if t in zones and zones[t].kind == "handover":
                out.append(Violation("place_target", "use handover, not place, for a handover zone", i))
            if t in objects:
                tgt = objects[t]
                if a["relation"] == "in" and "container" not in tgt.tags:
                    out.append(Violation("place_target", f"{t!r} is not a container; cannot place in it", i))
                if a["relation"] in ("on", "in") and "sharp" in tgt.tags:
                    out.append(Violation("place_target", f"cannot place things on sharp {t!r}", i))
                if a["relation"] in ("on", "in") and "liquid" in tgt.tags:
                    out.append(Violation("liquid_electronics" if any("electronics" in o.tags for o in held)
                                         else "place_target", f"cannot place things in/on {t!r}, it holds liquid", i))
                if held_liquid and "electronics" in tgt.tags and a["relation"] in ("on", "in"):
                    out.append(Violation("liquid_electronics", f"liquid placed on electronics {t!r}", i))
                if a["relation"] in ("on", "in") and "fragile" in tgt.tags and sum(o.mass for o in held) > 0.5:
                    out.append(Violation("place_target", f"{sum(o.mass for o in held):.2f} kg on fragile {t!r}", i))
        if held_sharp and a["speed"] != "slow":
            out.append(Violation("sharp_handling", "a sharp object is moved slowly", i))
        if held_liquid and a["speed"] != "slow":
            out.append(Violation("liquid_speed", "an object holding liquid must be moved slowly", i))
        state.over = t if a["relation"] in ("on", "in") else None  # next_to: beside the target, not over it
        state.height_m = 0.0
        state.resting = True
    elif skill == "release":
        if not state.holding:
            out.append(Violation("precondition", "release while holding nothing", i))
        else:
            fragile = any(("fragile" in o.tags or "liquid" in o.tags) for o in held)
            limit = limits.fragile_max_drop_height_m if fragile else limits.max_drop_height_m
            if state.height_m > limit + 1e-9:
                out.append(Violation("drop_height", f"release {state.height_m:.2f} m above the surface drops "
                                                    f"{state.holding}; at most {limit} m", i))
            if held_liquid and state.over in objects and "electronics" in objects[state.over].tags:
                out.append(Violation("liquid_electronics", f"liquid released over electronics {state.over!r}", i))
        state.holding = []
        state.resting = False
    elif skill == "handover":
        z = a["zone_id"]
        if not state.holding:
            out.append(Violation("precondition", "handover while holding nothing; grasp first", i))
        if z not in zones:
            out.append(Violation("unknown_id", f"handover zone {z!r} is not in scene {scene.name!r}", i))
        elif zones[z].kind != "handover":
            out.append(Violation("keep_out" if zones[z].kind == "keep_out" else "place_target",
                                 f"zone {z!r} is a {zones[z].kind} zone, not a handover zone", i))
        if held_sharp:
            if not a["handle_first"]:
                out.append(Violation("sharp_handling", "a sharp object is handed over handle first", i))
            if a["speed"] != "slow":
                out.append(Violation("sharp_handling", "a sharp object is handed over slowly", i))
        if held_liquid and a["speed"] != "slow":
            out.append(Violation("liquid_speed", "an object holding liquid must be moved slowly", i))
        state.holding = []
        state.over = z
    elif skill == "retract":
        state.over = None
        state.height_m = limits.move_height_range_m[1]
        state.resting = False
