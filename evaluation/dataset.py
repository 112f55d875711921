"""Recorded runs -> an offline-RL dataset in the D4RL layout used by SO2.

One transition per recorded policy command (the policy's decision rate):

- ``observations`` (N, n + 3K) float32: measured joint positions in command
  order (rad or m) from the last ``/joint_states`` before the command, then
  the x, y, z of each object in ``world`` (m) from the last
  ``/dexsafe/objects`` (object order as in the bag's first objects message);
- ``actions`` (N, n) float32: the policy's position targets (command order);
- ``rewards`` (N,) float32: lifting progress, the mean rise of the objects
  (m) from this command to the next (the last transition: to the bag's end);
- ``costs`` (N,) float32: 1.0 if any shield tick after this command and before
  the next had cost 1 (the Safety-Gymnasium indicator), else 0.0;
- ``terminals`` (N,) bool: True on a run's last transition if every object
  ended ``LIFT_HEIGHT`` above its start (the task was solved);
- ``timeouts`` (N,) bool: True on a run's last transition otherwise.

Several bags are concatenated as episodes (one per bag); their observation
widths must match. The file is the format of ``dexsafe.policies.datasets``
(SO2's offline data): an ``.npz`` with these six arrays and ``metadata``, a
JSON string (source, joint names, object ids, action bounds = the joint
limits, the episodes). When that module is importable it writes and validates
the file (``OfflineDataset.save``); otherwise the same layout is written here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dexsafe.evaluation.closed_loop import LIFT_HEIGHT
from dexsafe.evaluation.errors import RunContentError
from dexsafe.evaluation.recorded_run import RecordedRun, load_run
from dexsafe.evaluation.topics import TopicMap

KEYS = ("observations", "actions", "rewards", "costs", "terminals", "timeouts")


def transitions(run: RecordedRun) -> dict[str, np.ndarray]:
    """The D4RL arrays of one recorded run (see the module docstring)."""
    pol, js = run.policy_commands, run.joint_states
    n = len(run.joint_names)
    keep = np.array([r.shape == (n,) and np.isfinite(r).all() for r in run.policy_raw], dtype=bool)
    t_cmd = pol.t_ns[keep]
    actions = pol.values[keep]
    i_js = np.searchsorted(js.t_ns, t_cmd, side="right") - 1
    valid = i_js >= 0
    t_cmd, actions, i_js = t_cmd[valid], actions[valid], i_js[valid]
    if len(t_cmd) == 0:
        raise RunContentError(f"{run.path}: no valid policy command after a joint state: nothing to learn from")
    if run.objects is None or not len(run.objects):
        raise RunContentError(f"{run.path}: no /dexsafe/objects messages: rewards cannot be computed")
    obj = run.objects
    i_obj = np.maximum(np.searchsorted(obj.t_ns, t_cmd, side="right") - 1, 0)
    obj_xyz = obj.values[i_obj]
    observations = np.concatenate([js.values[i_js], obj_xyz], axis=1)
    z = obj.values[:, 2::3]
    z_at = z[i_obj]
    z_next = np.vstack([z_at[1:], z[-1:]])
    rewards = np.nanmean(z_next - z_at, axis=1)
    costs = np.zeros(len(t_cmd))
    if len(run.cost):
        bounds = np.append(t_cmd, np.iinfo(np.int64).max)
        idx = np.searchsorted(bounds, run.cost.t_ns, side="right") - 1
        for i, c in zip(idx, run.cost.values[:, 0]):
            if 0 <= i < len(costs) and c > 0:
                costs[i] = 1.0
    solved = bool(np.all(z[-1] - z[0] >= LIFT_HEIGHT))
    terminals = np.zeros(len(t_cmd), dtype=bool)
    timeouts = np.zeros(len(t_cmd), dtype=bool)
    (terminals if solved else timeouts)[-1] = True
    return {"observations": observations.astype(np.float32), "actions": actions.astype(np.float32),
            "rewards": np.nan_to_num(rewards).astype(np.float32), "costs": costs.astype(np.float32),
            "terminals": terminals, "timeouts": timeouts}


def dataset_from_bags(bags: Sequence[str | Path], out: str | Path, topics: TopicMap | None = None) -> dict:
    """Convert ``bags`` (one episode each) into ``out`` (.npz); returns the layout written beside it."""
    parts, sources = [], []
    action_bounds = None
    for bag in bags:
        run = load_run(bag, topics, need=("policy_commands", "joint_states", "objects"))
        part = transitions(run)
        if parts and part["observations"].shape[1] != parts[0]["observations"].shape[1]:
            raise RunContentError(f"{bag}: observation width {part['observations'].shape[1]} differs from "
                                  f"{parts[0]['observations'].shape[1]} of {sources[0]['bag']}")
        parts.append(part)
        if action_bounds is None:
            from dexsafe.evaluation.sim_loop import shield_for

            limits = shield_for(run.info)[1]
            action_bounds = (np.asarray(limits.position_lower).tolist(), np.asarray(limits.position_upper).tolist())
        sources.append({"bag": str(bag), "transitions": len(part["actions"]), "scene": run.info.scene,
                        "seed": run.info.seed, "solved": bool(part["terminals"][-1]),
                        "joint_names": list(run.joint_names), "object_ids": list(run.object_ids)})
    data = {k: np.concatenate([p[k] for p in parts]) for k in KEYS}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix != ".npz":
        out = out.with_suffix(".npz")
    lower, upper = action_bounds
    metadata = {"format": "d4rl", "source": "rosbag", "env_id": f"dexsafe/{sources[0]['scene']}",
                "observation": "joint positions (command order, rad or m) then object x, y, z (world, m)",
                "action": "position targets (command order, rad or m)",
                "reward": "mean object rise to the next transition, m", "cost": "shield cost indicator",
                "action_low": lower, "action_high": upper, "episodes": sources,
                "transitions": int(len(data["actions"]))}
    try:
        from dexsafe.policies.datasets import DatasetError, OfflineDataset
    except ImportError:
        np.savez_compressed(out, metadata=np.array(json.dumps(metadata)), **data)
    else:
        try:
            OfflineDataset(**data, metadata=metadata).save(out)
        except DatasetError as exc:
            raise RunContentError(f"the converted data is not a valid dataset: {exc}") from None
    return metadata
