"""``make bench`` group ``so2``: a small, honest offline-to-online comparison on a CPU.

On ``dexsafe/SafeReach-v0`` (the project's fast constrained hand task) with a self-made
"medium" dataset (a scripted driver at 30% speed plus noise), every method of
:data:`~dexsafe.policies.offline.so2.METHODS` is pretrained and finetuned over seeds with the
CPU-scale settings of ``config/so2/cpu.yaml`` (further shrunk here to fit minutes). Rows, each
mean over seeds with the spread in ``detail``: return after offline pretraining, after the online
budget, the gain, and the worst dip (relative to the start); plus the issue's goals: SO2's gain
above TD3+BC-finetune's on every seed, SO2's worst dip above -15%, naive finetuning dipping
below -30% somewhere.

What it is not: the issue's HalfCheetah-v5/Hopper-v5 medium and medium-replay rows at 100k
steps (hours even at CPU scale), nor GraspLift (no usable behaviour policy yet). Budget from
``DEXSAFE_BENCH_SO2_SEEDS`` (default 3), ``DEXSAFE_BENCH_SO2_STEPS`` (online steps, default 400)
and ``DEXSAFE_BENCH_SO2_ENV`` (default dexsafe/SafeReach-v0; toy/PointGoalHazard2D-v0 without MuJoCo).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dexsafe.evaluation.bench import BenchRow

CONFIG = Path(__file__).resolve().parents[2] / "config" / "so2" / "cpu.yaml"


def bench_config(env_id: str, steps: int, seeds: int) -> dict:
    """``config/so2/cpu.yaml`` shrunk to a bench budget."""
    import yaml

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["env_id"] = env_id
    cfg["seeds"] = list(range(seeds))
    cfg["dataset"].update({"steps": 3000})
    cfg["pretrain"].update({"updates": 600})
    cfg["online"].update({"steps": steps, "eval_every": max(1, steps // 6), "eval_episodes": 3})
    cfg["methods"]["so2"]["online"].update({"warmup_steps": min(100, steps // 5)})
    return cfg


def run_so2(progress: Callable[[str], None] = print) -> list[BenchRow]:
    import torch

    from dexsafe.policies.offline.training import run_comparison

    torch.set_num_threads(1)
    env_id = os.environ.get("DEXSAFE_BENCH_SO2_ENV", "dexsafe/SafeReach-v0")
    steps = int(os.environ.get("DEXSAFE_BENCH_SO2_STEPS", "400"))
    n_seeds = int(os.environ.get("DEXSAFE_BENCH_SO2_SEEDS", "3"))
    try:
        from dexsafe.policies.envs import make_env

        make_env(env_id).close()
    except Exception as exc:  # noqa: BLE001 - no simulator: the toy task still measures the algorithms
        progress(f"[so2] {env_id} unavailable ({exc}); using toy/PointGoalHazard2D-v0")
        env_id = "toy/PointGoalHazard2D-v0"
    cfg = bench_config(env_id, steps, n_seeds)
    t0 = time.perf_counter()
    result = run_comparison(cfg, None, progress=progress)
    wall = time.perf_counter() - t0
    runs = result["runs"]
    setting = (f"{env_id}, medium data {result['dataset']['transitions']} rows, {steps} online steps, "
               f"{n_seeds} seeds, CPU scale")
    rows: list[BenchRow] = []

    def spread(values: np.ndarray) -> str:
        return f"mean {values.mean():.3g} ± {values.std():.2g} (min {values.min():.3g}, max {values.max():.3g})"

    for method, per_seed in runs.items():
        cols = {k: np.array([r[k] for r in per_seed.values()]) for k in ("start", "final", "gain", "worst_dip")}
        rows.append(BenchRow("so2", f"{method}: return after offline pretraining", float(cols["start"].mean()),
                             "return", detail=f"{spread(cols['start'])}; {setting}"))
        rows.append(BenchRow("so2", f"{method}: return after online budget", float(cols["final"].mean()), "return",
                             reference=float(cols["start"].mean()), reference_note="its own offline start",
                             higher_is_better=True, detail=spread(cols["final"])))
        dip_ref = -0.15 if method == "so2" else None
        rows.append(BenchRow("so2", f"{method}: worst dip", float(100 * cols["worst_dip"].min()), "% of start",
                             reference=None if dip_ref is None else 100 * dip_ref,
                             reference_note="issue 9 goal: SO2 above -15%" if dip_ref is not None else "",
                             higher_is_better=True, detail=spread(100 * cols["worst_dip"])))
    if "so2" in runs and "td3bc_ft" in runs:
        seeds = sorted(runs["so2"])
        wins = [runs["so2"][s]["gain"] > runs["td3bc_ft"][s]["gain"] for s in seeds]
        rows.append(BenchRow("so2", "seeds where SO2 gains more than TD3+BC-finetune", float(np.mean(wins)),
                             "fraction", reference=1.0, reference_note="issue 9 goal: every seed",
                             higher_is_better=True,
                             detail=", ".join(f"seed {s}: {runs['so2'][s]['gain']:.3g} vs "
                                              f"{runs['td3bc_ft'][s]['gain']:.3g}" for s in seeds)))
    if "naive" in runs:
        worst = min(r["worst_dip"] for r in runs["naive"].values())
        rows.append(BenchRow("so2", "naive finetuning: worst dip over seeds", float(100 * worst), "% of start",
                             reference=-30.0, reference_note="collapse control: expected below -30%",
                             higher_is_better=False))
    rows.append(BenchRow("so2", "comparison wall time", wall, "s", detail=setting))
    return rows
