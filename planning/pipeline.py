"""The planning pipeline the ``planner`` and ``aligner`` nodes call.

``InstructionPlanner(scene, config).plan(instruction)`` runs:
screen + draft (LLM backend with fallback to the rule planner, and the rule
planner's own plan as a candidate) -> correct each draft (learned corrector with
the rule corrector as backstop) -> score (reward, cost) -> pick by preference
(``(1 - w) * reward - w * cost``, cost under the threshold) -> validate
(fails closed) -> seal. It returns a ``PlanResult``.

``InstructionPlanner.align(instruction, draft)`` is the ``aligner`` node's
service: correct one given draft, score it, validate, return an ``AlignResult``.
``report_outcome`` stores an episode in memory and, after a failure, returns a
re-plan. No ROS imports; every call is synchronous and bounded by the
backend's ``timeout_s``; ``cancel()`` is polled between stages.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from dexsafe.core.paths import resolve_data_file
from dexsafe.planning.confirmation import seal
from dexsafe.planning.corrector import Correction, Edit, RuleCorrector, coerce_draft
from dexsafe.planning.limits import PlanningLimits
from dexsafe.planning.llm_client import LLMConfig, LLMPlanner
from dexsafe.planning.memory import Episode, EpisodeMemory
from dexsafe.planning.preferences import Candidate, Preference, select_plan
from dexsafe.planning.rule_planner import RulePlanner
from dexsafe.planning.schema import Plan, PlanStatus
from dexsafe.planning.scoring import Scores, SymbolicScorer
from dexsafe.planning.self_check import replan_after_failure, self_check
from dexsafe.planning.validator import Violation, validate_plan

BACKENDS = ("rule", "openai")


class PlannerConfigError(ValueError):
    """A planner config with an unknown key or value."""


@dataclass(frozen=True)
class PlannerConfig:
    """Pipeline settings; see ``config/planning/planner.yaml`` for each key."""

    backend: str = "rule"
    llm: LLMConfig = field(default_factory=LLMConfig)
    harmlessness_weight: float = 0.5
    harmlessness_floor: float = 0.2
    cost_threshold: float = 0.0
    num_candidates: int = 2
    corrector: str = "learned"
    scorer: str = "learned"
    models_dir: str = ""
    memory_path: str = ""
    memory_examples: int = 3

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise PlannerConfigError(f"backend {self.backend!r} is not one of {BACKENDS}")
        if self.corrector not in ("learned", "rule"):
            raise PlannerConfigError(f"corrector {self.corrector!r} is not 'learned' or 'rule'")
        if self.scorer not in ("learned", "symbolic"):
            raise PlannerConfigError(f"scorer {self.scorer!r} is not 'learned' or 'symbolic'")
        if not 1 <= self.num_candidates <= 8:
            raise PlannerConfigError(f"num_candidates must be in [1, 8], got {self.num_candidates}")
        Preference(self.harmlessness_weight, self.harmlessness_floor)  # raises PreferenceError

    @property
    def preference(self) -> Preference:
        return Preference(self.harmlessness_weight, self.harmlessness_floor)


def load_planner_config(name_or_path: str | os.PathLike = "planner", **overrides) -> PlannerConfig:
    """Read a planner YAML (path, or name under ``config/planning/``) and apply keyword overrides."""
    path = resolve_data_file(name_or_path, "planning")
    data = yaml.safe_load(path.read_text()) or {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(PlannerConfig)}
    extra = set(data) - known
    if extra:
        raise PlannerConfigError(f"{path}: unknown key(s) {sorted(extra)}; known: {sorted(known)}")
    llm = data.pop("llm", {}) or {}
    if isinstance(llm, dict):
        llm_known = {f.name for f in fields(LLMConfig)}
        if set(llm) - llm_known:
            raise PlannerConfigError(f"{path}: unknown llm key(s) {sorted(set(llm) - llm_known)}")
        llm = LLMConfig(**llm)
    return PlannerConfig(llm=llm, **data)


@dataclass
class PlanResult:
    """Everything the ``planner`` node returns.

    ``plan``: the final, validated and sealed plan (or a refusal/clarification).
    ``draft``: the chosen candidate before correction; ``edits``: what the corrector changed;
    ``draft_violations``: the validator on that draft; ``violations``: on the final plan (always []
    for an executable plan). ``reward`` / ``cost``: scores of the final plan (cost > 0 unsafe).
    ``backend``: what drafted it; ``fallback_reason``: why the LLM was not used ('' if it was).
    ``candidates``: one summary dict per candidate. ``latency_s``: wall time, s.
    """

    plan: Plan
    draft: Plan | None = None
    edits: list[Edit] = field(default_factory=list)
    draft_violations: list[Violation] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    reward: float = 0.0
    cost: float = 0.0
    backend: str = "rule"
    fallback_reason: str = ""
    candidates: list[dict] = field(default_factory=list)
    latency_s: float = 0.0

    def to_dict(self) -> dict:
        return {"plan": self.plan.to_dict(), "edits": [e.to_dict() for e in self.edits],
                "draft_violations": [str(v) for v in self.draft_violations],
                "violations": [str(v) for v in self.violations], "reward": self.reward, "cost": self.cost,
                "backend": self.backend, "fallback_reason": self.fallback_reason, "candidates": self.candidates,
                "latency_s": self.latency_s}


@dataclass
class AlignResult:
    """What the ``aligner`` node returns: corrected plan, edits, scores, and remaining violations."""

    plan: Plan
    edits: list[Edit]
    reward: float
    cost: float
    draft_violations: list[Violation]
    violations: list[Violation]
    corrector: str


class PlanningCancelled(RuntimeError):
    """``cancel()`` returned True between stages."""


class InstructionPlanner:
    """Plans and aligns instructions for one scene. Thread-compatible: one call at a time per instance."""

    def __init__(self, scene, config: PlannerConfig | None = None, limits: PlanningLimits | None = None,
                 memory: EpisodeMemory | None = None):
        self.scene = scene
        self.config = config or PlannerConfig()
        self.limits = limits or PlanningLimits()
        self.rule_planner = RulePlanner(scene, self.limits)
        self.rule_corrector = RuleCorrector(scene, self.limits, self.rule_planner)
        self.symbolic = SymbolicScorer(scene, self.limits, self.rule_planner)
        self.llm = LLMPlanner(scene, self.config.llm, self.limits) if self.config.backend == "openai" else None
        if memory is None and self.config.memory_path:
            memory = EpisodeMemory(self.config.memory_path)
        self.memory = memory
        self.learned_corrector = None
        self.learned_scorer = None
        self.model_notes: list[str] = []
        if self.config.corrector == "learned" or self.config.scorer == "learned":
            self._load_models()

    def _load_models(self) -> None:
        from dexsafe.planning import learned_corrector, reward_cost  # torch only when asked for
        models_dir = Path(self.config.models_dir) if self.config.models_dir else None
        if self.config.scorer == "learned":
            try:
                self.learned_scorer = reward_cost.LearnedScorer.load(self.scene, self.limits, models_dir)
            except FileNotFoundError as exc:
                self.model_notes.append(f"learned scorer unavailable ({exc}); using symbolic scores")
        if self.config.corrector == "learned":
            try:
                self.learned_corrector = learned_corrector.LearnedCorrector.load(
                    self.scene, self.limits, models_dir, backstop=self.rule_corrector)
            except FileNotFoundError as exc:
                self.model_notes.append(f"learned corrector unavailable ({exc}); using the rule corrector")

    # -- stages ----------------------------------------------------------------------------------
    def score(self, instruction: str, plan: Plan) -> Scores:
        """Reward and cost of ``plan`` (learned models if loaded, else symbolic)."""
        if self.learned_scorer is not None:
            return self.learned_scorer.score(instruction, plan)
        return self.symbolic.score(instruction, plan)

    def correct(self, instruction: str, draft: Plan | dict | str) -> Correction:
        if self.learned_corrector is not None:
            return self.learned_corrector.correct(instruction, draft)
        return self.rule_corrector.correct(instruction, draft)

    def _drafts(self, instruction: str, cancel, feedback,
                failure_note: str | None) -> tuple[list[tuple[str, Plan]], str]:
        drafts: list[tuple[str, Plan]] = []
        fallback_reason = ""
        if self.llm is not None:
            examples = self.memory.as_examples(instruction, self.scene.name, self.config.memory_examples) \
                if self.memory is not None else None
            for k in range(self.config.num_candidates):
                if cancel():
                    raise PlanningCancelled("cancelled while drafting")
                feedback(f"drafting {k + 1}/{self.config.num_candidates} with {self.config.llm.model}")
                d = self.llm.draft(instruction, examples=examples, failure_note=failure_note, cancel=cancel)
                if d.plan is not None:
                    drafts.append((f"llm:{k}", d.plan))
                else:
                    fallback_reason = "; ".join(d.errors) or "no plan"
                    if d.timed_out:
                        break
            if not drafts:
                fallback_reason = f"LLM backend gave no usable plan ({fallback_reason}); used the offline planner"
        drafts.append(("rule", self.rule_planner.plan(instruction)))
        return drafts, fallback_reason

    # -- node API --------------------------------------------------------------------------------
    def plan(self, instruction: str, cancel: Callable[[], bool] | None = None,
             feedback: Callable[[str], None] | None = None, failure_note: str | None = None) -> PlanResult:
        """Plan ``instruction`` end to end; raises ``PlanningCancelled`` only if ``cancel()`` says so."""
        t0 = time.perf_counter()
        cancel = cancel or (lambda: False)
        feedback = feedback or (lambda msg: None)
        feedback("drafting")
        drafts, fallback_reason = self._drafts(instruction, cancel, feedback, failure_note)
        feedback("correcting")
        candidates: list[Candidate] = []
        corrections: list[Correction] = []
        for source, draft in drafts:
            if cancel():
                raise PlanningCancelled("cancelled while correcting")
            corr = self.correct(instruction, draft)
            scores = self.score(instruction, corr.plan)
            violations = tuple(validate_plan(corr.plan, self.scene, self.limits))
            candidates.append(Candidate(corr.plan, scores.reward, scores.cost, violations, source))
            corrections.append(corr)
        feedback("scoring")
        selection = select_plan(candidates, self.config.preference, self.config.cost_threshold)
        chosen = selection.chosen
        idx = next((i for i, c in enumerate(candidates) if c is chosen), None)
        final = chosen.plan
        problems = self_check(instruction, final, self.scene, self.limits, self.rule_planner) if final.executable \
            else []
        violations = validate_plan(final, self.scene, self.limits)
        if final.executable and violations:  # fail closed (cannot happen if the stages above are right)
            final = Plan(PlanStatus.REFUSED, (), "Refused: final check failed: " + "; ".join(map(str, violations)),
                         instruction, ("violation:final",), final.plan_id, provenance=dict(final.provenance))
            violations = []
        prov = dict(final.provenance)
        prov.update({"backend": chosen.source.split(":")[0] if idx is not None else "preference",
                     "scores": {"reward": chosen.reward, "cost": chosen.cost},
                     "harmlessness_weight": self.config.harmlessness_weight,
                     "corrector": self.learned_corrector.name if self.learned_corrector else "rule",
                     "scorer": self.learned_scorer.name if self.learned_scorer else "symbolic"})
        if problems:
            prov["self_check"] = problems
        if self.model_notes:
            prov["notes"] = list(self.model_notes)
        final = replace(final, instruction=instruction, provenance=prov)
        if final.executable:
            final = seal(final)
        summaries = [{"source": c.source, "status": c.plan.status.value, "reward": c.reward, "cost": c.cost,
                      "utility": round(u, 4), "violations": len(c.violations),
                      "excluded": selection.excluded.get(i, "")}
                     for i, (c, u) in enumerate(zip(candidates, selection.utilities))]
        corr = corrections[idx] if idx is not None else None
        return PlanResult(
            plan=final,
            draft=drafts[idx][1] if idx is not None else None,
            edits=list(corr.edits) if corr else [],
            draft_violations=list(corr.draft_violations) if corr else [],
            violations=violations,
            reward=chosen.reward, cost=chosen.cost,
            backend=chosen.source.split(":")[0],
            fallback_reason=fallback_reason,
            candidates=summaries,
            latency_s=time.perf_counter() - t0,
        )

    def align(self, instruction: str, draft: Plan | dict | str) -> AlignResult:
        """Correct one draft (the ``aligner`` node's ``AlignPlan``): corrected plan, edits, reward, cost."""
        parsed, _ = coerce_draft(draft)
        before = validate_plan(parsed, self.scene, self.limits) if parsed is not None else []
        corr = self.correct(instruction, draft)
        plan = corr.plan
        violations = validate_plan(plan, self.scene, self.limits)
        if plan.executable and violations:
            plan = Plan(PlanStatus.REFUSED, (), "Refused: " + "; ".join(map(str, violations)), instruction,
                        ("violation:final",), plan.plan_id, provenance=dict(plan.provenance))
            violations = []
        if plan.executable:
            plan = seal(plan)
        scores = self.score(instruction, plan)
        return AlignResult(plan, list(corr.edits), scores.reward, scores.cost, list(before), violations,
                           self.learned_corrector.name if self.learned_corrector else "rule")

    def report_outcome(self, instruction: str, plan: Plan, success: bool, explanation: str = "",
                       failed_step: int | None = None) -> Plan | None:
        """Store the episode in memory; after a failure return a re-plan (validated, sealed if executable)."""
        if self.memory is not None:
            self.memory.add(Episode(instruction, self.scene.name, plan.to_dict(),
                                    "success" if success else "failure", explanation, failed_step))
        if success:
            return None
        new = replan_after_failure(instruction, plan, failed_step if failed_step is not None else 0, explanation,
                                   self.scene, self.limits, self.memory)
        return seal(new) if new.executable else new


def plan_instruction(instruction: str, scene, config: PlannerConfig | None = None,
                     limits: PlanningLimits | None = None) -> PlanResult:
    """One-shot convenience: ``InstructionPlanner(scene, config, limits).plan(instruction)``."""
    return InstructionPlanner(scene, config, limits).plan(instruction)
