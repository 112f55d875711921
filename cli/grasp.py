"""``dexsafe grasp propose | eval | train``: multi-object grasp proposals (MultiGrasp stage 1), the
dual-object grasp-and-lift success matrix over object pairs (``dexsafe.evaluation.grasp_success``),
and training the residual execution policy (``dexsafe.policies.grasp_training``).

    dexsafe grasp propose --scene two_blocks --objects red_block,blue_block --n 64 --png out.png
    dexsafe grasp eval --pairs can:slim_box,wide_box:wide_box --trials 5 --out out/grasp_eval
    dexsafe grasp eval --policy default          # the trained residual on top of the scripted executor
    dexsafe grasp train --steps 100000 --seed 0 --out out/grasp_train --export policies/models/grasp_lift_residual.pt

Objects stand where the scene places them (its seed, or ``--placement-seed``), or in a row
2 cm apart with ``--side-by-side`` (scenes that spread objects out leave nothing to grasp
together). Prints the
ranked proposals (energy terms, filter, validation) and optionally writes a PNG of the best
ones and a JSON file with all of them.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p = sub.add_parser("propose", help="propose grasps holding several objects together")
    p.add_argument("--scene", default="two_blocks", help="scene name (config/scenes) or path (default: two_blocks)")
    p.add_argument("--objects", default="", help="comma-separated object ids (default: all objects of the scene)")
    p.add_argument("--n", type=int, default=64, help="samples to optimise (the batch; default 64)")
    p.add_argument("--top", type=int, default=4, help="proposals to print, validate and draw (default 4)")
    p.add_argument("--budget", type=float, default=60.0, help="time budget for the optimiser, s (default 60)")
    p.add_argument("--seed", type=int, default=0, help="optimiser seed (default 0)")
    p.add_argument("--placement-seed", type=int, default=None, help="object placement seed (default: the scene's)")
    p.add_argument("--side-by-side", action="store_true",
                   help="stand the chosen objects in a row along y, 2 cm apart, instead of the scene's placement")
    p.add_argument("--hand", default=None, help="hand name or path (default: the scene's hand)")
    p.add_argument("--config", default="fast_cpu", help="grasping profile (fast_cpu, multigrasp) or a YAML path")
    p.add_argument("--device", default="cpu", help="torch device of the optimiser: cpu, cuda, cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads of the optimiser on the CPU (default 0: every core this process may use)")
    p.add_argument("--no-validate", action="store_true", help="skip the MuJoCo validation")
    p.add_argument("--png", default=None, help="write a picture of the best proposals here")
    p.add_argument("--json", default=None, help="write the proposals as JSON here")

    e = sub.add_parser("eval", help="dual-object grasp-and-lift success over object pairs (JSON + PNG matrix)")
    e.add_argument("--pairs", default="all",
                   help="kind:kind,... from --objects-file (default all: every unordered pair, same kind included)")
    e.add_argument("--trials", type=int, default=5, help="placements per pair (seeds --seed, --seed+1, ...)")
    e.add_argument("--seed", type=int, default=0, help="first placement seed (default 0)")
    e.add_argument("--proposer", default="scripted", choices=("scripted", "multigrasp"),
                   help="scripted row grasp (fast), or MultiGrasp stage 1 with validation (minutes per trial)")
    e.add_argument("--objects-file", default=None, help="object kinds YAML (default config/grasping/eval_objects.yaml)")
    e.add_argument("--out", default="out/grasp_eval", help="folder for success_matrix.json/.png and the scenes")
    e.add_argument("--policy", default="", help="execute with a trained residual policy: a checkpoint path, or "
                   "'default' (policies/models/grasp_lift_residual.pt); empty = the scripted executor alone")

    t = sub.add_parser("train", help="train the residual grasp-and-lift policy with PPO (dexsafe/GraspExecute-v0)")
    t.add_argument("--steps", type=int, default=100_000, help="policy decisions (default 100000, about 25 min)")
    t.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    t.add_argument("--config", default=None, help="PPO config YAML (default config/policies/grasp_residual_ppo.yaml)")
    t.add_argument("--objects-file", default=None,
                   help="training object kinds YAML (default config/grasping/train_objects.yaml)")
    t.add_argument("--out", default="out/grasp_train", help="run folder: progress.csv, curves.png, checkpoint.pt")
    t.add_argument("--export", default=None, help="write the policy for the node here (default OUT/policy.pt)")


def _as_dict(p) -> dict:
    v = p.validation
    return {"id": p.id, "object_ids": p.object_ids, "hand_position": p.hand_position.tolist(),
            "hand_quat_xyzw": p.hand_quat_xyzw.tolist(), "wrist_rpy": p.wrist_rpy.tolist(),
            "joint_names": p.joint_names, "joint_positions": p.joint_positions.tolist(),
            "energy": {k: v_[0] for k, v_ in p.energy.items()}, "energy_total": p.energy_total, "score": p.score,
            "passed_filter": p.passed_filter, "filter_failures": p.filter_failures, "metrics": p.metrics,
            "contacts": [{"object_id": c.object_id, "link": c.link, "position": c.position.tolist(),
                          "normal": c.normal.tolist(), "distance": c.distance} for c in p.contacts],
            "validation": None if v is None else {"passed": v.passed, "summary": v.summary()}}


def run_eval(args: argparse.Namespace) -> int:
    from dexsafe.evaluation.grasp_success import PAPER_REFERENCE, evaluate_pairs, load_object_kinds, parse_pairs
    from dexsafe.policies.residual_grasp import load_residual_policy
    from dexsafe.sim.scene_spec import SceneError

    try:
        kinds = load_object_kinds(args.objects_file)
        pairs = parse_pairs(args.pairs, kinds)
        policy = load_residual_policy(args.policy) if args.policy else None
        matrix = evaluate_pairs(pairs, kinds, args.trials, args.seed, args.proposer, args.out, progress=print,
                                policy=policy)
    except (ValueError, OSError, SceneError) as exc:
        print(f"dexsafe grasp eval: error: {exc}", file=sys.stderr)
        return 2
    for pair, rate in matrix.rates.items():
        print(f"  {pair:<28} {100 * rate:5.1f} %")
    refs = ", ".join(f"{k} {v:g} %" for k, v in PAPER_REFERENCE.items())
    print(f"overall {100 * matrix.overall:.1f} % over {len(matrix.trials)} trials (MultiGrasp paper: {refs}); "
          f"wrote {args.out}/success_matrix.json and .png")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dexsafe.policies.algorithms.base import ConfigError
    from dexsafe.policies.grasp_training import train_grasp_policy

    if args.steps < 1:
        print("dexsafe grasp train: error: --steps must be >= 1", file=sys.stderr)
        return 2
    export = args.export or str(Path(args.out) / "policy.pt")
    try:
        res = train_grasp_policy(args.out, export, args.steps, args.seed, args.config, args.objects_file)
    except (ValueError, OSError, ConfigError) as exc:
        print(f"dexsafe grasp train: error: {exc}", file=sys.stderr)
        return 2
    print(f"trained {res.steps} steps in {res.seconds:.0f} s; run in {res.run_dir} (curves.png, progress.csv); "
          f"policy for the grasp_executor node: {res.policy_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.action == "eval":
        return run_eval(args)
    if args.action == "train":
        return run_train(args)
    if args.action != "propose":
        print("dexsafe grasp: choose an action: propose, eval or train (see --help)", file=sys.stderr)
        return 2
    from tqdm import tqdm

    from dexsafe.grasping.config import GraspConfigError
    from dexsafe.grasping.hand_model import HandModelError
    from dexsafe.grasping.proposals import (
        GraspProposer,
        GraspRequestError,
        available_cores,
        resolve_device,
        scene_object_poses,
        side_by_side_poses,
    )
    from dexsafe.sim.hands import HandError
    from dexsafe.sim.scene_spec import SceneError, load_scene

    try:
        scene = load_scene(args.scene)
        poses = {o.id: o for o in scene_object_poses(scene, args.placement_seed)}
        ids = [s for s in args.objects.split(",") if s] or list(poses)
        unknown = [i for i in ids if i not in poses]
        if unknown:
            raise GraspRequestError(f"unknown object id(s) {unknown}; scene {scene.name!r} has {list(poses)}")
        objects = [poses[i] for i in ids]
        if args.side_by_side:
            objects = side_by_side_poses([o.spec for o in objects], scene.table.height)
        device, problem = resolve_device(args.device)
        if problem:
            raise GraspRequestError(problem)
        proposer = GraspProposer(args.hand or scene.hand, args.config, device=device,
                                 threads=args.threads if args.threads > 0 else available_cores())
        bars: dict[str, tqdm] = {}

        def progress(phase: str, step: int, total: int, energy: float) -> None:
            if phase not in bars:
                for b in bars.values():
                    b.close()
                bars[phase] = tqdm(total=total, desc=phase, unit="step", leave=True, mininterval=0.5)
            bar = bars[phase]
            bar.update(step - bar.n)
            bar.set_postfix(E=f"{energy:.3f}")

        ps = proposer.propose(objects, num=max(1, min(args.top, args.n)), batch=args.n, time_budget=args.budget,
                              seed=args.seed, table_height=scene.table.height, progress=progress)
        for b in bars.values():
            b.close()
        if not args.no_validate:
            from dexsafe.grasping.validation import validate_proposals, validated_first

            validate_proposals(proposer.hand, objects, ps.proposals, scene.table.height, table_size=scene.table.size)
            ps.proposals = validated_first(ps.proposals)
    except (SceneError, HandError, HandModelError, GraspConfigError, GraspRequestError, ValueError) as exc:
        print(f"dexsafe grasp: {exc}", file=sys.stderr)
        return 2
    print(f"{ps.accepted}/{ps.batch} samples passed the filter ({100 * ps.acceptance_rate:.1f}%) in "
          f"{ps.seconds:.1f} s: {ps.seconds / ps.batch:.2f} s per sample, "
          + (f"{ps.seconds / ps.accepted:.2f} s per accepted grasp" if ps.accepted else "none accepted")
          + (" (cut by the time budget)" if ps.optim.stopped_by_budget else ""))
    for r, p in enumerate(ps.proposals):
        terms = " ".join(f"{k}={v:.3f}" for k, (v, _) in p.energy.items())
        verdict = "pass" if p.passed_filter else "fail " + ",".join(p.filter_failures)
        print(f"#{r} E={p.energy_total:.3f} [{terms}] filter={verdict}"
              f" fc_max={p.metrics['fc_max']:.3f} dist_max={1000 * p.metrics['contact_distance_max']:.1f}mm"
              f" depth={1000 * p.metrics['max_depth']:.1f}mm"
              + ("" if p.validation is None else f"\n    validation: {p.validation.summary()}"))
    if args.png:
        from dexsafe.grasping.render import render_proposals_png

        out = render_proposals_png(proposer.hand, objects, ps.proposals, args.png, table_height=scene.table.height,
                                   top=args.top)
        print(f"wrote {out}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([_as_dict(p) for p in ps.proposals], f, indent=1)
        print(f"wrote {args.json}")
    return 0
