"""What the ``planner`` and ``aligner`` nodes share: their parameters (the fields of
``dexsafe.planning.pipeline.PlannerConfig``, with the same names) and plan conversion."""

from __future__ import annotations

from dataclasses import replace

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from dexsafe.msg import Plan as PlanMsg
from dexsafe.ros_nodes.conversions import plan_to_msg
from dexsafe.ros_nodes.node_runtime import ParamSpec, declare_parameters

PLANNING_PARAMS = [
    ParamSpec("scene", "kitchen_table", "scene the plans are grounded in (config/scenes name or path)"),
    ParamSpec("backend", "rule", "rule (deterministic, offline) | openai (OpenAI-compatible server, falls back)"),
    ParamSpec("llm.base_url", "http://127.0.0.1:8000/v1", "OpenAI-compatible server (vLLM, Ollama, llama.cpp)"),
    ParamSpec("llm.model", "local-model", "model name sent to the server"),
    ParamSpec("llm.timeout_s", 10.0, "budget for one LLM draft, retries included, s", (0.1, 600.0)),
    ParamSpec("llm.max_retries", 2, "extra attempts after a garbled or off-schema reply", (0, 10)),
    ParamSpec("llm.api_key_env", "DEXSAFE_LLM_API_KEY", "environment variable holding the API key"),
    ParamSpec("harmlessness_weight", 0.5, "w in [floor, 1]: utility = (1 - w) reward - w cost", (0.0, 1.0)),
    ParamSpec("harmlessness_floor", 0.2, "w never goes below this", (0.01, 1.0), read_only=True),
    ParamSpec("cost_threshold", 0.0, "executable plans need cost <= this (cost > 0 is unsafe)", (-10.0, 10.0)),
    ParamSpec("num_candidates", 2, "LLM drafts per instruction (the offline plan is always one more)", (1, 8)),
    ParamSpec("corrector", "learned", "learned (rule corrector as backstop) | rule"),
    ParamSpec("scorer", "learned", "learned (reward/cost models) | symbolic"),
    ParamSpec("models_dir", "", "folder with the trained planning models; empty = the package's"),
    ParamSpec("memory_path", "", "JSONL of past episodes; empty = no persistent memory"),
    ParamSpec("memory_examples", 3, "similar past episodes given to an LLM backend as examples", (0, 20)),
]


def make_planner(node: Node):
    """Declare the planning parameters on ``node`` and build an ``InstructionPlanner``."""
    from dexsafe.planning.llm_client import LLMConfig
    from dexsafe.planning.pipeline import InstructionPlanner, PlannerConfig
    from dexsafe.sim.scene_spec import load_scene

    p = declare_parameters(node, PLANNING_PARAMS)
    llm = LLMConfig(base_url=p["llm.base_url"], model=p["llm.model"], timeout_s=p["llm.timeout_s"],
                    max_retries=p["llm.max_retries"], api_key_env=p["llm.api_key_env"])
    config = PlannerConfig(backend=p["backend"], llm=llm, harmlessness_weight=p["harmlessness_weight"],
                           harmlessness_floor=p["harmlessness_floor"], cost_threshold=p["cost_threshold"],
                           num_candidates=p["num_candidates"], corrector=p["corrector"], scorer=p["scorer"],
                           models_dir=p["models_dir"], memory_path=p["memory_path"],
                           memory_examples=p["memory_examples"])
    planner = InstructionPlanner(load_scene(p["scene"]), config)
    for note in planner.model_notes:
        node.get_logger().warning(note)

    def on_set(params) -> SetParametersResult:
        # Preference steering at run time (Panacea): only the weight changes, never below the floor.
        for param in params:
            if param.name == "harmlessness_weight":
                w = float(param.value)
                if not planner.config.harmlessness_floor <= w <= 1.0:
                    return SetParametersResult(successful=False, reason=(
                        f"harmlessness_weight {w} outside [{planner.config.harmlessness_floor}, 1]"))
                planner.config = replace(planner.config, harmlessness_weight=w)
            elif param.name != "harmlessness_weight" and param.name in p:
                return SetParametersResult(successful=False, reason=f"{param.name} is fixed at start-up")
        return SetParametersResult(successful=True)

    node.add_on_set_parameters_callback(on_set)
    return planner


def plan_msg(plan) -> PlanMsg:
    """``dexsafe.planning.schema.Plan`` -> ``dexsafe/Plan`` (object ids per step included)."""
    data = plan.to_dict()
    for step, obj in zip(data["steps"], plan.steps):
        step["object_ids"] = obj.object_ids()
    return plan_to_msg(data)
