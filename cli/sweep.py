"""``dexsafe sweep``: algorithms x environments x seeds in parallel processes on this machine,
or on an existing Ray cluster (``--ray-address``); one results table (CSV) and a summary."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--algos", required=True, help="comma-separated algorithms, e.g. ppo,ppo_lag,cppo_pid")
    parser.add_argument("--envs", required=True, help="comma-separated env ids, e.g. dexsafe/SafeReach-v0")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--steps", type=int, default=None, help="environment steps per run")
    parser.add_argument("--config", default=None, help="algorithm config file (default: each algorithm's)")
    parser.add_argument("--out", default="runs/sweep", help="folder for the runs and results.csv")
    parser.add_argument("--processes", type=int, default=None, help="worker processes (default: CPU count)")
    parser.add_argument("--ray-address", default=None, help="address of an existing Ray cluster")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from dexsafe.policies.sweep import format_summary, plan_sweep, run_sweep, write_results_csv

    try:
        seeds = [int(s) for s in args.seeds.split(",") if s]
        jobs = plan_sweep(args.algos.split(","), args.envs.split(","), seeds, args.out, config=args.config,
                          total_steps=args.steps)
    except (KeyError, ValueError) as exc:
        print(f"dexsafe sweep: {exc}", file=sys.stderr)
        return 2
    rows = run_sweep(jobs, processes=args.processes, ray_address=args.ray_address,
                     progress=lambda m: print(m, file=sys.stderr, flush=True))
    path = write_results_csv(rows, Path(args.out) / "results.csv")
    print(format_summary(rows))
    print(f"\n{len(rows)} runs; results in {path}", file=sys.stderr)
    return 0
