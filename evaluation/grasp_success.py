"""Dual-object grasp-and-lift success over object pairs and placements (``dexsafe grasp eval``).

For each pair of object kinds (``config/grasping/eval_objects.yaml``) and each trial, a
two-object scene is written (the pair standing in a row along +x on the table, gap, y
offset and yaw drawn from the trial's seed), a proposal is made, and the grasp is executed
in MuJoCo through the safety shield exactly as the stack runs it (``sim_loop``: the shield
at its control rate, the executor every other tick, contact forces per finger). Success,
as in MultiGrasp: every object at least ``SUCCESS_HEIGHT`` above its start after the
executor's one-second hold.

Proposals (``proposer``): ``scripted`` is the row grasp of ``dexsafe.sim.scripted``
(dexsafe hand only); ``multigrasp`` asks MultiGrasp stage 1 (``GraspProposer``) for the
best validated pre-grasp and counts the trial failed when there is none. Execution is the
scripted executor (``ScriptedGraspExecutor``), with or without the trained residual policy
on top of it (``dexsafe.policies.residual_grasp``), as the ``grasp_executor`` node runs it.

Every trial's scene is kept as YAML under ``out_dir/scenes`` so a failure can be replayed
with ``dexsafe render`` or the sim node.
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from dexsafe.core import yaml_io
from dexsafe.core.paths import config_path

if TYPE_CHECKING:
    from dexsafe.policies.residual_grasp import ResidualGraspPolicy

SUCCESS_HEIGHT = 0.10
"""m every object must rise (MultiGrasp: 10 cm after a one-second hold)."""
LIFT_HEIGHT = 0.12
"""m the executor lifts the wrist."""
MAX_TRIAL_TIME = 25.0
"""s of sim time after which a trial that has not finished counts as failed."""
PROPOSERS = ("scripted", "multigrasp")
PAPER_REFERENCE = {"vision policy": 44.13, "state-based specialists": 68.34, "no RL": 1.37}
"""MultiGrasp's dual-object success rates, % (Table in ../shared/reference/multigrasp.md)."""


@dataclass
class TrialResult:
    pair: str
    trial: int
    seed: int
    success: bool
    rise_m: dict[str, float]
    peak_contact_force_n: float
    sim_time_s: float
    shield_cost: float
    note: str = ""


@dataclass
class SuccessMatrix:
    """Per pair: successes over trials; ``trials`` has every trial's details."""

    kinds: list[str]
    proposer: str
    trials_per_pair: int
    executor: str = "scripted"
    rates: dict[str, float] = field(default_factory=dict)
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def overall(self) -> float:
        return float(np.mean([t.success for t in self.trials])) if self.trials else math.nan

    def as_dict(self) -> dict:
        return {"kinds": self.kinds, "proposer": self.proposer, "executor": self.executor,
                "trials_per_pair": self.trials_per_pair,
                "overall_success": self.overall, "rates": self.rates,
                "paper_reference_percent": PAPER_REFERENCE, "trials": [asdict(t) for t in self.trials]}


def load_object_kinds(path: str | Path | None = None) -> dict[str, dict]:
    """Object kinds by name: scene-file object entries without id and placement."""
    file = Path(path) if path else config_path("grasping", "eval_objects.yaml")
    data = yaml_io.safe_load(file.read_text()) or {}
    kinds = data.get("objects")
    if not isinstance(kinds, dict) or not kinds:
        raise ValueError(f"{file}: needs an 'objects' mapping of kind name -> object entry")
    return kinds


def parse_pairs(text: str, kinds: dict[str, dict]) -> list[tuple[str, str]]:
    """``"a:b,c:d"`` -> pairs; ``"all"`` (or empty) -> every unordered pair of kinds, same kind included."""
    if not text or text == "all":
        return list(itertools.combinations_with_replacement(sorted(kinds), 2))
    pairs = []
    for item in text.split(","):
        a, sep, b = item.strip().partition(":")
        if not sep or a not in kinds or b not in kinds:
            raise ValueError(f"pair {item!r}: write kind:kind with kinds from {sorted(kinds)}")
        pairs.append((a, b))
    return pairs


def _half_extent_x(entry: dict, yaw: float) -> float:
    """Half extent along world x of an upright object turned by ``yaw``, m (round shapes as the placement
    check sees them: a circumscribed 16-gon)."""
    if entry["shape"] == "box":
        return abs(math.cos(yaw)) * float(entry["size"][0]) / 2 + abs(math.sin(yaw)) * float(entry["size"][1]) / 2
    return float(entry["size"][0]) / math.cos(math.pi / 16)


def pair_scene(a: str, b: str, kinds: dict[str, dict], seed: int, base: str = "two_blocks") -> dict:
    """The scene (as scene-file data) for one trial: ``base``'s table, hand and workspace, the two
    objects standing in a row along +x with a gap of 6-20 mm, a shared y offset of up to 2 cm
    and yaws of up to 0.3 rad, drawn from ``seed``."""
    from dexsafe.sim.scene_spec import load_scene

    rng = np.random.default_rng(seed)
    scene = load_scene(base)
    ea, eb = dict(kinds[a]), dict(kinds[b])
    yaw_a, yaw_b = (float(v) for v in rng.uniform(-0.3, 0.3, 2))
    gap = float(rng.uniform(0.006, 0.02))  # the placement check keeps footprints 5 mm apart
    ra, rb = _half_extent_x(ea, yaw_a), _half_extent_x(eb, yaw_b)
    x0 = -(ra + rb + gap) / 2
    y = float(rng.uniform(-0.02, 0.02))
    objects = []
    for oid, entry, x, yaw in ((f"{a}_near", ea, x0, yaw_a), (f"{b}_far", eb, x0 + ra + gap + rb, yaw_b)):
        entry = {k: v for k, v in entry.items() if k not in ("position", "yaw", "region")}
        entry.update(id=oid, label=entry.get("label", oid.replace("_", " ")), position=[float(x), y], yaw=yaw)
        objects.append(entry)
    return {"name": f"eval_{a}_{b}_{seed}", "hand": scene.hand, "seed": int(seed),
            "table": {"size": list(scene.table.size), "height": scene.table.height, "friction": scene.table.friction},
            "workspace": {"min": list(scene.workspace_min), "max": list(scene.workspace_max)},
            "objects": objects}


def run_trial(scene_file: Path, proposer: str = "scripted", multigrasp_budget: float = 30.0,
              policy: ResidualGraspPolicy | None = None) -> TrialResult:
    """Propose and execute one dual-object grasp in the scene at ``scene_file``; see the module docstring.
    ``policy``: the trained residual on top of the scripted executor (None: the scripted executor alone)."""
    from dexsafe.evaluation.run_info import RunInfo
    from dexsafe.evaluation.sim_loop import SimStackLoop
    from dexsafe.policies.residual_grasp import GraspObservation, ResidualGraspExecutor, ResidualScales
    from dexsafe.policies.scripted_grasp import ExecutorConfig, Phase, ScriptedGraspExecutor
    from dexsafe.sim.shield_limits import ExecutorJoints, shield_limits_for

    loop = SimStackLoop(RunInfo(scene=str(scene_file), source="grasp_eval"))
    try:
        b = loop.backend
        ids = list(b.object_ids)
        pregrasp, note = _propose(b, ids, proposer, multigrasp_budget)
        if pregrasp is None:
            return TrialResult("", 0, 0, False, {o: 0.0 for o in ids}, 0.0, 0.0, 0.0, note)
        period = 2.0 / loop.info.control_rate  # the executor every other shield tick (50 Hz)
        decide_every = 1
        if policy is not None:
            why = policy.mismatch(b.hand.name, len(ids), 1.0 / period)
            if why:
                raise ValueError(f"policy {policy.path}: {why}")
            decide_every = policy.spec.decide_every
        joints = ExecutorJoints.from_limits(shield_limits_for(loop.scene, b.hand))
        executor = ScriptedGraspExecutor(pregrasp, joints.closing, joints.lower, joints.upper, joints.finger_joints,
                                         LIFT_HEIGHT, ExecutorConfig())
        observation = GraspObservation(list(joints.finger_joints), len(pregrasp), len(ids), decide_every * period)
        grasp = ResidualGraspExecutor(executor, policy, observation, policy.spec.scales if policy else ResidualScales(),
                                      decide_every)

        def control(t: float, _q: np.ndarray) -> np.ndarray:
            q, qdot, forces, objects = loop.grasp_inputs()
            return grasp.update(t, q, forces, period, qdot, objects)

        result = loop.run(control, MAX_TRIAL_TIME, stop=lambda: executor.phase == Phase.DONE)
        finished = executor.phase == Phase.DONE
        success = finished and all(r >= SUCCESS_HEIGHT for r in result.object_rise.values())
        if not finished:
            note = f"{note}: did not finish in {MAX_TRIAL_TIME:g} s (phase {executor.phase.value})"
        elif not success:
            note = f"{note}: not every object rose {100 * SUCCESS_HEIGHT:g} cm"
        return TrialResult("", 0, 0, success, result.object_rise, float(executor.peak_force), result.sim_time,
                           result.shield_cost, note)
    finally:
        loop.close()


def _propose(backend, ids: list[str], proposer: str, budget: float) -> tuple[np.ndarray | None, str]:
    """A full command-order pre-grasp for ``ids``, or (None, why not)."""
    if proposer == "scripted":
        from dexsafe.sim.scripted import plan_row_grasp

        return plan_row_grasp(backend, ids).pregrasp, "scripted row grasp"
    if proposer != "multigrasp":
        raise ValueError(f"proposer {proposer!r}: choose from {PROPOSERS}")
    from dexsafe.grasping.proposals import GraspProposer, ObjectPose
    from dexsafe.grasping.validation import validate_proposals

    scene = backend.scene
    specs = {o.id: o for o in scene.objects}
    objects = [ObjectPose(specs[s.id], tuple(map(float, s.position)), tuple(map(float, s.orientation)))
               for s in backend.object_states() if s.id in ids]
    gp = GraspProposer(backend.hand, config="fast_cpu")
    proposals = gp.propose(objects, num=4, time_budget=budget, table_height=scene.table.height).proposals
    validate_proposals(gp.hand, objects, proposals, scene.table.height, table_size=scene.table.size)
    good = [p for p in proposals if p.validation is not None and p.validation.passed and p.wrist_reachable]
    if not good:
        return None, f"multigrasp: none of {len(proposals)} proposals passed validation"
    p = good[0]
    return p.command(len(backend.hand.joints)), f"multigrasp proposal {p.id}"


def evaluate_pairs(pairs: list[tuple[str, str]], kinds: dict[str, dict], trials: int = 5, seed: int = 0,
                   proposer: str = "scripted", out_dir: str | Path | None = None,
                   progress: Callable[[str], None] | None = None,
                   policy: ResidualGraspPolicy | None = None) -> SuccessMatrix:
    """Run ``trials`` per pair (placement seeds ``seed``, ``seed + 1``, ...); write scenes and results
    under ``out_dir`` when given. ``policy``: execute with the trained residual (None: scripted)."""
    if proposer not in PROPOSERS:
        raise ValueError(f"proposer {proposer!r}: choose from {PROPOSERS}")
    if trials < 1:
        raise ValueError("trials must be >= 1")
    out = Path(out_dir) if out_dir else None
    with tempfile.TemporaryDirectory(prefix="dexsafe-grasp-eval-") as tmp:
        scenes = (out / "scenes") if out else Path(tmp)
        scenes.mkdir(parents=True, exist_ok=True)
        matrix = _run_pairs(pairs, kinds, trials, seed, proposer, scenes, progress, policy)
    if out:
        (out / "success_matrix.json").write_text(json.dumps(matrix.as_dict(), indent=2) + "\n")
        plot_matrix(matrix, out / "success_matrix.png")
    return matrix


def _run_pairs(pairs, kinds, trials, seed, proposer, scenes: Path, progress, policy) -> SuccessMatrix:
    executor = "scripted" if policy is None else f"residual policy {policy.path.name}"
    matrix = SuccessMatrix(sorted({k for p in pairs for k in p}), proposer, trials, executor)
    for a, b in pairs:
        name, wins = f"{a}:{b}", 0
        for k in range(trials):
            s = seed + k
            file = scenes / f"{a}__{b}__{s}.yaml"
            file.write_text(yaml.safe_dump(pair_scene(a, b, kinds, s), sort_keys=False))
            t0 = time.perf_counter()
            r = run_trial(file, proposer, policy=policy)
            r.pair, r.trial, r.seed = name, k, s
            matrix.trials.append(r)
            wins += r.success
            if progress:
                rise = ", ".join(f"{v * 100:.1f}" for v in r.rise_m.values())
                progress(f"[grasp eval] {name} trial {k + 1}/{trials} (seed {s}): "
                         f"{'lifted' if r.success else 'failed'}; rise {rise} cm; {time.perf_counter() - t0:.1f} s"
                         + (f"; {r.note}" if r.note and not r.success else ""))
        matrix.rates[name] = wins / trials
    return matrix


def plot_matrix(matrix: SuccessMatrix, path: str | Path) -> Path:
    """A kinds x kinds heat map of success rates (%), blank where a pair was not run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = matrix.kinds
    grid = np.full((len(kinds), len(kinds)), np.nan)
    for pair, rate in matrix.rates.items():
        a, b = pair.split(":")
        grid[kinds.index(a), kinds.index(b)] = grid[kinds.index(b), kinds.index(a)] = 100 * rate
    fig, ax = plt.subplots(figsize=(1.2 * len(kinds) + 2.5, 1.0 * len(kinds) + 2))
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(kinds)), kinds, rotation=35, ha="right")
    ax.set_yticks(range(len(kinds)), kinds)
    for i, j in itertools.product(range(len(kinds)), repeat=2):
        if np.isfinite(grid[i, j]):
            ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", color="w" if grid[i, j] < 60 else "k")
    fig.colorbar(im, ax=ax, label="success, %")
    ax.set_title(f"dual-object lift success ({matrix.proposer} proposals, {matrix.executor} executor,\n"
                 f"{matrix.trials_per_pair} trials per pair; "
                 f"overall {100 * matrix.overall:.0f}%)", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
