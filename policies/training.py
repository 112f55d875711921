"""``train``: build envs and an algorithm, run it with logs, plots and checkpoints, or resume.

What a run folder holds::

    out_dir/
      config.yaml       the full configuration used (every key)
      progress.csv      one row per epoch: step, episode_reward, episode_cost, λ, losses, ...
      tensorboard/      the same scalars as TensorBoard events
      curves.png        episode reward and cost against steps, the cost limit dashed
      checkpoint.pt     the latest checkpoint (load_policy / resume)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from dexsafe.policies.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dexsafe.policies.logger import TrainingLogger, plot_curves

__all__ = ["TrainResult", "load_config_file", "train"]


@dataclass
class TrainResult:
    algorithm: Any
    """The trained algorithm object (its ``model`` holds the networks)."""
    rows: list[dict[str, float]]
    """Every epoch's logged row, including those before a resume."""
    out_dir: Path | None
    checkpoint_path: Path | None
    plot_path: Path | None
    csv_path: Path | None

    @property
    def final_row(self) -> dict[str, float]:
        return self.rows[-1] if self.rows else {}


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read an algorithm YAML: a flat mapping of config keys (comments are documentation)."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of config keys, got {type(data).__name__}")
    return dict(data)


def train(
    algorithm: str,
    env: str | Callable[..., Any],
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    seed: int = 0,
    total_steps: int | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    overrides: Mapping[str, Any] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    tensorboard: bool = True,
    on_epoch: Callable[[Any, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train ``algorithm`` on ``env`` and return the result.

    Args:
        algorithm: a name in :data:`dexsafe.policies.algorithms.ALGORITHMS`.
        env: an id or factory accepted by :func:`dexsafe.policies.envs.make_env`.
        config: a mapping or a YAML file of config keys; ``overrides`` win over it.
        total_steps: overrides ``config['total_steps']`` (when resuming: the new total).
        out_dir: run folder for CSV, TensorBoard, PNG and checkpoint; None = nothing written.
        resume: a checkpoint (or run folder) to continue from; its algorithm must
            match and its config is used (``total_steps``/``overrides`` still apply).
    """
    from dexsafe.policies.algorithms import algorithm_class, config_from_dict

    cls = algorithm_class(algorithm)
    checkpoint = None
    if resume is not None:
        checkpoint = load_checkpoint(resume)
        if checkpoint["algorithm"] != cls.name:
            raise CheckpointError(
                f"checkpoint {resume} was trained with {checkpoint['algorithm']!r}, not {cls.name!r}"
            )
        values = dict(checkpoint["config"])
    elif isinstance(config, (str, os.PathLike)):
        values = load_config_file(config)
    else:
        values = dict(config or {})
    values.update(overrides or {})
    if total_steps is not None:
        values["total_steps"] = int(total_steps)
    cfg = config_from_dict(cls.config_class, values)

    torch.manual_seed(seed)
    vec_env = cls.make_training_env(env, cfg, dict(env_kwargs or {}))
    algo = cls(vec_env, cfg, seed=seed)
    if checkpoint is not None:
        algo.load_state_dict(checkpoint["state"])

    env_id = env if isinstance(env, str) else None
    logger = None
    out = None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        config_dump = dataclasses.asdict(cfg)
        config_dump["hidden_sizes"] = list(config_dump["hidden_sizes"])
        meta = {"algorithm": cls.name, "env": env_id, "seed": seed}
        (out / "config.yaml").write_text(yaml.safe_dump({**meta, **config_dump}, sort_keys=False))
        logger = TrainingLogger(out, tensorboard=tensorboard, append=checkpoint is not None)
    rows: list[dict[str, float]] = list(logger.rows) if logger is not None else []

    def after_epoch(a: Any, row: dict[str, float]) -> None:
        rows.append({"step": a.global_step, **row})
        if logger is not None:
            logger.log(row, step=a.global_step)
        if out is not None and (a.epoch % cfg.checkpoint_every == 0 or a.epoch >= a.total_epochs):
            save_checkpoint(a, out / "checkpoint.pt", env_id)
        if on_epoch is not None:
            on_epoch(a, row)

    try:
        algo.learn(on_epoch=after_epoch)
    finally:
        vec_env.close()
        if logger is not None:
            logger.close()
    ckpt = plot = csv_path = None
    if out is not None:
        ckpt = save_checkpoint(algo, out / "checkpoint.pt", env_id)
        plot = plot_curves(rows, out / "curves.png", cfg.cost_limit, title=f"{cls.name} on {env_id or 'env'}")
        csv_path = out / "progress.csv"
    return TrainResult(algo, rows, out, ckpt, plot, csv_path)
