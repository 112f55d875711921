"""Sweeps: algorithms × tasks × seeds, run in parallel processes or on a Ray cluster, one table.

The library behind a ``dexsafe sweep`` command::

    jobs = plan_sweep(["ppo", "ppo_lag"], ["toy/PointLine-v0"], seeds=[0, 1, 2],
                      out_root="runs/sweep", total_steps=20_000)
    results = run_sweep(jobs, processes=2)             # or ray_address="ray://host:10001"
    write_results_csv(results, "runs/sweep/results.csv")
    print(format_summary(results))

Each job is one :func:`~dexsafe.policies.training.train` call writing its own run
folder (CSV, TensorBoard, PNG, checkpoint). Worker processes are started with
``spawn`` (torch and ``fork`` do not mix) and use one torch thread each. A
failed job is reported in the table with its error instead of stopping the sweep.
Ray is optional: it is imported only when an address is given, and must already
be installed where the sweep runs and on the cluster.
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

__all__ = ["SweepJob", "format_summary", "plan_sweep", "run_job", "run_sweep", "write_results_csv"]

RESULT_COLUMNS = [
    "algorithm", "env", "seed", "steps", "episode_reward", "episode_cost", "cost_limit",
    "seconds", "out_dir", "error",
]


@dataclass(frozen=True)
class SweepJob:
    """One training run of a sweep."""

    algorithm: str
    env: str
    seed: int
    out_dir: str
    config: str | None = None
    """An algorithm YAML path; None = the algorithm's config/policies/ALGO.yaml if present."""
    overrides: Mapping[str, Any] = field(default_factory=dict)
    total_steps: int | None = None
    final_epochs: int = 3
    """The reported reward and cost are means over this many last epochs."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


def plan_sweep(
    algorithms: Iterable[str],
    envs: Iterable[str],
    seeds: Iterable[int],
    out_root: str | os.PathLike,
    config: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    total_steps: int | None = None,
) -> list[SweepJob]:
    """Every algorithm × env × seed as a :class:`SweepJob` with its own run folder under ``out_root``."""
    from dexsafe.policies.algorithms import algorithm_class

    jobs = []
    for algorithm in algorithms:
        name = algorithm_class(algorithm).name  # fail early on a typo
        for env in envs:
            for seed in seeds:
                out = Path(out_root) / f"{name}_{_slug(env)}_seed{int(seed)}"
                jobs.append(SweepJob(name, env, int(seed), str(out), config, dict(overrides or {}), total_steps))
    return jobs


def run_job(job: SweepJob) -> dict[str, Any]:
    """Run one job in this process; returns a results-table row (``error`` set on failure)."""
    import numpy as np
    import torch

    from dexsafe.core.paths import resolve_data_file
    from dexsafe.policies.training import train

    torch.set_num_threads(1)
    row: dict[str, Any] = {k: "" for k in RESULT_COLUMNS}
    row.update(algorithm=job.algorithm, env=job.env, seed=job.seed, out_dir=job.out_dir)
    t0 = time.perf_counter()
    try:
        config = job.config
        if config is None:
            try:
                config = str(resolve_data_file(job.algorithm, "policies"))
            except FileNotFoundError:
                config = None
        result = train(
            job.algorithm, job.env, config, seed=job.seed, total_steps=job.total_steps,
            out_dir=job.out_dir, overrides=job.overrides,
        )
        last = result.rows[-job.final_epochs :]
        row.update(
            steps=result.algorithm.global_step,
            episode_reward=float(np.nanmean([r["episode_reward"] for r in last])),
            episode_cost=float(np.nanmean([r["episode_cost"] for r in last])),
            cost_limit=result.algorithm.config.cost_limit,
        )
    except Exception as exc:  # noqa: BLE001 - a failed job goes in the table, the sweep goes on
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc()
    row["seconds"] = time.perf_counter() - t0
    return row


def run_sweep(
    jobs: list[SweepJob],
    processes: int | None = None,
    ray_address: str | None = None,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run ``jobs`` and return their rows in job order.

    ``ray_address`` given: one Ray task per job on that (existing) cluster.
    Otherwise ``processes`` worker processes on this machine (default: CPU count;
    1 runs the jobs one after another in this process).
    """
    if not jobs:
        return []
    if ray_address is not None:
        return _run_on_ray(jobs, ray_address, progress)
    processes = processes or os.cpu_count() or 1
    if processes <= 1:
        rows = []
        for i, job in enumerate(jobs):
            rows.append(run_job(job))
            progress(_progress_line(i + 1, len(jobs), rows[-1]))
        return rows
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    with ProcessPoolExecutor(max_workers=min(processes, len(jobs)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
        for done, future in enumerate(as_completed(futures), start=1):
            i = futures[future]
            rows[i] = future.result()
            progress(_progress_line(done, len(jobs), rows[i]))
    return [r for r in rows if r is not None]


def _run_on_ray(jobs: list[SweepJob], address: str, progress: Callable[[str], None]) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(
            "a Ray address was given but ray is not installed here; install ray (same version as the cluster)"
        ) from exc
    if not ray.is_initialized():
        ray.init(address=address)
    remote = ray.remote(num_cpus=1)(run_job)
    refs = [remote.remote(job) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    pending = list(refs)
    while pending:
        ready, pending = ray.wait(pending, num_returns=1)
        i = index[ready[0]]
        rows[i] = ray.get(ready[0])
        progress(_progress_line(len(jobs) - len(pending), len(jobs), rows[i]))
    return [r for r in rows if r is not None]


def _progress_line(done: int, total: int, row: dict[str, Any]) -> str:
    what = f"{row['algorithm']} {row['env']} seed {row['seed']}"
    if row.get("error"):
        return f"[sweep {done}/{total}] {what}: FAILED {row['error']}"
    return (
        f"[sweep {done}/{total}] {what}: reward {row['episode_reward']:.4g}, cost {row['episode_cost']:.4g} "
        f"({row['seconds']:.0f} s)"
    )


def write_results_csv(rows: list[dict[str, Any]], path: str | os.PathLike) -> Path:
    """One line per job, columns :data:`RESULT_COLUMNS`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, RESULT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def format_summary(rows: list[dict[str, Any]]) -> str:
    """Mean ± std of final reward and cost per algorithm × env over seeds, as a text table."""
    import numpy as np

    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["algorithm"], row["env"]), []).append(row)
    header = ("algorithm", "env", "seeds", "episode reward", "episode cost", "cost limit", "failed")
    lines = [header]
    for (algorithm, env), group in groups.items():
        ok = [r for r in group if not r.get("error")]
        rewards = [float(r["episode_reward"]) for r in ok]
        costs = [float(r["episode_cost"]) for r in ok]

        def stat(values: list[float]) -> str:
            finite = [v for v in values if math.isfinite(v)]
            return f"{np.mean(finite):.4g} ± {np.std(finite):.2g}" if finite else "-"

        limit = ok[0]["cost_limit"] if ok else ""
        lines.append((algorithm, env, str(len(ok)), stat(rewards), stat(costs), f"{limit:g}" if ok else "-",
                      str(len(group) - len(ok))))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


# Exposed for callers that want the job as plain data (e.g. to log a sweep plan).
def job_as_dict(job: SweepJob) -> dict[str, Any]:
    return asdict(job)
