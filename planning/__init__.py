"""dexsafe.planning: instruction -> safe plan over a closed skill schema.

What a node calls (no rclpy here; see ``pipeline`` for details):

- ``InstructionPlanner(scene, PlannerConfig)``: ``.plan(instruction, cancel, feedback) -> PlanResult``
  (the ``planner`` node), ``.align(instruction, draft) -> AlignResult`` (the ``aligner`` node),
  ``.report_outcome(...)`` (memory and re-planning).
- ``validate_plan(plan, scene, limits) -> list[Violation]``: the deterministic check.
- ``ConfirmationGate`` / ``seal_ok``: what may execute.
- ``Plan``, ``PlanStep``, ``PlanStatus``, ``plan_from_dict`` / ``plan_from_json``: the schema.

Modules: ``schema`` (skills, plans), ``limits``, ``text`` / ``screening`` / ``grounding``
(reading instructions), ``rule_planner`` (offline backend), ``llm_client`` (OpenAI-compatible
backend), ``validator``, ``corrector`` (rule) and ``learned_corrector``, ``scoring`` /
``reward_cost`` (reward and cost), ``preferences`` (steering), ``memory`` / ``embedding`` /
``self_check`` (JARVIS-1-style), ``confirmation``, ``datasets`` / ``training`` /
``evaluation`` / ``benchmarks``. torch is imported only by the learned modules.
"""

from dexsafe.planning.confirmation import ConfirmationGate, seal_ok
from dexsafe.planning.limits import PlanningLimits, load_limits
from dexsafe.planning.pipeline import (
    AlignResult,
    InstructionPlanner,
    PlannerConfig,
    PlanResult,
    load_planner_config,
    plan_instruction,
)
from dexsafe.planning.schema import (
    SCHEMA_VERSION,
    SKILLS,
    Plan,
    PlanStatus,
    PlanStep,
    SchemaError,
    plan_from_dict,
    plan_from_json,
)
from dexsafe.planning.validator import Violation, validate_plan

__all__ = ["SCHEMA_VERSION", "SKILLS", "AlignResult", "ConfirmationGate", "InstructionPlanner", "Plan", "PlanResult",
           "PlanStatus", "PlanStep", "PlannerConfig", "PlanningLimits", "SchemaError", "Violation",
           "load_limits", "load_planner_config", "plan_from_dict", "plan_from_json", "plan_instruction",
           "seal_ok", "validate_plan"]
