"""``dexsafe so2-dataset``: build an offline dataset from simulation rollouts (dexsafe.policies.datasets).

Examples::

    dexsafe so2-dataset --env toy/PointGoalHazard2D-v0 --quality random --steps 5000 --out data/pg_random.npz
    dexsafe so2-dataset --env dexsafe/SafeReach-v0 --quality medium \
        --behaviour dexsafe.policies.offline.behaviours:slow_to_goal --steps 20000 --out data/reach.hdf5
    dexsafe so2-dataset --env HalfCheetah-v5 --quality medium-replay --behaviour-steps 40000 --out data/hc_mr.npz

``--behaviour`` is ``random``, ``train`` (SAC from scratch for ``--behaviour-steps``), a checkpoint
of ``dexsafe offline`` or a ``package.module:factory`` taking the env and returning ``obs -> action``.
Recorded rosbags become datasets with ``dexsafe dataset from-bag`` (same format).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", required=True, metavar="ID", help="env id (toy/..., dexsafe/..., gymnasium id)")
    parser.add_argument("--quality", default="medium",
                        choices=["random", "medium", "expert", "medium-expert", "mixed", "medium-replay"])
    parser.add_argument("--behaviour", default="random", help="random | train | CHECKPOINT | module:factory")
    parser.add_argument("--behaviour-steps", type=int, default=20_000, metavar="N", help="SAC steps for 'train'")
    parser.add_argument("--steps", type=int, default=10_000, metavar="N", help="transitions to collect")
    parser.add_argument("--noise", type=float, default=0.3, help="action noise, in half action ranges")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, metavar="FILE", help=".npz, .hdf5 or .h5")


def run(args: argparse.Namespace) -> int:
    from dexsafe.policies.offline.training import make_dataset

    cfg = {"quality": args.quality, "behaviour": args.behaviour, "behaviour_steps": args.behaviour_steps,
           "steps": args.steps, "noise": args.noise, "seed": args.seed}
    try:
        ds = make_dataset(cfg, args.env, {})
        ds.metadata.setdefault("env_id", args.env)
        path = ds.save(args.out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: {ds.summary()}")
    return 0


if __name__ == "__main__":  # usable before the subcommand is registered in dexsafe.cli.main
    _parser = argparse.ArgumentParser(prog="dexsafe so2-dataset")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
