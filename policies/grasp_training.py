"""Train the residual grasp-and-lift policy with PPO and export it for the ``grasp_executor`` node.

``train_grasp_policy`` runs ``dexsafe.policies.training.train`` (PPO, the SafePO
implementation of this package) on ``dexsafe/GraspExecute-v0`` with the config in
``config/policies/grasp_residual_ppo.yaml``, then writes a policy-only checkpoint (no
optimiser or critic state, a few hundred kB) that carries what the policy was trained for
(:class:`~dexsafe.policies.residual_grasp.PolicySpec`) and how (seed, steps, object kinds,
the training curve's last success rate). The run folder keeps the full checkpoint, the
CSV log and ``curves.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dexsafe.core.paths import config_path
from dexsafe.policies.residual_grasp import ENV_ID, PolicySpec

DEFAULT_CONFIG = "grasp_residual_ppo.yaml"
EPISODE_STEPS = 40
"""Policy decisions in a typical episode (close, lift, hold at 10 Hz); sizes the curriculum."""


@dataclass
class GraspTrainResult:
    run_dir: Path
    policy_path: Path
    steps: int
    seconds: float
    success_curve: list[tuple[int, float]]
    """(step, share of the epoch's finished episodes that succeeded)"""


def train_grasp_policy(out_dir: str | Path, policy_path: str | Path, total_steps: int = 100_000, seed: int = 0,
                       config: str | Path | None = None, objects_file: str | None = None,
                       progress: Callable[[str], None] | None = print,
                       overrides: dict | None = None) -> GraspTrainResult:
    """Train one seed; write the run to ``out_dir`` and the exported policy to ``policy_path``.
    ``overrides``: PPO config keys that win over the config file's."""
    import torch

    from dexsafe.policies.training import train
    from dexsafe.sim.envs.grasp_execute import GraspExecuteEnv

    torch.set_num_threads(1)  # small networks: threads only contend with the simulator
    envs: list[GraspExecuteEnv] = []
    counted = [0, 0]  # episodes finished and succeeded up to the last epoch
    curve: list[tuple[int, float]] = []
    t0 = time.perf_counter()

    def make_env():
        envs.append(GraspExecuteEnv(objects_file, curriculum_episodes=max(1, total_steps // EPISODE_STEPS)))
        return envs[-1]

    def epoch_success_rate() -> float:
        done, won = sum(e.finished for e in envs), sum(e.succeeded for e in envs)
        rate = (won - counted[1]) / (done - counted[0]) if done > counted[0] else float("nan")
        counted[:] = [done, won]
        return rate

    def on_epoch(algo, row: dict) -> None:
        rate = epoch_success_rate()
        curve.append((int(algo.global_step), rate))
        if progress:
            progress(f"[grasp train seed {seed}] step {algo.global_step}/{total_steps}: "
                     f"episode reward {row.get('episode_reward', float('nan')):.1f}, "
                     f"cost {row.get('episode_cost', float('nan')):.2f}, success {100 * rate:.0f} %, "
                     f"{time.perf_counter() - t0:.0f} s")

    res = train("ppo", make_env, config or config_path("policies", DEFAULT_CONFIG), seed=seed,
                total_steps=total_steps, out_dir=out_dir, overrides=overrides, tensorboard=False, on_epoch=on_epoch)
    seconds = time.perf_counter() - t0
    probe = GraspExecuteEnv(objects_file)
    try:
        spec = PolicySpec(probe.hand.name, 2, probe.control_rate / probe.executor_every, probe.decide_every,
                          probe.scales)
        kinds = sorted(probe.kinds)
    finally:
        probe.close()
    last = [r for _, r in curve[-5:] if np.isfinite(r)]
    training = {"env_id": ENV_ID, "seed": int(seed), "steps": int(res.algorithm.global_step),
                "seconds": round(seconds, 1), "object_kinds": kinds,
                "final_training_success": float(np.mean(last)) if last else float("nan")}
    path = export_residual_policy(res.checkpoint_path, policy_path, spec, training)
    plot_success_curve({f"seed {seed}": curve}, Path(out_dir) / "success_curve.png", "residual grasp policy")
    return GraspTrainResult(Path(out_dir), path, int(res.algorithm.global_step), seconds, curve)


def plot_success_curve(curves: dict[str, list[tuple[int, float]]], path: Path, title: str) -> Path:
    """Training success rate (exploring policy, share of each epoch's episodes) against env steps, one
    line per run (label -> curve), the curriculum's phase boundaries dotted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    last = 0
    for label, curve in curves.items():
        ax.plot([s for s, _ in curve], [100 * r for _, r in curve], marker=".", lw=1, label=label)
        last = max([last, *(s for s, _ in curve)])
    for k in (1, 2):
        ax.axvline(last * k / 3, color="grey", ls=":", lw=0.8)
    ax.legend(fontsize=7)
    ax.set_xlabel("env steps (0.1 s decisions)")
    ax.set_ylabel("training success, %")
    ax.set_ylim(0, 100)
    ax.set_title(f"{title}\n(exploring policy; curriculum: clean | mixed | mostly perturbed pre-grasps)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def export_residual_policy(checkpoint: str | Path, out: str | Path, spec: PolicySpec, training: dict) -> Path:
    """A policy-only copy of a PPO checkpoint, tagged with the residual grasp ``spec`` and ``training`` facts."""
    from dexsafe.policies.checkpoint import load_checkpoint
    from dexsafe.policies.checkpoint_files import save_atomic

    data = load_checkpoint(checkpoint)
    data.pop("state", None)
    data["env_id"] = ENV_ID
    data["grasp_policy"] = spec.as_dict()
    data["training"] = dict(training)
    return save_atomic(data, out)


__all__ = ["GraspTrainResult", "export_residual_policy", "train_grasp_policy"]
