"""Benchmark group ``sim``: how fast the simulation runs here (``run_sim(progress)``).

Rows: raw ``mj_step`` rate of the default scene (the physical limit, the
reference for the others), ``GraspLift`` env steps per second (each = 10 physics
steps, so its reference is a tenth of the raw rate), and the vectorised
``GraspLift`` with N=8 copies in one process (env-steps/s over all copies).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from dexsafe.evaluation.bench import BenchRow

GROUP = "sim"


def _rate(fn: Callable[[], None], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t0)


def raw_step_rate(scene: str = "two_blocks", seconds: float = 2.0, after_steps: int = 0) -> float:
    """mj_step calls per second on the composed scene, hand holding its targets: ``seconds`` of sim
    time timed after ``after_steps`` untimed steps from the reset."""
    import mujoco

    from dexsafe.sim.mujoco_backend import MujocoBackend

    b = MujocoBackend(scene)
    try:
        m, d = b.model, b.data
        n = max(100, int(seconds / b.timestep))  # a little simulated time per wall second, ~1-2 s wall
        if after_steps > 0:
            mujoco.mj_step(m, d, nstep=int(after_steps))
        t0 = time.perf_counter()
        mujoco.mj_step(m, d, nstep=n)
        return n / (time.perf_counter() - t0)
    finally:
        b.close()


def run_sim(progress: Callable[[str], None] = print, scale: float = 1.0) -> list[BenchRow]:
    """The group's rows; ``scale`` < 1 shortens every measurement (for smoke tests)."""
    from dexsafe.sim.envs import make, make_vec_env

    rows: list[BenchRow] = []
    progress("[bench] sim: raw mj_step")
    raw = raw_step_rate(seconds=2.0 * scale)
    rows.append(BenchRow(GROUP, "mj_step two_blocks", raw, "steps/s", None, "", True,
                         "raw MuJoCo, dexsafe_hand + 2 blocks, 2 ms step: the physical limit"))

    progress("[bench] sim: GraspLift env.step")
    env = make("dexsafe/GraspLift-v0")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = max(5, int(400 * scale))
    acts = rng.uniform(-0.2, 0.2, size=(n, env.action_space.shape[0]))
    it = iter(acts)
    rate = _rate(lambda: env.step(next(it)), n)
    frame_skip = env.frame_skip
    env.close()
    rows.append(BenchRow(GROUP, "GraspLift-v0 env.step", rate, "steps/s", raw / frame_skip,
                         f"raw mj_step / frame_skip {frame_skip}", True, "single env, small random actions"))

    progress("[bench] sim: GraspLift vectorised N=8")
    venv = make_vec_env("dexsafe/GraspLift-v0", 8, seed=0)
    venv.reset()
    nv = max(3, int(60 * scale))
    vacts = rng.uniform(-0.2, 0.2, size=(nv, 8, venv.single_action_space.shape[0]))
    vit = iter(vacts)
    vrate = 8 * _rate(lambda: venv.step(next(vit)), nv)
    venv.close()
    rows.append(BenchRow(GROUP, "GraspLift-v0 vector N=8", vrate, "env-steps/s", raw / frame_skip,
                         f"raw mj_step / frame_skip {frame_skip}", True, "8 copies stepped in one process"))
    return rows
