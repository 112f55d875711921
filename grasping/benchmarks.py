"""Benchmark group ``grasping``: MultiGrasp stage 1 on this CPU (``run_grasping(progress)``).

For dual-object pairs from the project's scenes (each pair placed side by side on the table,
``PAIR_GAP`` apart, as MultiGrasp places its pairs within a few cm), with the paper's filter
thresholds and the ``fast_cpu`` profile, batch ``BATCH``:

- acceptance rate (reference: 483/1024 = 47.2%, duck + cylinder, batch 1024 [data]);
- seconds per proposal (sample) and per accepted grasp (reference: ~1.55 s and ~3.3 s on one
  datacentre GPU, likely an A800; goal: under 1 s per accepted grasp on 2 CPU cores);
- over accepted grasps of all pairs: median max-per-object force closure, median contact
  distance (mm), median and maximum penetration depth (mm; reference 1.67 mm [3P]);
- MuJoCo validation of up to ``VALIDATE_PER_PAIR`` accepted grasps per pair: gravity test
  and close-and-lift pass rates (no paper reference; their success needs the RL policy).

The defaults measure what the stack runs (CPU, ``fast_cpu``), with as many torch threads as this
process has cores (``DEXSAFE_BENCH_GRASP_THREADS``; 2 threads run a step about 1.4x faster than 1 on
2 cores). The paper's own schedule on a GPU:
``DEXSAFE_BENCH_GRASP_PROFILE=multigrasp DEXSAFE_BENCH_GRASP_DEVICE=cuda DEXSAFE_BENCH_GRASP_BATCH=1024
DEXSAFE_BENCH_GRASP_BUDGET=400 make bench BENCH=grasping`` (``..._HAND`` picks another hand).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

from dexsafe.evaluation.bench import BenchRow

GROUP = "grasping"
PAIRS = [("two_blocks", "red_block", "blue_block"), ("three_objects", "green_box", "yellow_cylinder"),
         ("three_objects", "yellow_cylinder", "glass_ball"), ("cup_and_block", "cup", "orange_block")]
PAIR_GAP = 0.02  # m between the two objects' footprints
BATCH = 128  # per proposal (one run, 4 pairs, 2 cores, 60+600 steps): dexsafe hand 0.30 s at 64, 0.23 s at 128;
# Shadow Hand 0.39 s, 0.47 s
BUDGET = 120.0  # s per pair; with 90+900 steps a batch of 128 takes 24-35 s (dexsafe hand), 40-57 s (Shadow Hand)
VALIDATE_PER_PAIR = 4


def pair_poses(scene_name: str, a: str, b: str):
    """The two objects of ``scene_name`` side by side along world y, resting on the table."""
    from dexsafe.grasping.proposals import side_by_side_poses
    from dexsafe.sim.scene_spec import load_scene

    scene = load_scene(scene_name)
    return scene, side_by_side_poses([scene.object(a), scene.object(b)], scene.table.height, PAIR_GAP)


def run_grasping(progress: Callable[[str], None] = print, scale: float = 1.0) -> list[BenchRow]:
    """The group's rows; ``scale`` < 1 shrinks batch and budget (smoke tests)."""
    from dexsafe.grasping.proposals import GraspProposer, available_cores
    from dexsafe.grasping.validation import validate_proposals

    env = os.environ.get
    batch = max(4, int(int(env("DEXSAFE_BENCH_GRASP_BATCH", BATCH)) * scale))
    budget = max(2.0, float(env("DEXSAFE_BENCH_GRASP_BUDGET", BUDGET)) * scale)
    validate_per_pair = max(1, int(VALIDATE_PER_PAIR * scale))
    profile, device = env("DEXSAFE_BENCH_GRASP_PROFILE", "fast_cpu"), env("DEXSAFE_BENCH_GRASP_DEVICE", "cpu")
    threads = int(env("DEXSAFE_BENCH_GRASP_THREADS", 0)) or available_cores()
    proposer = GraspProposer(env("DEXSAFE_BENCH_GRASP_HAND", "dexsafe_hand"), profile, device=device, threads=threads)
    where = f"{proposer.hand.description.name}, {profile}, {proposer.device}, {threads} threads"
    rows: list[BenchRow] = []
    total_s = total_n = total_acc = 0.0
    fc, dist, depth = [], [], []
    grav_ok = lift_ok = n_val = 0
    for scene_name, a, b in PAIRS:
        progress(f"[bench] grasping: {a} + {b}")
        scene, objects = pair_poses(scene_name, a, b)
        t0 = time.perf_counter()
        ps = proposer.propose(objects, num=batch, batch=batch, time_budget=budget, seed=0,
                              table_height=scene.table.height)
        secs = time.perf_counter() - t0
        total_s += secs
        total_n += ps.batch
        total_acc += ps.accepted
        rows.append(BenchRow(GROUP, f"{a}+{b} accepted", 100.0 * ps.acceptance_rate, "%", 47.2,
                             "MultiGrasp duck+cylinder, batch 1024", True,
                             f"{ps.accepted}/{ps.batch}, {ps.optim.steps_a}+{ps.optim.steps_b} steps in {secs:.0f} s"
                             f" ({where})"))
        accepted = [p for p in ps.proposals if p.passed_filter]
        for p in accepted:
            fc.append(p.metrics["fc_max"])
            dist.append(1000 * p.metrics["contact_distance_max"])
            depth.append(1000 * p.metrics["max_depth"])
        if accepted:
            res = validate_proposals(proposer.hand, objects, accepted[:validate_per_pair], scene.table.height)
            n_val += len(res)
            grav_ok += sum(all(r.gravity_passed.values()) for r in res)
            lift_ok += sum(r.lift_passed for r in res)
    rows.append(BenchRow(GROUP, "seconds per proposal", total_s / max(1, total_n), "s", 1.55,
                         "MultiGrasp, 1 GPU (A800?), batch 1024", False, f"{len(PAIRS)} pairs, batch {batch}"))
    per_acc = total_s / total_acc if total_acc else float("inf")
    rows.append(BenchRow(GROUP, "seconds per accepted grasp", per_acc, "s", 1.0,
                         "issue goal on 2 CPU cores (paper: ~3.3 s on 1 GPU)", False,
                         f"{int(total_acc)} accepted of {int(total_n)}"))
    med = lambda xs: statistics.median(xs) if xs else float("nan")  # noqa: E731
    rows.append(BenchRow(GROUP, "accepted: median max FC", med(fc), "", 0.25, "filter threshold", False,
                         f"{len(fc)} accepted grasps"))
    rows.append(BenchRow(GROUP, "accepted: median contact distance", med(dist), "mm", 5.0, "filter threshold",
                         False, "max over objects of the mean |phi| of its contacts"))
    rows.append(BenchRow(GROUP, "accepted: median penetration depth", med(depth), "mm", 1.67,
                         "MultiGrasp max penetration [3P]", False, ""))
    rows.append(BenchRow(GROUP, "accepted: max penetration depth", max(depth) if depth else float("nan"), "mm", 5.0,
                         "filter threshold", False, ""))
    rows.append(BenchRow(GROUP, "gravity test pass rate", 100.0 * grav_ok / n_val if n_val else float("nan"), "%",
                         None, "", True, f"{n_val} validated accepted grasps, 6 directions each"))
    rows.append(BenchRow(GROUP, "close-and-lift pass rate", 100.0 * lift_ok / n_val if n_val else float("nan"), "%",
                         None, "", True, "all objects rise >= half the 10 cm lift"))
    return rows
