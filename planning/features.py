"""Fixed-length feature vectors of (instruction, plan) and of each plan step, for the small learned models.

``PlanFeaturizer(scene, limits).plan_features(instruction, plan)`` concatenates
(1) a hashed text embedding of the instruction (``embedding.embed_text``),
(2) screening flags (harm / injection / capability gap),
(3) how the rule planner reads the instruction (its status) and whether the plan
grasps and places what that reading does, and (4) symbolic plan features: status,
skill counts, grip force relative to the object's limit and to the holding
minimum, sharp/liquid handling, drop height relative to its limit, and one
count per validator violation code. ``step_features`` adds per-step context for
the corrector. All features are floats of order 1.
"""

from __future__ import annotations

import numpy as np

from dexsafe.planning.embedding import embed_text
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import SKILLS, Plan, PlanStatus
from dexsafe.planning.scoring import goal_match
from dexsafe.planning.screening import screen_instruction
from dexsafe.planning.validator import max_grip_force_n, min_grip_force_n, validate_plan

TEXT_DIM = 64
VIOLATION_CODES = ("schema", "unknown_id", "precondition", "too_many_objects", "force_over_limit", "force_infeasible",
                   "force_below_grip", "payload", "aperture", "sharp_handling", "no_handle", "liquid_speed",
                   "height_range", "keep_out", "workspace", "place_target", "drop_height", "liquid_electronics",
                   "confirmation_required", "status_steps")
STATUSES = tuple(s for s in PlanStatus)
SKILL_NAMES = tuple(SKILLS)


class PlanFeaturizer:
    """Featurises plans for one scene; caches per-instruction work."""

    def __init__(self, scene, limits: PlanningLimits | None = None, planner: RulePlanner | None = None):
        self.scene = scene
        self.limits = limits or PlanningLimits()
        self.planner = planner or RulePlanner(scene, self.limits)
        self.objects = {o.id: o for o in scene.objects}
        self._cache: dict[str, tuple[np.ndarray, Plan]] = {}

    def _instruction(self, instruction: str) -> tuple[np.ndarray, Plan]:
        if instruction not in self._cache:
            findings = screen_instruction(instruction, self.scene)
            cats = {f.category for f in findings}
            ref = self.planner.reference(instruction)
            vec = np.concatenate([
                embed_text(instruction, TEXT_DIM),
                np.array([float("harm" in cats), float("injection" in cats), float("infeasible" in cats)],
                         dtype=np.float32),
                np.array([float(ref.status == s) for s in STATUSES], dtype=np.float32),
            ])
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[instruction] = (vec, ref)
        return self._cache[instruction]

    @property
    def plan_dim(self) -> int:
        return TEXT_DIM + 3 + len(STATUSES) + len(STATUSES) + len(SKILL_NAMES) + 12 + len(VIOLATION_CODES)

    def plan_features(self, instruction: str, plan: Plan) -> np.ndarray:
        text, ref = self._instruction(instruction)
        violations = validate_plan(plan, self.scene, self.limits)
        counts = {c: 0 for c in VIOLATION_CODES}
        for v in violations:
            counts[v.code] = counts.get(v.code, 0) + 1
        force_ratio, deficit, drop_ratio = 0.0, 0.0, 0.0
        sharp, liquid, handover, fast_careful = 0.0, 0.0, 0.0, 0.0
        for s in plan.steps:
            if s.skill == "grasp":
                objs = [self.objects[x] for x in s.args.get("object_ids", []) if x in self.objects]
                if objs:
                    f = float(s.args.get("force_n", 0.0))
                    force_ratio = max(force_ratio, f / max_grip_force_n(objs, self.limits))
                    deficit = max(deficit, max(0.0, 1.0 - f / max(1e-6, min_grip_force_n(objs, self.limits))))
                    sharp = max(sharp, float(any("sharp" in o.tags for o in objs)))
                    liquid = max(liquid, float(any("liquid" in o.tags for o in objs)))
                    if (sharp or liquid) and s.args.get("speed") == "normal":
                        fast_careful = 1.0
            if s.skill == "move_to":
                drop_ratio = max(drop_ratio, float(s.args.get("height_m", 0.0)) / self.limits.max_drop_height_m)
            if s.skill == "handover":
                handover = 1.0
        match = float(plan.executable and ref.executable and goal_match(plan, ref))
        symbolic = np.array([
            float(plan.executable), match, min(force_ratio, 4.0), deficit, min(drop_ratio, 8.0) / 4.0, sharp, liquid,
            handover, fast_careful, len(violations) / 4.0, float(plan.executable and ref.executable),
            float(not plan.executable and not ref.executable and plan.status == ref.status),
        ], dtype=np.float32)
        skills = np.array([sum(s.skill == k for s in plan.steps) / 4.0 for k in SKILL_NAMES], dtype=np.float32)
        status = np.array([float(plan.status == s) for s in STATUSES], dtype=np.float32)
        codes = np.array([min(counts[c], 3) for c in VIOLATION_CODES], dtype=np.float32)
        return np.concatenate([text, status, skills, symbolic, codes]).astype(np.float32)

    # -- per-step (corrector) ------------------------------------------------------------------
    STEP_DIM = len(SKILL_NAMES) + 14

    def step_features(self, plan: Plan) -> np.ndarray:
        """One row per step: skill, held-object tags, argument faults relative to the limits."""
        rows = []
        holding: list = []
        for i, s in enumerate(plan.steps):
            a = s.args
            if s.skill == "grasp":
                holding = [self.objects[x] for x in a.get("object_ids", []) if x in self.objects]
            held_sharp = float(any("sharp" in o.tags for o in holding))
            held_liquid = float(any("liquid" in o.tags for o in holding))
            held_fragile = float(any("fragile" in o.tags or "liquid" in o.tags for o in holding))
            has_handle = float(bool(holding) and all("has_handle" in o.tags or "sharp" in o.tags for o in holding))
            force_ratio = deficit = 0.0
            if s.skill == "grasp" and holding:
                f = float(a.get("force_n", 0.0))
                force_ratio = f / max_grip_force_n(holding, self.limits)
                deficit = max(0.0, 1.0 - f / max(1e-6, min_grip_force_n(holding, self.limits)))
            nxt = plan.steps[i + 1].skill if i + 1 < len(plan.steps) else ""
            height = float(a.get("height_m", a.get("lift_height_m", 0.0)))
            lo, hi = self.limits.move_height_range_m if s.skill == "move_to" else self.limits.lift_height_range_m
            target = self.objects.get(a.get("target_id", ""))
            row = [float(s.skill == k) for k in SKILL_NAMES] + [
                held_sharp, held_liquid, held_fragile, has_handle, min(force_ratio, 4.0), deficit,
                float(a.get("part") == "body"), float(a.get("part") == "handle"), float(a.get("speed") == "normal"),
                float(a.get("handle_first") is False), float(nxt == "release"),
                min(height / self.limits.max_drop_height_m, 8.0) / 4.0,
                float(s.skill in ("move_to", "grasp") and not lo <= height <= hi),
                float(target is not None),
            ]
            rows.append(row)
            if s.skill in ("release", "handover"):
                holding = []
        return np.array(rows, dtype=np.float32).reshape(len(rows), self.STEP_DIM)
