"""Open-loop replay: the recorded inputs drive a fresh safety shield, whose
outputs are compared with the recorded ones, and every recorded output is
checked against the constraints.

For each recorded shield output (``/hand_controller/commands``) at bag time
``t_out`` the replayed shield gets, as the node would have: the last policy
command received before ``t_out`` (stamped with its receive time), the last
joint state before ``t_out``, the last contact forces per finger, and the
e-stop state; ``now = t_out``; and, as its memory of the last tick, the recorded previous output
(``SafetyShield.resume_from``: each tick is judged on its own, so one tick's input-timing jitter
in a live recording does not carry into every later one). Times are bag seconds since the bag's start
(:func:`dexsafe.evaluation.sim_loop.bag_seconds`), standing in for the
shield's steady clock. The divergence of a frame is
``max |replayed - recorded|`` over joints (rad or m).

A recorded output violates a constraint when it is non-finite or of the wrong
length, outside the joint limits tightened by the workspace box
(``joint_limits``), moves more than ``max_velocity * control_period`` from the
previous output (``rate_limit``), or when a finger's measured contact force is
over the limit (``contact_force``). Tolerances: ``LIMIT_EPS`` for both.

The run passes when no frame diverges beyond ``tolerance`` and no constraint
is violated. A bag recorded from a live graph has receive-time jitter: the
recorder and the shield take the same message at slightly different times, and a
busy shield may act on a joint state up to its ``state_timeout`` old. For such
runs the commands received within ``LIVE_JITTER_S`` of an output and the joint
states received from ``state_timeout`` before to ``LIVE_JITTER_S`` after it are
candidates too (at most ``MAX_CANDIDATES`` on either side of the nominal ones,
which are tried first); the first replayed output within the tolerance, else the
closest, counts. The tolerance is about one tick's motion (``LIVE_TOLERANCE``); a run
recorded by ``sim_loop`` replays exactly (no jitter, divergence 0,
``DEFAULT_TOLERANCE``). Outputs recorded before the first joint state are not
compared (divergence NaN), nor, in live recordings, the outputs after the last
recorded joint state plus ``state_timeout`` (a recorder loses the messages still
queued when the bag closes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from dexsafe.evaluation.bench import percentile
from dexsafe.evaluation.recorded_run import RecordedRun
from dexsafe.evaluation.results import Frame, Summary
from dexsafe.evaluation.sim_loop import shield_for

LIMIT_EPS = 1e-6  # rad or m: numerical slack for the limit and rate checks
DEFAULT_TOLERANCE = 1e-6  # rad or m: divergence allowed for runs recorded by sim_loop (deterministic)
LIVE_TOLERANCE = 0.05  # rad or m: for runs recorded from a live graph (receive-time jitter, ~ one tick's motion)
DETERMINISTIC_SOURCES = ("scripted_sim_run",)
LIVE_JITTER_S = 0.03  # s: how far a live recorder's receive time of an input may be from the shield's
MAX_CANDIDATES = 12  # inputs per kind tried on either side of the nominal one


def default_jitter(run: RecordedRun) -> float:
    """0 for runs written by ``sim_loop`` (exact receive times), ``LIVE_JITTER_S`` for everything else."""
    return 0.0 if run.info.source in DETERMINISTIC_SOURCES else LIVE_JITTER_S


def default_tolerance(run: RecordedRun) -> float:
    """``DEFAULT_TOLERANCE`` for runs written by ``sim_loop``, ``LIVE_TOLERANCE`` for everything else."""
    return DEFAULT_TOLERANCE if run.info.source in DETERMINISTIC_SOURCES else LIVE_TOLERANCE


class ConstraintChecker:
    """Checks shield outputs (position targets, command order) against the run's limits."""

    def __init__(self, limits) -> None:
        self.lower, self.upper = limits.effective_bounds()
        self.max_step = np.asarray(limits.max_velocity, dtype=float) * limits.control_period
        self.lower_eps, self.upper_eps = self.lower - LIMIT_EPS, self.upper + LIMIT_EPS
        self.step_eps = self.max_step + LIMIT_EPS
        self.max_force = float(limits.max_contact_force)
        self.n = limits.num_joints
        self.prev: np.ndarray | None = None

    def check(self, u: np.ndarray, forces: dict[str, float] | None) -> list[str]:
        out = []
        if u.shape != (self.n,):
            self.prev = None
            return ["wrong_length"]
        if not np.isfinite(u).all():
            self.prev = None
            return ["non_finite"]
        if (u < self.lower_eps).any() or (u > self.upper_eps).any():
            out.append("joint_limits")
        if self.prev is not None and (np.abs(u - self.prev) > self.step_eps).any():
            out.append("rate_limit")
        if forces and any(not (abs(f) <= self.max_force) for f in forces.values()):
            out.append("contact_force")
        self.prev = u
        return out

    def check_all(self, outputs: list[np.ndarray], forces: list[dict[str, float] | None]) -> list[list[str]]:
        """``check`` for a whole stream at once (vectorised); same results as calling it in order."""
        n_rows = len(outputs)
        result: list[list[str]] = [[] for _ in range(n_rows)]
        good = np.array([u.shape == (self.n,) for u in outputs], dtype=bool)
        mat = np.full((n_rows, self.n), np.nan)
        if good.any():
            mat[good] = np.stack([u for u, g in zip(outputs, good) if g])
        finite = good & np.isfinite(mat).all(axis=1)
        outside = finite & ((mat < self.lower_eps) | (mat > self.upper_eps)).any(axis=1)
        jump = np.zeros(n_rows, dtype=bool)
        if n_rows > 1:
            jump[1:] = finite[1:] & finite[:-1] & (np.abs(np.diff(mat, axis=0)) > self.step_eps).any(axis=1)
        for i in range(n_rows):
            if not good[i]:
                result[i].append("wrong_length")
                continue
            if not finite[i]:
                result[i].append("non_finite")
                continue
            if outside[i]:
                result[i].append("joint_limits")
            if jump[i]:
                result[i].append("rate_limit")
            f = forces[i]
            if f and any(not (abs(v) <= self.max_force) for v in f.values()):
                result[i].append("contact_force")
        self.prev = mat[-1] if n_rows and finite[-1] else None
        return result


def _divergence(replayed: np.ndarray | None, recorded: np.ndarray, have_state: bool) -> float:
    """max |replayed - recorded|; NaN before the first joint state (not comparable), inf when nothing
    comparable was produced or the recorded output is not finite."""
    if not have_state:
        return math.nan
    if replayed is None or recorded.shape != replayed.shape:
        return math.inf
    d = float(np.abs(replayed - recorded).max()) if recorded.size else 0.0
    return d if d == d else math.inf


def replay_open_loop(run: RecordedRun, tolerance: float = DEFAULT_TOLERANCE,
                     progress: Callable[[int, int], None] | None = None, load_wall_s: float = 0.0,
                     policy: str | None = None, plans: list | None = None,
                     jitter_s: float | None = None) -> tuple[list[Frame], Summary]:
    """Replay ``run`` through a fresh shield; see the module docstring. ``load_wall_s`` (the time
    spent reading the bag) is added to the replay time for the speed factor. ``policy`` (one of
    ``policy_replay.POLICIES``) also re-runs the policy on the recorded observations
    (``policy_replay``); its divergence from the recorded commands fails the run too. ``plans``
    (the mission's recorded plans) are validated and planned again (``plan_replay``). ``jitter_s``
    None: ``default_jitter(run)``."""
    from dexsafe.policies.shield import JointState as ShieldState

    t_start = time.perf_counter()
    jitter_s = default_jitter(run) if jitter_s is None else float(jitter_s)
    shield, limits, _ = shield_for(run.info)
    checker = ConstraintChecker(limits)
    origin = run.origin_ns  # bag_seconds(): (t_ns - origin) * 1e-9, vectorised below
    js, pol, hand, cost = run.joint_states, run.policy_commands, run.hand_commands, run.cost
    frames: list[Frame] = []
    notes = []
    if not run.has_run_info:
        notes.append("the bag has no dexsafe run info: shield limits of the default scene "
                     f"{run.info.scene!r} at {run.info.control_rate:g} Hz were used")
    n_out = len(hand)
    t_outs = hand.t_ns
    # Inputs in effect at each output (received strictly before it), looked up for all frames at once.
    i_cmds = np.searchsorted(pol.t_ns, t_outs, side="left") - 1
    i_jss = np.searchsorted(js.t_ns, t_outs, side="left") - 1
    i_cts = np.searchsorted(run.contacts_t_ns, t_outs, side="left") - 1
    i_costs = np.searchsorted(cost.t_ns, t_outs, side="left")  # a tick's cost follows its command
    engaged = np.zeros(n_out, dtype=bool)
    if run.estop is not None and len(run.estop):
        i_es = np.searchsorted(run.estop.t_ns, t_outs, side="left") - 1
        engaged = (i_es >= 0) & (run.estop.values[np.maximum(i_es, 0), 0] > 0.5)
    secs = (t_outs - origin) * 1e-9
    pol_secs = (pol.t_ns - origin) * 1e-9
    js_secs = (js.t_ns - origin) * 1e-9
    filt = shield.filter
    forces_at = [run.finger_forces[i] if i >= 0 else None for i in i_cts.tolist()]
    # Receive times in a live recording differ from the shield's by scheduling jitter: inputs received
    # within ``jitter_s`` of an output are candidates, and the closest replayed output counts.
    late = int(round(jitter_s * 1e9))

    def window(t_in: np.ndarray, nominal: np.ndarray, back_ns: int) -> tuple[np.ndarray, np.ndarray]:
        first = np.maximum(np.searchsorted(t_in, t_outs - back_ns, side="left") - 1, nominal - MAX_CANDIDATES)
        last = np.minimum(np.searchsorted(t_in, t_outs + late, side="left") - 1, nominal + MAX_CANDIDATES)
        return np.minimum(first, nominal), np.maximum(last, nominal)

    first_cmds, last_cmds = window(pol.t_ns, i_cmds, late)
    # A busy shield may act on any joint state younger than its state timeout.
    first_jss, last_jss = window(js.t_ns, i_jss, int(round(limits.state_timeout * 1e9)) if late else 0)
    results, latencies, divergences = [], [], []
    for k in range(n_out):
        forces, now, recorded = forces_at[k], float(secs[k]), run.hand_raw[k]
        best, best_div = None, math.inf
        # The nominal inputs (received just before the output) first, then the rest of the window.
        cmds = [int(i_cmds[k])] + [i for i in range(int(first_cmds[k]), int(last_cmds[k]) + 1) if i != i_cmds[k]]
        states = [int(i_jss[k])] + [i for i in range(int(first_jss[k]), int(last_jss[k]) + 1) if i != i_jss[k]]
        for i_cmd in cmds:
            for i_js in states:
                command = run.policy_raw[i_cmd] if i_cmd >= 0 and not engaged[k] else None
                stamp = float(pol_secs[i_cmd]) if command is not None else None
                state = ShieldState(position=js.values[i_js], stamp=float(js_secs[i_js])) if i_js >= 0 else None
                if k:
                    shield.resume_from(run.hand_raw[k - 1], float(secs[k - 1]))  # from the recorded last tick
                else:
                    shield.reset()
                t0 = time.perf_counter()
                result = filt(command, state, now, forces or None, command_stamp=stamp)
                if best is None:
                    latencies.append(time.perf_counter() - t0)  # the nominal inputs' run
                div = _divergence(result.command, recorded, i_js >= 0)
                if best is None or div < best_div or (best_div != best_div and div == div):  # NaN loses
                    best, best_div = result, div
                if best_div <= tolerance:
                    break
            if best_div <= tolerance:
                break
        results.append(best)
        divergences.append(best_div)
        if progress is not None and (k % 50 == 0 or k == n_out - 1):
            progress(k + 1, n_out)
    violations = checker.check_all(run.hand_raw, forces_at)
    # A live recorder writes its backlog late and loses what is still queued when the bag closes:
    # outputs after the last recorded joint state (plus the shield's state timeout) have no inputs
    # in the bag to be judged by.
    tail = np.zeros(n_out, dtype=bool)
    if late and len(js):
        tail = t_outs > int(js.t_ns[-1]) + int(round(limits.state_timeout * 1e9))
    for k, result in enumerate(results):
        divergence = math.nan if tail[k] else divergences[k]
        i_cost = int(i_costs[k])
        i_cmd = int(i_cmds[k])
        now = float(secs[k])
        has_cmd = i_cmd >= 0 and not engaged[k]
        frames.append(Frame(index=k, t_ns=int(t_outs[k]), t=now, divergence=divergence, violations=violations[k],
                            interventions=[i.value for i in result.interventions], cost_replayed=result.cost,
                            cost_recorded=float(cost.values[i_cost, 0]) if i_cost < len(cost) else math.nan,
                            latency_s=latencies[k],
                            input_age_s=now - float(pol_secs[i_cmd]) if has_cmd else math.nan))
    skipped = int(np.sum(i_jss < 0))
    if skipped:
        notes.append(f"{skipped} leading output(s) recorded before the first joint state were not compared")
    if tail.any():
        notes.append(f"{int(tail.sum())} trailing output(s) recorded after the last joint state (and the shield's "
                     "state timeout) were not compared: the recording holds no input for them")
    components, reasons = {}, []
    if policy:
        from dexsafe.evaluation.policy_replay import replay_policy_open_loop

        found, reasons = replay_policy_open_loop(run, policy, tolerance)
        components["policy"] = found.as_dict()
    else:
        notes.append(f"policy {run.info.policy or '(unknown)'} not re-run (re-runnable: scripted); the recorded "
                     "policy commands were the shield's inputs")
    if plans:
        from dexsafe.evaluation.plan_replay import replay_plans

        found_plans, plan_reasons = replay_plans(plans, run.info)
        components["planner"] = found_plans.as_dict()
        reasons += plan_reasons
    wall = time.perf_counter() - t_start + load_wall_s
    summary = summarize("open", run, frames, tolerance, wall, notes, extra_reasons=reasons)
    summary.components = components
    return frames, summary


def summarize(mode: str, run: RecordedRun, frames: list[Frame], tolerance: float, wall: float,
              notes: list[str], outcome: dict | None = None, extra_reasons: list[str] | None = None) -> Summary:
    div = np.array([f.divergence for f in frames], dtype=float)
    compared = div[~np.isnan(div)]  # NaN: not compared (see notes); inf: nothing comparable was produced
    finite = compared[np.isfinite(compared)]
    diverged = int(np.sum(compared > tolerance))
    violations: dict[str, int] = {}
    for f in frames:
        for v in f.violations:
            violations[v] = violations.get(v, 0) + 1
    reasons = list(extra_reasons or [])
    if not frames:
        reasons.append("no frames to evaluate")
    if diverged:
        first = next(f for f in frames if f.divergence > tolerance)
        reasons.append(f"{diverged} frame(s) diverge beyond {tolerance:g} (first at t={first.t:.3f} s, "
                       f"{first.divergence:.3g})")
    if violations:
        reasons.append("constraint violations: " + ", ".join(f"{k} x{v}" for k, v in sorted(violations.items())))
    lat = [f.latency_s for f in frames if math.isfinite(f.latency_s)]
    age = [f.input_age_s for f in frames if math.isfinite(f.input_age_s)]
    rec_cost = [f.cost_recorded for f in frames if math.isfinite(f.cost_recorded)]
    duration = run.duration_s
    return Summary(mode=mode, bag=str(run.path), passed=not reasons, reasons=reasons, frames=len(frames),
                   recorded_duration_s=duration, replay_wall_s=wall,
                   speed_factor=duration / wall if wall > 0 else math.inf,
                   max_divergence=float(compared.max()) if len(compared) else math.nan,
                   mean_divergence=float(finite.mean()) if len(finite) else math.nan,
                   frames_diverged=diverged, tolerance=tolerance, violations=violations,
                   cost_recorded=float(sum(rec_cost)), cost_replayed=float(sum(f.cost_replayed for f in frames)),
                   latency_p50_s=percentile(lat, 50), latency_p99_s=percentile(lat, 99),
                   input_age_p50_s=percentile(age, 50), input_age_p99_s=percentile(age, 99),
                   notes=notes, outcome=outcome or {})
