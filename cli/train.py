"""``dexsafe train ALGO --env ID``: train a (constrained) policy with logs, plot and checkpoint.

Examples::

    dexsafe train ppo_lag --env toy/PointLine-v0 --steps 20000
    dexsafe train cppo_pid --env dexsafe/SafeReach-v0 --config my.yaml --seed 3 --out runs/reach
    dexsafe train cpo --env mypkg.envs:make_env --set cost_limit=10 --set num_envs=4
    dexsafe train ppo_lag --env toy/PointLine-v0 --out runs/x --resume --steps 40000

The run folder gets ``config.yaml``, ``progress.csv``, ``tensorboard/``,
``curves.png`` (episode reward and cost against steps, cost limit dashed) and
``checkpoint.pt`` (load it with ``dexsafe.policies.load_policy``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("algorithm", metavar="ALGO", help="algorithm name, e.g. ppo, ppo_lag, cppo_pid, cpo "
                        "(`dexsafe train --list` prints them all)", nargs="?")
    parser.add_argument("--list", action="store_true", help="list the algorithms and exit")
    parser.add_argument("--env", metavar="ID", help="gymnasium id (dexsafe/SafeReach-v0), toy id "
                        "(toy/PointLine-v0) or factory 'package.module:function'")
    parser.add_argument("--config", metavar="FILE", help="algorithm YAML; default config/policies/ALGO.yaml")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--steps", type=int, metavar="N", help="total environment steps (overrides the config)")
    parser.add_argument("--num-envs", type=int, metavar="N", help="parallel env copies (overrides the config)")
    parser.add_argument("--out", metavar="DIR", help="run folder (default runs/ALGO_ENV_seedN)")
    parser.add_argument("--resume", nargs="?", const="", metavar="CHECKPOINT",
                        help="continue from a checkpoint (default: OUT/checkpoint.pt) with the checkpoint's "
                        "config; --steps sets the new total, --set still overrides keys")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one config key (YAML value), repeatable")
    parser.add_argument("--env-arg", action="append", default=[], metavar="KEY=VALUE",
                        help="keyword argument for the env factory (YAML value), repeatable")
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="torch CPU threads (default 1: small networks run fastest single-threaded)")
    parser.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _key_values(items: list[str], what: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} {item!r} must look like KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def default_out_dir(algorithm: str, env: str, seed: int) -> Path:
    env_slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", env).strip("-")
    return Path("runs") / f"{algorithm}_{env_slug}_seed{seed}"


def run(args: argparse.Namespace) -> int:
    import torch

    from dexsafe.core.paths import resolve_data_file
    from dexsafe.policies.algorithms import ALGORITHMS, ConfigError, algorithm_class
    from dexsafe.policies.checkpoint import CheckpointError
    from dexsafe.policies.envs import EnvSpecError
    from dexsafe.policies.training import train

    if args.list:
        for name, cls in ALGORITHMS.items():
            doc = (cls.__doc__ or "").strip().splitlines()[0]
            print(f"{name:<12} {'constrained  ' if cls.constrained else 'unconstrained'}  {doc}")
        return 0

    def fail(message: str) -> int:
        print(f"dexsafe train: error: {message}", file=sys.stderr)
        return 2

    if not args.algorithm:
        return fail("ALGO is required (see --list)")
    if not args.env:
        return fail("--env is required (e.g. --env toy/PointLine-v0)")
    try:
        cls = algorithm_class(args.algorithm)
        overrides = _key_values(args.set, "--set")
        env_kwargs = _key_values(args.env_arg, "--env-arg")
        if args.num_envs is not None:
            overrides["num_envs"] = args.num_envs
        if args.config:
            config_file = resolve_data_file(args.config, "policies")
        else:
            try:
                config_file = resolve_data_file(cls.name, "policies")
            except FileNotFoundError:
                config_file = None  # the dataclass defaults
        out_dir = Path(args.out) if args.out else default_out_dir(cls.name, args.env, args.seed)
        resume = None
        if args.resume is not None:
            resume = Path(args.resume) if args.resume else out_dir / "checkpoint.pt"
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        return fail(str(exc))

    torch.set_num_threads(max(1, args.threads))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=None, unit="step", desc=f"{cls.name}", dynamic_ncols=True)

    def on_epoch(algo: Any, row: dict[str, float]) -> None:
        if bar is None:
            return
        total = algo.total_epochs * algo.steps_per_env * algo.num_envs
        if bar.total != total:
            bar.total = total
        bar.n = algo.global_step
        postfix = {"reward": f"{row['episode_reward']:.3g}", "cost": f"{row['episode_cost']:.3g}"}
        if "lagrange_multiplier" in row:
            postfix["lambda"] = f"{row['lagrange_multiplier']:.3g}"
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    t0 = time.perf_counter()
    try:
        result = train(
            cls.name,
            args.env,
            config=config_file,
            seed=args.seed,
            total_steps=args.steps,
            out_dir=out_dir,
            resume=resume,
            overrides=overrides,
            env_kwargs=env_kwargs,
            tensorboard=not args.no_tensorboard,
            on_epoch=on_epoch,
        )
    except (ConfigError, EnvSpecError, CheckpointError, FileNotFoundError) as exc:
        return fail(str(exc))
    finally:
        if bar is not None:
            bar.close()
    row = result.final_row
    cost_limit = result.algorithm.config.cost_limit
    print(
        f"{cls.name} on {args.env}: {result.algorithm.global_step} steps in {time.perf_counter() - t0:.1f} s; "
        f"last epoch: episode reward {row.get('episode_reward', float('nan')):.4g}, "
        f"episode cost {row.get('episode_cost', float('nan')):.4g} (limit {cost_limit:g})"
    )
    print(f"  log        {result.csv_path}")
    print(f"  curves     {result.plot_path}")
    print(f"  checkpoint {result.checkpoint_path}")
    return 0
