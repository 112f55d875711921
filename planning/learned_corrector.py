"""The learned Aligner-style corrector: a small torch model that predicts edits to a draft plan.

Aligner learns the residual between a dispreferred answer and its correction.
Here the answer is a plan over a closed schema, so the residual is a set of
*edit operations* from a closed list, predicted by two heads:

- plan head (from ``plan_features``): ``keep`` / ``replace`` (by the offline
  planner's plan) / ``refuse``, plus a ``confirm`` bit (status -> needs_confirmation);
- step head (per step, from ``step_features`` and the plan features): which of
  ``STEP_OPS`` to apply (set a safe grip force, hold by the handle or body,
  slow down, handle first, lower onto the target instead of dropping, lower
  before releasing, clamp a height).

The operations' values come from the limits (never from the model), so a
prediction can only move a plan toward the rules. Trained on generated
query-answer-correction triples with identity pairs, so good plans stay
unchanged. The output is validated; if anything is left, the rule corrector
runs as a backstop and its edits are added (``backstop_used`` counts how often).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import nn

from dexsafe.planning.corrector import Correction, Edit, RuleCorrector, coerce_draft, safe_grip_force_n
from dexsafe.planning.features import PlanFeaturizer
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.reward_cost import FEATURE_VERSION, MODELS_DIR
from dexsafe.planning.schema import Plan, PlanStatus, PlanStep
from dexsafe.planning.validator import max_grip_force_n, validate_plan

PLAN_CLASSES = ("keep", "replace", "refuse")
STEP_OPS = ("set_safe_force", "set_handle", "set_body", "set_slow", "set_handle_first", "lower_to_place",
            "lower_height", "clamp_height")


class CorrectorNet(nn.Module):
    """Plan head ``plan_dim -> 3 classes + confirm``; step head ``step_dim + plan_dim -> len(STEP_OPS)``."""

    def __init__(self, plan_dim: int, step_dim: int, hidden: int = 48):
        super().__init__()
        self.plan_dim, self.step_dim, self.hidden = plan_dim, step_dim, hidden
        self.plan_head = nn.Sequential(nn.Linear(plan_dim, hidden), nn.Tanh(), nn.Linear(hidden, len(PLAN_CLASSES) + 1))
        self.step_head = nn.Sequential(nn.Linear(step_dim + plan_dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                       nn.Tanh(), nn.Linear(hidden, len(STEP_OPS)))

    def forward(self, plan_x: torch.Tensor, step_x: torch.Tensor, step_plan_index: torch.Tensor):
        """``plan_x`` (B, P), ``step_x`` (S, D), ``step_plan_index`` (S,) -> plan logits (B, 4), step logits."""
        plan_out = self.plan_head(plan_x)
        step_in = torch.cat([step_x, plan_x[step_plan_index]], dim=-1)
        return plan_out, self.step_head(step_in)


def edit_labels(edits, n_steps: int, result: Plan) -> tuple[int, int, list[list[float]]]:
    """Training targets from the rule corrector's edits: (plan class, confirm bit, per-step op bits)."""
    ops = [[0.0] * len(STEP_OPS) for _ in range(n_steps)]
    cls, confirm = 0, 0
    for e in edits:
        if e.kind == "replace_plan" or (e.kind == "status" and e.after == "refused"):
            cls = 2 if result.status == PlanStatus.REFUSED else 1
        elif e.kind == "status":
            confirm = 1
        elif e.step is not None and e.step < n_steps:
            op = {"force_n": "set_safe_force", "speed": "set_slow", "handle_first": "set_handle_first"}.get(e.field)
            if e.field == "part":
                op = "set_handle" if e.after == "handle" else "set_body"
            elif e.kind == "replace" and e.field == "skill":
                op = "lower_to_place"
            elif e.field in ("height_m", "lift_height_m"):
                op = "clamp_height" if "clamped" in e.reason else "lower_height"
            if op:
                ops[e.step][STEP_OPS.index(op)] = 1.0
    if cls:
        ops = [[0.0] * len(STEP_OPS) for _ in range(n_steps)]
    return cls, confirm, ops


@dataclass
class LearnedCorrector:
    """Applies the model's predicted edits; rule corrector as a validated backstop."""

    featurizer: PlanFeaturizer
    model: CorrectorNet
    backstop: RuleCorrector
    metrics: dict
    name: str = "learned"
    threshold: float = 0.5
    calls: int = 0
    backstop_used: int = 0

    @classmethod
    def load(cls, scene, limits: PlanningLimits | None = None, models_dir: Path | None = None,
             backstop: RuleCorrector | None = None) -> LearnedCorrector:
        path = (Path(models_dir) if models_dir else MODELS_DIR) / "corrector.pt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} (run `dexsafe plan train`)")
        limits = limits or PlanningLimits()
        backstop = backstop or RuleCorrector(scene, limits)
        feat = PlanFeaturizer(scene, limits, backstop.planner)
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("feature_version") != FEATURE_VERSION or blob.get("plan_dim") != feat.plan_dim \
                or blob.get("step_dim") != feat.STEP_DIM:
            raise ValueError(f"{path} was trained for other features; retrain with `dexsafe plan train`")
        model = CorrectorNet(blob["plan_dim"], blob["step_dim"], blob["hidden"])
        model.load_state_dict(blob["state_dict"])
        model.eval()
        return cls(feat, model, backstop, blob.get("metrics", {}))

    def predict(self, instruction: str, plan: Plan) -> tuple[str, bool, list[set[str]]]:
        """(plan class, confirm, ops per step) for a parsed draft."""
        px = torch.from_numpy(self.featurizer.plan_features(instruction, plan))[None]
        sx = torch.from_numpy(self.featurizer.step_features(plan))
        with torch.no_grad():
            plan_logits, step_logits = self.model(px, sx, torch.zeros(len(sx), dtype=torch.long))
        cls = PLAN_CLASSES[int(plan_logits[0, :len(PLAN_CLASSES)].argmax())]
        confirm = bool(torch.sigmoid(plan_logits[0, -1]) > self.threshold)
        probs = torch.sigmoid(step_logits)
        ops = [{STEP_OPS[j] for j in range(len(STEP_OPS)) if probs[i, j] > self.threshold} for i in range(len(sx))]
        return cls, confirm, ops

    def correct_alone(self, instruction: str, draft: Plan | dict | str) -> Correction:
        """The model's correction without the backstop (for evaluation)."""
        plan, error = coerce_draft(draft)
        planner = self.backstop.planner
        if plan is None:
            ref = planner.plan(instruction)
            return Correction(ref, (Edit("replace_plan", None, "plan", None, ref.status.value,
                                         f"draft is not a plan in the schema: {error}"),), ())
        before = tuple(validate_plan(plan, self.featurizer.scene, self.featurizer.limits))
        cls, confirm, ops = self.predict(instruction, plan)
        if cls in ("replace", "refuse"):
            ref = planner.reference(instruction)
            if cls == "refuse" and ref.executable:
                ref = Plan(PlanStatus.REFUSED, (), "Refused by the learned corrector: the request looks unsafe.",
                           instruction, ("learned:refuse",))
            new = replace(ref, plan_id=plan.plan_id)
            if new.status == plan.status and new.steps == plan.steps:
                return Correction(plan, (), before)
            return Correction(new, (Edit("replace_plan", None, "plan", plan.status.value, new.status.value,
                                         f"learned corrector: {cls}"),), before)
        edits: list[Edit] = []
        steps = [PlanStep(s.skill, dict(s.args)) for s in plan.steps]
        objects = self.featurizer.objects
        limits = self.featurizer.limits
        holding: list = []
        for i, s in enumerate(steps):
            a = s.args
            if s.skill == "grasp":
                holding = [objects[x] for x in a["object_ids"] if x in objects]
            todo = ops[i] if i < len(ops) else set()

            def set_arg(key, value, why, i=i, a=a):
                if key in a and a[key] != value:
                    edits.append(Edit("set", i, key, a[key], value, why))
                    a[key] = value
            if "set_safe_force" in todo and s.skill == "grasp" and holding:
                set_arg("force_n", safe_grip_force_n(holding, limits),
                        f"grip force within {max_grip_force_n(holding, limits):.1f} N")
            if "set_handle" in todo:
                set_arg("part", "handle", "hold by the handle")
            if "set_body" in todo:
                set_arg("part", "body", "the object has no handle")
            if "set_slow" in todo:
                set_arg("speed", "slow", "move slowly")
            if "set_handle_first" in todo:
                set_arg("handle_first", True, "hand over handle first")
            if "clamp_height" in todo:
                lo, hi = limits.move_height_range_m if s.skill == "move_to" else limits.lift_height_range_m
                key = "height_m" if s.skill == "move_to" else "lift_height_m"
                if key in a:
                    set_arg(key, min(hi, max(lo, a[key])), f"{key} clamped")
            if "lower_to_place" in todo and s.skill == "move_to" and a["target_id"] in objects:
                tgt = objects[a["target_id"]]
                relation = "in" if "container" in tgt.tags and "surface" not in tgt.tags else "on"
                steps[i] = PlanStep("place", {"target_id": tgt.id, "relation": relation, "speed": a["speed"]})
                edits.append(Edit("replace", i, "skill", "move_to", "place", f"lower onto {tgt.id} before releasing"))
            elif "lower_height" in todo and s.skill in ("move_to", "grasp"):
                fragile = any("fragile" in o.tags or "liquid" in o.tags for o in holding)
                lim = limits.fragile_max_drop_height_m if fragile else limits.max_drop_height_m
                set_arg("height_m" if s.skill == "move_to" else "lift_height_m", lim, f"lower to {lim} m")
            if s.skill in ("release", "handover"):
                holding = []
        status = plan.status
        if confirm and status == PlanStatus.OK and plan.steps:
            edits.append(Edit("status", None, "status", status.value, "needs_confirmation", "needs confirmation"))
            status = PlanStatus.NEEDS_CONFIRMATION
        return Correction(replace(plan, steps=tuple(steps), status=status), tuple(edits), before)

    def correct(self, instruction: str, draft: Plan | dict | str) -> Correction:
        """Learned correction, then the rule corrector as backstop if anything is still wrong."""
        self.calls += 1
        first = self.correct_alone(instruction, draft)
        second = self.backstop.correct(instruction, first.plan)
        if not second.edits:
            return first
        self.backstop_used += 1
        tagged = tuple(replace(e, reason="backstop: " + e.reason) for e in second.edits)
        return Correction(second.plan, first.edits + tagged, first.draft_violations)
