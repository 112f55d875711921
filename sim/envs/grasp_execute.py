"""``dexsafe/GraspExecute-v0``: execute a dual-object pre-grasp and lift, as a residual on the scripted executor.

MultiGrasp stage 2's training task, run the way the stack runs a grasp: MuJoCo stepped
through the safety shield at 100 Hz (``dexsafe.evaluation.sim_loop``), the executor every
other tick (50 Hz), the policy every ``decide_every`` (5) executor ticks: one env step is
0.1 s, and its action is held for that long.

Each episode draws a pair of object kinds from ``objects_file`` (default
``config/grasping/train_objects.yaml``, disjoint from the evaluation kinds), randomises
their sizes (each by up to ``size_jitter``, 15 %), masses and frictions, and draws a
placement (``grasp_success.pair_scene``: the two standing in a row, gap, offset and yaws
from the seed), plans the scripted row grasp, and lets the scripted executor reach the
pre-grasp from above it. From the close phase on, each step's action in [-1, 1]^(6 + fingers)
corrects the executor's joint targets (``dexsafe.policies.residual_grasp``); the episode
ends when the executor has held for its hold time, when an object falls off the table,
or after ``max_episode_steps``.

Curriculum (MultiGrasp: clean pre-grasps, then a mix, then mostly perturbed ones): over
the first third of ``curriculum_episodes`` every pre-grasp is the planned one, then half
of them, then 80 % are perturbed (wrist position and yaw, finger joints; Gaussian,
``PregraspPerturbation``).

Reward per step: ``clip(min_j rise_j / success_height, -1, 1)`` (the lowest object's rise,
as in the paper), minus ``0.5`` times the shield's cost (a command it had to correct or a
finger over the force limit), minus ``0.02 * mean(action^2)``, minus ``disturbance_weight``
(0.5) times how far the objects were pushed or tipped from where they stood (the paper's
object-relative terms; ``disturbance``); ``+20`` at the end when every
object rose ``success_height`` (success, MultiGrasp's test), ``-5`` when one fell off
the table. Cost: the shield's cost summed over the step's ticks (``info['costs']['shield']``).
The dexsafe hand only (``hand``): the pre-grasps are its scripted row grasp.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import yaml

from dexsafe.policies.residual_grasp import POLICY_PHASES, GraspObservation, ResidualGraspExecutor, ResidualScales
from dexsafe.policies.scripted_grasp import ExecutorConfig, Phase, ScriptedGraspExecutor
from dexsafe.sim.envs.base import checked_action

SUCCESS_BONUS = 20.0
DROP_PENALTY = 5.0
COST_WEIGHT = 0.5
ACTION_WEIGHT = 0.02


@dataclass(frozen=True)
class PregraspPerturbation:
    """Standard deviations of the pre-grasp perturbation (imperfect pre-grasps)."""

    wrist_xyz: tuple[float, float, float] = (0.008, 0.008, 0.005)
    """m"""
    wrist_yaw: float = 0.08
    """rad"""
    fingers: float = 0.08
    """rad, every finger joint"""

    def apply(self, q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = q.copy()
        out[:3] += rng.normal(0.0, self.wrist_xyz)
        out[5] += rng.normal(0.0, self.wrist_yaw)
        out[6:] += rng.normal(0.0, self.fingers, size=len(q) - 6)
        return out


def randomized_kind(entry: dict, jitter: float, rng: np.random.Generator) -> dict:
    """An object kind with every size entry scaled by U(1 - jitter, 1 + jitter), mass by U(0.7, 1.3) and
    friction moved by U(-0.1, 0.1) (domain randomisation: the policy meets sizes between the kinds)."""
    out = dict(entry)
    if jitter > 0:
        out["size"] = [float(v) * float(rng.uniform(1 - jitter, 1 + jitter)) for v in entry["size"]]
        out["mass"] = float(entry.get("mass", 0.1)) * float(rng.uniform(0.7, 1.3))
        out["friction"] = float(np.clip(float(entry.get("friction", 0.8)) + rng.uniform(-0.1, 0.1), 0.5, 1.2))
    return out


def perturbed_fraction(progress: float) -> float:
    """Share of perturbed pre-grasps at curriculum ``progress`` (episodes so far / curriculum length)."""
    return 0.0 if progress < 1 / 3 else 0.5 if progress < 2 / 3 else 0.8


class GraspExecuteEnv(gym.Env):
    """See the module docstring. Safety-Gymnasium step API (``obs, reward, cost, terminated, truncated, info``)."""

    metadata = {"render_modes": []}

    def __init__(self, objects_file: str | None = None, pairs: str = "all", *, hand: str | None = None,
                 max_episode_steps: int = 60,
                 curriculum_episodes: int = 3000, perturbation: PregraspPerturbation | None = None,
                 scales: ResidualScales | None = None, success_height: float | None = None,
                 lift_height: float | None = None, control_rate: float = 100.0, executor_every: int = 2,
                 decide_every: int = 5, max_reach_time: float = 8.0, size_jitter: float = 0.15,
                 disturbance_weight: float = 0.5):
        from dexsafe.evaluation import grasp_success as gs
        from dexsafe.sim.hands import load_hand
        from dexsafe.sim.scene_spec import load_scene
        from dexsafe.sim.shield_limits import ExecutorJoints, shield_limits_for

        if hand not in (None, "dexsafe_hand"):
            raise ValueError(f"GraspExecute-v0 runs the dexsafe hand only (its pre-grasps are the scripted row "
                             f"grasp, planned for that hand), not {hand!r}")
        self.kinds = gs.load_object_kinds(objects_file or _train_objects_file())
        self.pairs = gs.parse_pairs(pairs, self.kinds)
        self.max_episode_steps = int(max_episode_steps)
        self.curriculum_episodes = max(1, int(curriculum_episodes))
        self.perturbation = perturbation or PregraspPerturbation()
        self.scales = scales or ResidualScales()
        self.success_height = gs.SUCCESS_HEIGHT if success_height is None else float(success_height)
        self.lift_height = gs.LIFT_HEIGHT if lift_height is None else float(lift_height)
        self.control_rate = float(control_rate)
        self.executor_every = int(executor_every)
        self.executor_dt = self.executor_every / self.control_rate
        self.decide_every = int(decide_every)
        self.max_reach_ticks = int(max_reach_time * self.control_rate)
        self.size_jitter = float(size_jitter)
        self.disturbance_weight = float(disturbance_weight)
        base = load_scene("two_blocks")
        self.hand = load_hand(base.hand)
        self.joints = ExecutorJoints.from_limits(shield_limits_for(base, self.hand))
        n = len(self.joints.joint_names)
        self.observation = GraspObservation(list(self.joints.finger_joints), n, 2,
                                            self.decide_every * self.executor_dt)
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(self.observation.action_size,), dtype=np.float32)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(self.observation.size,), dtype=np.float32)
        self.episodes = 0
        """episodes started"""
        self.finished = 0
        self.succeeded = 0
        """episodes ended (terminated or truncated), and of those the successes"""
        self._tmp = tempfile.TemporaryDirectory(prefix="dexsafe-grasp-execute-")
        self._loop = None
        self._grasp: ResidualGraspExecutor | None = None

    # --- episode set-up ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        from dexsafe.evaluation.grasp_success import pair_scene
        from dexsafe.evaluation.run_info import RunInfo
        from dexsafe.evaluation.sim_loop import SimStackLoop
        from dexsafe.sim.scripted import plan_row_grasp

        super().reset(seed=seed)
        options = dict(options or {})
        rng = self.np_random
        a, b = options.get("pair") or self.pairs[int(rng.integers(len(self.pairs)))]
        if a not in self.kinds or b not in self.kinds:
            raise ValueError(f"pair {a}:{b}: every kind must be one of {sorted(self.kinds)}")
        placement = int(options.get("placement_seed", rng.integers(0, 2**31 - 1)))
        perturb = bool(options.get("perturb", rng.random() < perturbed_fraction(self.episodes /
                                                                                 self.curriculum_episodes)))
        self.episodes += 1
        file = Path(self._tmp.name) / "scene.yaml"
        kinds = {k: randomized_kind(self.kinds[k], self.size_jitter, rng) for k in {a, b}}
        file.write_text(yaml.safe_dump(pair_scene(a, b, kinds, placement), sort_keys=False))
        self.close_loop()
        self._loop = loop = SimStackLoop(RunInfo(scene=str(file), source="grasp_execute_env",
                                                 control_rate=self.control_rate))
        bk = loop.backend
        pregrasp = plan_row_grasp(bk, list(bk.object_ids)).pregrasp
        if perturb:
            pregrasp = np.clip(self.perturbation.apply(pregrasp, rng), self.joints.lower, self.joints.upper)
        above = pregrasp.copy()
        above[2] = min(pregrasp[2] + ExecutorConfig().approach_height, self.joints.upper[2])
        bk.set_joint_positions(above)
        j = self.joints
        executor = ScriptedGraspExecutor(pregrasp, j.closing, j.lower, j.upper, j.finger_joints, self.lift_height)
        self._grasp = ResidualGraspExecutor(executor, None, self.observation, self.scales)
        self._start_xyz = bk.object_positions().copy()
        self._z0 = self._start_xyz[:, 2].copy()
        self._k = 0
        self._command, self._command_ns = None, None
        self._steps = 0
        self._pair = f"{a}:{b}"
        while True:  # the scripted reach
            base = self._decide()
            if self._grasp.phase != Phase.REACH or self._k >= self.max_reach_ticks:
                break
            self._command, self._command_ns = base, self._tick_ns()
            self._run_ticks()
        self._base = base
        info = {"pair": self._pair, "placement_seed": placement, "perturbed": perturb}
        return self._observe(), info

    def close_loop(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    # --- stepping ------------------------------------------------------------------------------------
    def _tick_ns(self) -> int:
        from dexsafe.evaluation.sim_loop import POLICY_DELAY_NS

        return self._loop.origin_ns + self._k * self._loop.period_ns + POLICY_DELAY_NS

    def _decide(self) -> np.ndarray:
        """The scripted executor's targets for the current tick."""
        loop = self._loop
        q, forces = loop.measured(), loop.finger_forces(loop.backend.contacts())
        return self._grasp.base_targets(self._k / self.control_rate, q, forces, self.executor_dt)

    def _run_ticks(self) -> float:
        loop, cost = self._loop, 0.0
        for _ in range(self.executor_every):
            q = loop.measured()
            forces = loop.finger_forces(loop.backend.contacts())
            cost += loop.shield_tick(self._k, self._command, self._command_ns, forces, q).cost
            self._k += 1
        return cost

    def _observe(self) -> np.ndarray:
        q, qdot, forces, objects = self._loop.grasp_inputs()
        return self._grasp.observe(q, qdot, self._base, forces, objects)

    def step(self, action):
        if self._loop is None:
            raise RuntimeError("call reset() before step()")
        a = checked_action(action, self.action_space)
        grasp = self._grasp
        cost = 0.0
        for _ in range(self.decide_every):  # the action is held for decide_every executor ticks
            acting = grasp.phase in POLICY_PHASES
            self._command = grasp.apply(self._base, a) if acting else self._base
            self._command_ns = self._tick_ns()
            cost += self._run_ticks()
            self._base = self._decide()
            if grasp.phase == Phase.DONE:
                break
        self._steps += 1
        rise = self._loop.backend.object_positions()[:, 2] - self._z0
        low = float(rise.min())
        reward = float(np.clip(low / self.success_height, -1.0, 1.0)) - COST_WEIGHT * cost
        reward -= ACTION_WEIGHT * float(np.mean(a ** 2))
        reward -= self.disturbance_weight * self.disturbance()
        table = self._loop.scene.table.height
        dropped = bool(np.any(self._loop.backend.object_positions()[:, 2] < table - 0.05))
        done = grasp.phase == Phase.DONE
        success = done and bool(np.all(rise >= self.success_height))
        reward += SUCCESS_BONUS * success - DROP_PENALTY * dropped
        terminated = done or dropped
        truncated = self._steps >= self.max_episode_steps and not terminated
        if terminated or truncated:
            self.finished += 1
            self.succeeded += success
        info = {"is_success": success, "rise": rise.copy(), "pair": self._pair, "phase": grasp.phase.value,
                "peak_contact_force": grasp.peak_force, "cost": cost, "costs": {"shield": cost}}
        return self._observe(), reward, cost, terminated, truncated, info

    def disturbance(self) -> float:
        """How far the objects are from standing where they stood, in [0, 1] per object (mean): horizontal
        displacement (saturating at 5 cm) and tilt (1 - cos of the angle between its axis and world z).
        A grasp that tips an object over or squeezes it out of the row shows here long before the lift."""
        b = self._loop.backend
        shift = np.linalg.norm(b.object_positions()[:, :2] - self._start_xyz[:, :2], axis=1)
        tilt = []
        for s in b.object_states():
            x, y, _, _ = s.orientation
            tilt.append(2.0 * (x * x + y * y))  # 1 - R[2, 2] of the unit quaternion (xyzw)
        return float(np.mean(np.minimum(shift / 0.05, 1.0) + np.minimum(np.asarray(tilt), 1.0)) / 2.0)

    def close(self) -> None:
        self.close_loop()
        self._tmp.cleanup()


def _train_objects_file() -> Path:
    from dexsafe.core.paths import config_path

    return config_path("grasping", "train_objects.yaml")
