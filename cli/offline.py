"""``dexsafe offline pretrain|finetune|compare``: SO2 and baselines, offline to online.

Examples::

    # the whole comparison (dataset, pretraining, finetuning, summary, PNG), CPU scale
    dexsafe offline compare --config config/so2/cpu.yaml --out runs/so2_cpu
    dexsafe offline compare --config config/so2/cpu.yaml --methods so2,naive --seeds 0 --set online.steps=500

    # step by step
    dexsafe so2-dataset --env toy/PointGoalHazard2D-v0 --quality medium \
        --behaviour dexsafe.policies.offline.behaviours:slow_to_goal --steps 5000 --out data/pg.npz
    dexsafe offline pretrain edac --dataset data/pg.npz --env toy/PointGoalHazard2D-v0 --out runs/edac
    dexsafe offline finetune so2 --checkpoint runs/edac/checkpoint.pt --dataset data/pg.npz --out runs/so2

Run folders hold ``progress.csv`` (one row per evaluation / log interval), ``checkpoint.pt``
(load with ``dexsafe.policies.offline.load_offline_policy``; the ``so2_controller`` node runs it)
and, for finetune and compare, ``online_returns.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "so2" / "cpu.yaml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", default=str(DEFAULT_CONFIG),
                        help=f"comparison YAML (default {DEFAULT_CONFIG.relative_to(DEFAULT_CONFIG.parents[2])})")
    common.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, dotted path into the YAML (online.steps=500), repeatable")
    common.add_argument("--seed", type=int, default=0, help="random seed (pretrain, finetune; default 0)")
    common.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default 1)")
    common.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("pretrain", parents=[common], help="offline pretraining of a base algorithm")
    p.add_argument("algorithm", choices=["edac", "td3_bc", "iql"], help="base algorithm")
    p.add_argument("--dataset", required=True, metavar="FILE", help="dataset .npz/.hdf5 (dexsafe.policies.datasets)")
    p.add_argument("--env", metavar="ID", help="env id recorded in the checkpoint (default: the dataset's env_id)")
    p.add_argument("--updates", type=int, metavar="N", help="gradient steps (overrides pretrain.updates)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder")

    f = sub.add_parser("finetune", parents=[common], help="online finetuning of a pretrained checkpoint")
    f.add_argument("method", choices=["so2", "td3bc_ft", "iql_ft", "naive"], help="finetuning method")
    f.add_argument("--checkpoint", required=True, metavar="FILE", help="pretrained checkpoint of the method's base")
    f.add_argument("--dataset", required=True, metavar="FILE", help="the offline dataset (mixed into batches)")
    f.add_argument("--env", metavar="ID", help="env id (default: the checkpoint's)")
    f.add_argument("--steps", type=int, metavar="N", help="online env steps (overrides online.steps)")
    f.add_argument("--out", required=True, metavar="DIR", help="run folder")

    c = sub.add_parser("compare", parents=[common], help="dataset, pretraining and finetuning of every method")
    c.add_argument("--methods", metavar="LIST", help="comma-separated subset of so2,td3bc_ft,iql_ft,naive")
    c.add_argument("--seeds", metavar="LIST", help="comma-separated seeds (overrides seeds)")
    c.add_argument("--dataset", metavar="FILE", help="use this dataset instead of building one")
    c.add_argument("--out", required=True, metavar="DIR", help="run folder")


def load_config(path: str, overrides: list[str]) -> dict[str, Any]:
    """The YAML at ``path`` with ``KEY.SUB=VALUE`` overrides (YAML values) applied."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        cfg = yaml.safe_load(fh) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping, got {type(cfg).__name__}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r} must look like KEY=VALUE")
        node = cfg
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {part!r} is not a mapping in {path}")
        node[parts[-1]] = yaml.safe_load(value)
    return cfg


def _bar(total: int, desc: str, disable: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=disable, dynamic_ncols=True, file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    try:
        cfg = load_config(args.config, args.set)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return {"pretrain": _pretrain, "finetune": _finetune, "compare": _compare}[args.action](args, cfg)
    except ValueError as exc:  # DatasetError, config errors, checkpoint errors: say why, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _pretrain(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dexsafe.policies.datasets import load_dataset
    from dexsafe.policies.logger import TrainingLogger
    from dexsafe.policies.offline import agent_config, pretrain, save_agent

    ds = load_dataset(args.dataset)
    pre = dict(cfg.get("pretrain") or {})
    updates = int(args.updates or pre.get("updates", 10_000))
    agent_cfg = agent_config(args.algorithm, (cfg.get("agents") or {}).get(args.algorithm, {}))
    out = Path(args.out)
    logger = TrainingLogger(out, tensorboard=False)
    with _bar(updates, f"pretrain {args.algorithm}", args.no_progress) as bar:
        agent = pretrain(args.algorithm, ds, agent_cfg, updates, int(pre.get("batch_size", 256)), args.seed, logger,
                         int(pre.get("log_every", 1000)), on_update=bar.update)
    logger.close()
    low, high = ds.action_bounds()
    env_id = args.env or ds.metadata.get("env_id") or cfg.get("env_id")
    path = save_agent(agent, out / "checkpoint.pt", action_low=low, action_high=high, env_id=env_id,
                      env_kwargs=cfg.get("env_kwargs") or {}, phase="offline", extra={"seed": args.seed})
    print(f"checkpoint: {path}\nlog: {logger.csv_path}")
    return 0


def _finetune(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dexsafe.policies.datasets import load_dataset
    from dexsafe.policies.logger import TrainingLogger
    from dexsafe.policies.offline import METHODS, finetune, finetune_agent, load_agent, online_config, save_agent
    from dexsafe.policies.offline.plots import plot_online_returns
    from dexsafe.policies.offline.training import _make_env, summarize_run

    spec = METHODS[args.method]
    pretrained, meta = load_agent(args.checkpoint, optimizers=False)
    if meta["algorithm"] != spec.base:
        raise ValueError(f"{args.method} finetunes a {spec.base} checkpoint; {args.checkpoint} holds "
                         f"{meta['algorithm']}")
    mcfg = dict((cfg.get("methods") or {}).get(args.method) or {})
    online = online_config(args.method, cfg.get("online") or {}, mcfg.get("online", {}),
                           {"steps": args.steps} if args.steps else {})
    agent = finetune_agent(args.method, pretrained, online, mcfg.get("agent", {}))
    env_id = args.env or meta.get("env_id") or cfg.get("env_id")
    if not env_id:
        raise ValueError("no env: give --env (the checkpoint records none)")
    env_kwargs = meta.get("env_kwargs") or cfg.get("env_kwargs") or {}
    ds = load_dataset(args.dataset)
    out = Path(args.out)
    logger = TrainingLogger(out, tensorboard=False)
    env, eval_env = _make_env(env_id, env_kwargs), _make_env(env_id, env_kwargs)
    with _bar(online.steps, f"finetune {args.method}", args.no_progress) as bar:
        res = finetune(agent, ds, env, online, seed=args.seed, eval_env=eval_env, logger=logger, on_step=bar.update)
    logger.close()
    summary = summarize_run(res.eval_steps, res.eval_returns)
    low, high = ds.action_bounds()
    path = save_agent(agent, out / "checkpoint.pt", action_low=low, action_high=high, env_id=env_id,
                      env_kwargs=env_kwargs, method=args.method, phase="online", extra={"seed": args.seed, **summary})
    png = plot_online_returns({args.method: {args.seed: {"steps": res.eval_steps, "returns": res.eval_returns}}},
                              out / "online_returns.png", title=f"{env_id}: {args.method}")
    print(f"{args.method}: start {summary['start']:.4g} -> final {summary['final']:.4g}, "
          f"worst dip {100 * summary['worst_dip']:.1f}%")
    print(f"checkpoint: {path}\nlog: {logger.csv_path}\nplot: {png}")
    return 0


def _compare(args: argparse.Namespace, cfg: dict[str, Any]) -> int:
    from dexsafe.policies.datasets import load_dataset
    from dexsafe.policies.offline import METHODS, online_config, run_comparison

    methods = args.methods.split(",") if args.methods else list(cfg.get("methods_to_run") or METHODS)
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else [int(s) for s in cfg.get("seeds", [0])]
    mcfg = cfg.get("methods") or {}
    total = len(seeds) * sum(online_config(m, cfg.get("online") or {}, (mcfg.get(m) or {}).get("online", {})).steps
                             for m in methods)
    dataset = load_dataset(args.dataset) if args.dataset else None
    with _bar(total, "online steps", args.no_progress) as bar:
        result = run_comparison(cfg, args.out, methods, seeds, progress=bar.write if not args.no_progress else print,
                                on_step=bar.update, dataset=dataset)
    import numpy as np

    print(f"{'method':<10} {'start':>9} {'final':>9} {'gain':>9} {'worst dip':>10}  "
          f"(mean ± std over {len(seeds)} seeds)")

    for method, per_seed in result["runs"].items():
        cols = {k: np.array([r[k] for r in per_seed.values()]) for k in ("start", "final", "gain", "worst_dip")}
        print(f"{method:<10} " + " ".join(f"{cols[k].mean():>6.3g}±{cols[k].std():<4.2g}" for k in
                                            ("start", "final", "gain")) + f" {100 * cols['worst_dip'].mean():>8.1f}%")
    for key, value in result["paths"].items():
        print(f"{key}: {value}")
    return 0


if __name__ == "__main__":  # usable before the subcommand is registered in dexsafe.cli.main
    _parser = argparse.ArgumentParser(prog="dexsafe offline")
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
