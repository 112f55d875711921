"""``dexsafe plan``: plan an instruction against a scene; ``dexsafe plan eval``; ``dexsafe plan train``.

    dexsafe plan "pick up the two blocks together" --scene kitchen_table --json
    dexsafe plan eval [--sweep] [--json] [--out results.json]
    dexsafe plan train [--out DIR]

The printed plan is the final one (after correction and validation). With
``--json`` it is one JSON object: the plan's keys (``status``, ``steps`` with
``skill`` and ``args``, ``rationale``, ``reasons``, ``plan_id``, ...) plus
``edits``, ``reward``, ``cost``, ``backend`` and ``fallback_reason``.
Exit status: 0 when a plan (of any status) was produced, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("instruction", nargs="+",
                        help='the instruction in quotes, or "eval" (run the evaluation) or "train" (retrain models)')
    parser.add_argument("--scene", default="kitchen_table", help="scene YAML path or name under config/scenes/")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument("--config", default="planner", help="planner YAML path or name under config/planning/")
    parser.add_argument("--backend", choices=("rule", "openai"), help="override the config's backend")
    parser.add_argument("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", help="model name to request from the server")
    parser.add_argument("--timeout", type=float, help="LLM budget per draft, s")
    parser.add_argument("--harmlessness-weight", type=float, help="w in [floor, 1] (Panacea-style steering)")
    parser.add_argument("--corrector", choices=("learned", "rule"), help="override the corrector")
    parser.add_argument("--scorer", choices=("learned", "symbolic"), help="override the scorer")
    parser.add_argument("--sweep", action="store_true", help="eval: also sweep the harmlessness weight")
    parser.add_argument("--out", help="eval: write the JSON report here; train: folder for the weight files")


def _config(args):
    from dataclasses import replace

    from dexsafe.planning.pipeline import load_planner_config
    cfg = load_planner_config(args.config, backend=args.backend, harmlessness_weight=args.harmlessness_weight,
                              corrector=args.corrector, scorer=args.scorer)
    llm = cfg.llm
    if args.base_url:
        llm = replace(llm, base_url=args.base_url)
    if args.model:
        llm = replace(llm, model=args.model)
    if args.timeout is not None:
        llm = replace(llm, timeout_s=args.timeout)
    return replace(cfg, llm=llm)


def _print_plan(result, as_json: bool) -> None:
    if as_json:
        out = result.plan.to_dict()
        out.update({"edits": [e.to_dict() for e in result.edits], "reward": result.reward, "cost": result.cost,
                    "backend": result.backend, "fallback_reason": result.fallback_reason})
        print(json.dumps(out, indent=2))
        return
    plan = result.plan
    print(f"status: {plan.status.value}")
    for i, s in enumerate(plan.steps):
        print(f"  {i}. {s.skill}({', '.join(f'{k}={v}' for k, v in s.args.items())})")
    print(f"rationale: {plan.rationale}")
    if result.edits:
        print("edits:")
        for e in result.edits:
            print(f"  - {e.reason}")
    if result.fallback_reason:
        print(f"fallback: {result.fallback_reason}")


def run(args: argparse.Namespace) -> int:
    from dexsafe.planning.limits import LimitsError
    from dexsafe.planning.pipeline import PlannerConfigError
    from dexsafe.planning.preferences import PreferenceError
    from dexsafe.sim.scene_spec import SceneError, load_scene

    words = args.instruction
    try:
        if words == ["train"]:
            from dexsafe.planning.training import train_all
            report = train_all(out_dir=args.out, progress=lambda m: print(m, file=sys.stderr))
            print(json.dumps(report, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
            return 0
        scene = load_scene(args.scene)
        config = _config(args)
        if words == ["eval"]:
            from dexsafe.planning.evaluation import evaluate, format_report
            report = evaluate(scene, config, sweep=args.sweep, progress=lambda m: print(m, file=sys.stderr))
            if args.out:
                with open(args.out, "w") as f:
                    json.dump(report, f, indent=2)
            print(json.dumps(report, indent=2) if args.json else format_report(report))
            return 0
        from dexsafe.planning.pipeline import InstructionPlanner
        result = InstructionPlanner(scene, config).plan(" ".join(words))
    except (SceneError, PlannerConfigError, PreferenceError, LimitsError, FileNotFoundError) as exc:
        print(f"dexsafe plan: {exc}", file=sys.stderr)
        return 2
    _print_plan(result, args.json)
    return 0
