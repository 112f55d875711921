"""Open-loop replay of the policy: the recorded observations drive a fresh policy, whose
outputs are compared with the recorded policy commands.

For each recorded ``/dexsafe/policy_commands`` message at bag time ``t_c`` the policy
gets the last joint state received at or before ``t_c`` (command order, rad or m)
and the run time ``t = t_c - POLICY_DELAY - t0`` (s after the first joint state), as
``sim_loop`` and the nodes call it. The divergence of a command is
``max |replayed - recorded|`` over joints.

Policies that can be re-run from a bag (``POLICIES``):

- ``scripted``: the scripted row grasp of ``sim_loop``, re-planned from the recorded
  initial scene (the sim is reset to the run's scene and seed, objects and hand put
  where the first recorded messages have them; nothing is stepped).

A run's ``RunInfo.policy`` names the policy that produced its commands; runs
recorded from other policies (trained checkpoints, the grasp executor node) are
replayed through the shield only, and the summary says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from dexsafe.evaluation.errors import RunContentError
from dexsafe.evaluation.recorded_run import RecordedRun

POLICIES = ("scripted",)


@dataclass
class PolicyReplay:
    """What the policy's open-loop replay found (``Summary.components['policy']``)."""

    policy: str
    commands: int
    """recorded policy commands compared"""
    max_divergence: float
    """rad or m; NaN when nothing was compared"""
    mean_divergence: float
    diverged: int
    """commands further than the tolerance from the replayed policy's output"""
    first_diverged_t: float
    """s since the start of the bag; NaN when none diverged"""
    tolerance: float

    def as_dict(self) -> dict:
        return asdict(self)


def _scripted(run: RecordedRun):
    from dexsafe.evaluation.closed_loop import _restore_initial_state
    from dexsafe.evaluation.sim_loop import SimStackLoop, scripted_policy

    loop = SimStackLoop(run.info, origin_ns=int(run.joint_states.t_ns[0]))
    try:
        _restore_initial_state(loop, run, [])
        policy, _ = scripted_policy(loop)
    except ValueError as exc:
        raise RunContentError(f"{run.path}: the scripted grasp cannot be re-planned here: {exc}") from None
    finally:
        loop.close()
    return policy


def replay_policy_open_loop(run: RecordedRun, policy: str, tolerance: float) -> tuple[PolicyReplay, list[str]]:
    """Re-run ``policy`` on the recorded observations; returns what it found and the reasons to fail."""
    from dexsafe.evaluation.sim_loop import POLICY_DELAY_NS

    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r} cannot be re-run open loop; choose from {POLICIES}")
    if not len(run.joint_states):
        raise RunContentError(f"{run.path}: no joint states to feed the policy")
    act = _scripted(run)
    js, pol = run.joint_states, run.policy_commands
    t0 = int(js.t_ns[0])
    i_js = np.searchsorted(js.t_ns, pol.t_ns, side="right") - 1
    div = np.full(len(pol), math.nan)
    for k in range(len(pol)):
        if i_js[k] < 0:
            continue  # a command before the first joint state: the replay cannot know what the policy saw
        t = (int(pol.t_ns[k]) - POLICY_DELAY_NS - t0) * 1e-9
        out = np.asarray(act(t, js.values[i_js[k]]), dtype=float)
        recorded = run.policy_raw[k]
        ok_shape = out.shape == recorded.shape
        d = float(np.max(np.abs(out - recorded))) if ok_shape and recorded.size else math.inf
        div[k] = d if d == d else math.inf  # NaN in the recorded command counts as diverged
    compared = div[~np.isnan(div)]
    over = np.flatnonzero(div > tolerance)
    finite = compared[np.isfinite(compared)]
    found = PolicyReplay(policy=policy, commands=int(compared.size),
                         max_divergence=float(compared.max()) if compared.size else math.nan,
                         mean_divergence=float(finite.mean()) if finite.size else math.nan, diverged=int(over.size),
                         first_diverged_t=float((pol.t_ns[over[0]] - run.origin_ns) * 1e-9) if over.size else math.nan,
                         tolerance=tolerance)
    reasons = []
    if over.size:
        reasons.append(f"policy ({policy}): {over.size} recorded command(s) differ from the replayed policy beyond "
                       f"{tolerance:g} (first at t={found.first_diverged_t:.3f} s, {div[over[0]]:.3g})")
    if not compared.size:
        reasons.append(f"policy ({policy}): no recorded command could be compared")
    return found, reasons
